// The runtime watcher: told of every exec of an OCI runtime (runc, crun,
// conmon) by its kernel edge, it reads what the runtime is about to do from
// its argv and starts a pidfile watcher for each `create`.
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
};

/// Spawns a runtime watcher.
runtime_watcher_actor spawn_runtime_watcher(caf::actor_system& sys,
                                            runtime_watcher_config cfg);

} // namespace nw
