# The controller side of many nodes (runtime/agent/controller.hpp): fan-out
# requests, merged event streams, the node list. Included from
# runtime/CMakeLists.txt after the agent's own targets.
add_library(nw_controller STATIC ${CMAKE_CURRENT_LIST_DIR}/controller.cpp)
target_link_libraries(nw_controller PUBLIC nw_agent nw_messages CAF::io
                      PRIVATE nlohmann_json::nlohmann_json)
