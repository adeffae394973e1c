// The one place nodewatch's message types are registered with CAF. Both ends
// of a remote connection must register the same names:
//   cfg.add_message_types<caf::id_block::nodewatch>();
#pragma once

#include <caf/type_id.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(nodewatch, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(nodewatch, (nw::k8s_meta))
CAF_ADD_TYPE_ID(nodewatch, (nw::container_info))
CAF_ADD_TYPE_ID(nodewatch, (nw::container_event))
CAF_ADD_TYPE_ID(nodewatch, (nw::add_result))
CAF_ADD_TYPE_ID(nodewatch, (nw::selector))
CAF_ADD_TYPE_ID(nodewatch, (nw::selector_clause))
CAF_ADD_TYPE_ID(nodewatch, (std::vector<nw::container_info>))
CAF_ADD_TYPE_ID(nodewatch, (std::vector<nw::container_event>))
CAF_ADD_TYPE_ID(nodewatch, (nw::counters))
CAF_ADD_TYPE_ID(nodewatch, (nw::subscriber_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::registry_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::event_sink_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::node_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::runtime_exec))
CAF_ADD_TYPE_ID(nodewatch, (nw::pidfile_read))
CAF_ADD_TYPE_ID(nodewatch, (nw::process_exited))
CAF_ADD_TYPE_ID(nodewatch, (nw::state_appeared))
CAF_ADD_TYPE_ID(nodewatch, (nw::runtime_watcher_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::pidfile_watcher_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::exit_watcher_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::kernel_edge_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::net_stats))
CAF_ADD_TYPE_ID(nodewatch, (std::vector<nw::net_stats>))
CAF_ADD_TYPE_ID(nodewatch, (nw::tc_attacher_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::syscall_param))
CAF_ADD_TYPE_ID(nodewatch, (nw::syscall_line))
CAF_ADD_TYPE_ID(nodewatch, (nw::traceloop_ring_info))
CAF_ADD_TYPE_ID(nodewatch, (std::vector<nw::traceloop_ring_info>))
CAF_ADD_TYPE_ID(nodewatch, (nw::traceloop_dump))
CAF_ADD_TYPE_ID(nodewatch, (nw::traceloop_actor))
CAF_ADD_TYPE_ID(nodewatch, (nw::node_status))
CAF_ADD_TYPE_ID(nodewatch, (nw::counters_source_actor))

CAF_END_TYPE_ID_BLOCK(nodewatch)
