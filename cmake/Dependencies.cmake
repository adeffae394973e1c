# Finds every third-party dependency and exposes it as an imported target.
# Debian 12 ships CAF 0.17.6 without a CMake config or pkg-config file.

find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)

find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)
file(STRINGS ${CAF_INCLUDE_DIR}/caf/config.hpp _caf_version_line
     REGEX "^#define CAF_VERSION [0-9]+")
string(REGEX REPLACE "^#define CAF_VERSION ([0-9]+).*" "\\1" CAF_VERSION
       "${_caf_version_line}")
if(NOT CAF_VERSION EQUAL 1706)
  message(FATAL_ERROR "nodewatch needs CAF 0.17.6 (CAF_VERSION 1706), found "
                      "'${CAF_VERSION}' in ${CAF_INCLUDE_DIR}")
endif()
add_library(CAF::core UNKNOWN IMPORTED)
set_target_properties(CAF::core PROPERTIES
  IMPORTED_LOCATION ${CAF_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(CAF::io UNKNOWN IMPORTED)
set_target_properties(CAF::io PROPERTIES
  IMPORTED_LOCATION ${CAF_IO_LIBRARY}
  INTERFACE_LINK_LIBRARIES CAF::core)
add_library(CAF::openssl UNKNOWN IMPORTED)
set_target_properties(CAF::openssl PROPERTIES
  IMPORTED_LOCATION ${CAF_OPENSSL_LIBRARY}
  INTERFACE_LINK_LIBRARIES "CAF::io;OpenSSL::SSL")

pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)

find_path(MSGPACK_INCLUDE_DIR msgpack.hpp REQUIRED)
add_library(msgpack::cxx INTERFACE IMPORTED)
set_target_properties(msgpack::cxx PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${MSGPACK_INCLUDE_DIR}
  INTERFACE_COMPILE_DEFINITIONS MSGPACK_NO_BOOST)

# libseccomp: syscall names and numbers for traceloop (no CMake config in
# Debian 12's libseccomp-dev 2.5.4).
find_path(SECCOMP_INCLUDE_DIR seccomp.h REQUIRED)
find_library(SECCOMP_LIBRARY seccomp REQUIRED)
add_library(seccomp::seccomp UNKNOWN IMPORTED)
set_target_properties(seccomp::seccomp PROPERTIES
  IMPORTED_LOCATION ${SECCOMP_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${SECCOMP_INCLUDE_DIR})

find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS unit_test_framework)
