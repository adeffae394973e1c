# nw_parsers: the pure, bounded parsers of what an OCI runtime controls (its
# argv, config.json, the pidfile, its state files), shared by the runtime and
# pidfile watchers and the start-up scan.
# Included from actors/CMakeLists.txt; absolute paths, so any includer works.
# NW_PARSERS_SOURCES is also compiled by tests/fuzz/ with fuzzer coverage:
# a cache variable, since a plain one would end with actors/' directory scope
# (and include_guard keeps tests/fuzz from including this file again).
include_guard(GLOBAL)

set(NW_PARSERS_SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/runtime_watcher/runtime_argv.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pidfile_watcher/oci_config.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pidfile_watcher/pidfile.cpp
    ${CMAKE_CURRENT_LIST_DIR}/initial_scan/state_json.cpp
    CACHE INTERNAL "sources of nw_parsers (also built by tests/fuzz)")

add_library(nw_parsers STATIC ${NW_PARSERS_SOURCES})
target_include_directories(nw_parsers PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_compile_features(nw_parsers PUBLIC cxx_std_17)
target_link_libraries(nw_parsers PUBLIC nlohmann_json::nlohmann_json)
