# The BPF build pipeline: vmlinux.h from the running kernel's BTF, then per
# program `clang -target bpf` -> `bpftool gen object` -> `bpftool gen skeleton`.
# Everything it produces lands in ${CMAKE_BINARY_DIR}/bpf and is never
# committed (.gitignore has *.skel.h and vmlinux.h).
#
# Needs PkgConfig::LIBBPF and LIBBPF_INCLUDEDIR from Dependencies.cmake.

find_program(NW_BPF_CLANG NAMES clang clang-14
             DOC "clang with the BPF target, for bpf/*.bpf.c")
if(NOT NW_BPF_CLANG)
  message(FATAL_ERROR "clang not found: the BPF programs in bpf/ are built with "
                      "clang -target bpf; install the Debian package 'clang' "
                      "(or set NW_BPF_CLANG)")
endif()

# bpftool lives in /usr/sbin on Debian, which is not on a normal user's PATH.
find_program(NW_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin /sbin
             DOC "bpftool, for vmlinux.h and the skeletons")
if(NOT NW_BPFTOOL)
  message(FATAL_ERROR "bpftool not found: it generates vmlinux.h and the BPF "
                      "skeletons; install the Debian package 'bpftool' "
                      "(or set NW_BPFTOOL)")
endif()

set(NW_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH
    "Kernel BTF that vmlinux.h is generated from")
if(NOT EXISTS ${NW_VMLINUX_BTF})
  message(FATAL_ERROR "no kernel BTF at ${NW_VMLINUX_BTF} (the kernel needs "
                      "CONFIG_DEBUG_INFO_BTF=y); set NW_VMLINUX_BTF to a BTF "
                      "file for the target kernel")
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(NW_BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(NW_BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "no __TARGET_ARCH_ mapping for '${CMAKE_SYSTEM_PROCESSOR}' "
                      "in cmake/Bpf.cmake")
endif()

set(NW_BPF_OUTPUT_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${NW_BPF_OUTPUT_DIR})

# vmlinux.h is written through a temporary and copied only if it changed:
# CMake's Ninja rules for custom commands use restat, so an unchanged kernel
# (e.g. sysfs giving the BTF file a new mtime after a reboot) rebuilds nothing
# downstream.
set(NW_VMLINUX_H ${NW_BPF_OUTPUT_DIR}/vmlinux.h)
add_custom_command(
  OUTPUT ${NW_VMLINUX_H}
  COMMAND ${NW_BPFTOOL} btf dump file ${NW_VMLINUX_BTF} format c
          > ${NW_VMLINUX_H}.tmp
  COMMAND ${CMAKE_COMMAND} -E copy_if_different ${NW_VMLINUX_H}.tmp
          ${NW_VMLINUX_H}
  COMMAND ${CMAKE_COMMAND} -E remove ${NW_VMLINUX_H}.tmp
  DEPENDS ${NW_VMLINUX_BTF}
  COMMENT "Generating bpf/vmlinux.h from ${NW_VMLINUX_BTF}"
  VERBATIM)
add_custom_target(nw_bpf_vmlinux DEPENDS ${NW_VMLINUX_H})

# nw_bpf_skeleton(NAME)
# Builds NAME.bpf.c (relative to the calling CMakeLists.txt: bpf/, or an
# example under docs/examples/) into
# ${CMAKE_BINARY_DIR}/bpf/NAME.skel.h and defines the INTERFACE target
# nw_bpf_NAME: link it to get the skeleton, the shared headers of bpf/ and
# libbpf. The skeleton's struct is NAME_bpf (bpftool names it after the object).
function(nw_bpf_skeleton name)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${name}.bpf.c)
  set(out ${NW_BPF_OUTPUT_DIR})
  set(raw_obj ${out}/${name}.tmp.bpf.o)
  set(obj ${out}/${name}.bpf.o)
  set(skel ${out}/${name}.skel.h)
  if(NOT EXISTS ${src})
    message(FATAL_ERROR "nw_bpf_skeleton(${name}): no ${src}")
  endif()

  # The depfile makes any header the program includes (the shared bpf/*.h,
  # vmlinux.h, libbpf's) retrigger the build.
  add_custom_command(
    OUTPUT ${raw_obj}
    COMMAND ${NW_BPF_CLANG} -g -O2 -target bpf
            -D__TARGET_ARCH_${NW_BPF_TARGET_ARCH}
            -Wall -Wextra -Werror
            -I${out} -I${CMAKE_CURRENT_SOURCE_DIR} -I${PROJECT_SOURCE_DIR}/bpf
            -I${LIBBPF_INCLUDEDIR}
            -MD -MF ${raw_obj}.d
            -c ${src} -o ${raw_obj}
    DEPENDS ${src} ${NW_VMLINUX_H} nw_bpf_vmlinux
    DEPFILE ${raw_obj}.d
    COMMENT "Compiling BPF program ${name}.bpf.c"
    VERBATIM)

  # gen object runs libbpf's static linker over the object (catching what it
  # would reject at load time) and drops the DWARF the skeleton does not need.
  # The skeleton goes through a temporary so a failed run leaves no header.
  add_custom_command(
    OUTPUT ${obj} ${skel}
    COMMAND ${NW_BPFTOOL} gen object ${obj} ${raw_obj}
    COMMAND ${NW_BPFTOOL} gen skeleton ${obj} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${raw_obj}
    COMMENT "Generating BPF skeleton ${name}.skel.h"
    VERBATIM)

  add_custom_target(nw_bpf_${name}_skel DEPENDS ${skel})
  add_library(nw_bpf_${name} INTERFACE)
  target_include_directories(nw_bpf_${name} INTERFACE
                             ${out} ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(nw_bpf_${name} INTERFACE PkgConfig::LIBBPF)
  # Since CMake 3.19 a dependency of an INTERFACE library is followed by its
  # consumers: their sources compile only once the skeleton exists.
  add_dependencies(nw_bpf_${name} nw_bpf_${name}_skel)
endfunction()
