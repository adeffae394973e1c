// Message tags. Texts are prefixed `nw_` where CAF has an atom of its own
// with the same meaning: an atom's text is its type (same text = same type).
#pragma once

#include <caf/atom.hpp>

namespace nw {

using add_atom = caf::atom_constant<caf::atom("nw_add")>;
using remove_atom = caf::atom_constant<caf::atom("nw_remove")>;
using failed_atom = caf::atom_constant<caf::atom("nw_failed")>;
using get_atom = caf::atom_constant<caf::atom("nw_get")>;
using mntns_atom = caf::atom_constant<caf::atom("nw_mntns")>;
using netns_atom = caf::atom_constant<caf::atom("nw_netns")>;
using list_atom = caf::atom_constant<caf::atom("nw_list")>;
using subscribe_atom = caf::atom_constant<caf::atom("nw_sub")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("nw_unsub")>;
using event_atom = caf::atom_constant<caf::atom("nw_event")>;
using ack_atom = caf::atom_constant<caf::atom("nw_ack")>;
using counters_atom = caf::atom_constant<caf::atom("nw_counter")>;
using net_atom = caf::atom_constant<caf::atom("nw_net")>;
using status_atom = caf::atom_constant<caf::atom("nw_status")>;
using traceloop_atom = caf::atom_constant<caf::atom("nw_tloop")>;
using start_atom = caf::atom_constant<caf::atom("nw_tstart")>;
using stop_atom = caf::atom_constant<caf::atom("nw_tstop")>;

} // namespace nw
