# The controller side of many nodes (runtime/agent/controller.hpp): fan-out
# requests, merged event streams, the node list. Included from
# runtime/CMakeLists.txt after the agent's own targets.
# controller.cpp is compiled into nw_agent (the CLI's client uses it);
# nw_controller names it for the tests.
add_library(nw_controller INTERFACE)
target_link_libraries(nw_controller INTERFACE nw_agent)
