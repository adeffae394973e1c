// The runtime watcher: told of every exec of an OCI runtime (runc, crun,
// conmon) by its kernel edge, it reads what the runtime is about to do from
// its argv and starts a pidfile watcher for each `create`. Told of each
// container's state appearing in a runtime state root, it hands that to the
// create's pidfile watcher, or, with no create seen (a bare `runc run`),
// registers the container from its state directory, not held.
#pragma once

#include <chrono>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"

namespace nw {

/// What a runtime watcher and its pidfile watchers need.
struct runtime_watcher_config {
  kernel_edge_actor edge;
  registry_actor registry;
  std::shared_ptr<const host_view> host;
  /// How long the registry may take to acknowledge an add (its fan-out
  /// deadline plus a margin); the edge's hold deadline is the backstop.
  std::chrono::milliseconds add_timeout{1900};
  /// A pidfile watch that sees no read in this time is dropped (15 s).
  std::chrono::milliseconds pending_timeout{15000};
  /// Mount namespaces no container has: pid 1's and the agent's (0 when
  /// unknown), for containers read from their state directory.
  uint64_t host_mntns = 0;
  uint64_t agent_mntns = 0;
};

/// Spawns a runtime watcher.
runtime_watcher_actor spawn_runtime_watcher(caf::actor_system& sys,
                                            runtime_watcher_config cfg);

} // namespace nw
