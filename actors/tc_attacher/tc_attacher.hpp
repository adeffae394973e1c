// The TC attacher: a registry subscriber that hooks the shared TC dispatcher
// (bpf/tc_dispatch.bpf.c) on the host end of every veth of each container
// with its own network namespace, before it acks `added` (so the hooks are
// there before the container's start is released), and unhooks exactly
// those when the last container of that namespace is `removed`.
//
// - Interfaces are keyed by (netns, ifindex) and counted per namespace: two
//   containers of one pod share its interfaces, unhooked when both are gone.
// - Every veth of a namespace is hooked; one that appears later (CNI plumbs
//   a pod after its sandbox was created) is hooked when the port reports a
//   link change, one that vanishes is forgotten.
// - Host-network containers are skipped; `--tc-iface NAME` hooks host
//   interfaces too (as soon as they exist).
// - Errors are per container (a note in `net`, a counter, a log line); the
//   rest keep working.
// - The port (tc_port.hpp) is the kernel: the real one, or a test's script.
//   It goes with the actor: its destructor unhooks whatever is still hooked.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/tc_attacher/tc_port.hpp"
#include "messages/interfaces.hpp"

namespace nw {

struct tc_attacher_config {
  registry_actor registry;
  /// The kernel; the actor becomes its only owner.
  std::unique_ptr<tc_port> port;
  /// Host interfaces to hook as well (`--tc-iface`).
  std::vector<std::string> host_ifaces;
};

/// Starts the port (stale filters removed) and spawns the actor, subscribed
/// to the registry; an error when the port cannot start.
caf::expected<tc_attacher_actor> spawn_tc_attacher(caf::actor_system& sys,
                                                   tc_attacher_config cfg);

} // namespace nw
