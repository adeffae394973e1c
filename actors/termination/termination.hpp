// Termination: a registry subscriber that watches each container's init
// process and asks the registry to remove the container when it exits. Two
// sources, whichever sees the exit first: the kernel edge's exit reports (a
// pidfd per init on the real kernel, the script's `exit` records in a
// simulation) and a poller that checks only the watched pids in /proc every
// poll interval, the safety net for what a pidfd cannot cover.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/termination/proc_watch_set.hpp"
#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"

namespace nw {

/// A subscriber that also receives process exits.
using termination_actor = subscriber_actor::extend_with<exit_watcher_actor>;

/// What termination watches with.
struct termination_config {
  registry_actor registry;
  kernel_edge_actor edge;
  /// /proc as the poller reads it.
  std::shared_ptr<const host_view> host;
  /// The host's /proc as a real path, for the poller's handles on watched
  /// processes ("" for none: a scripted host).
  std::string proc_root;
  /// The poller's period; 0 turns it off (a scripted host never changes).
  std::chrono::milliseconds poll_interval{1000};
  /// How long an `added` waits for the edge to place its exit watch before
  /// it is acked anyway (the poller then covers the container).
  std::chrono::milliseconds watch_timeout{1000};
};

/// Spawns the termination watcher and subscribes it to the registry.
termination_actor spawn_termination(caf::actor_system& sys,
                                    termination_config cfg);

} // namespace nw
