// The scripted kernel: plays a scenario's timeline in (virtual or real) time
// and answers actors as the loop thread over the real kernel would — held
// permission events with tokens, a hold deadline as the backstop, pidfile
// and process-exit watches.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/scenario.hpp"

namespace nw {

using play_atom = caf::atom_constant<caf::atom("nw_play")>;

/// The scripted edge: the kernel edge, plus `play` to start the timeline
/// (runtime execs go to the given watcher) and its counters.
using scripted_edge_actor = kernel_edge_actor::extend<
  caf::reacts_to<play_atom, runtime_watcher_actor>,
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

/// Settings of a scripted edge.
struct scripted_edge_config {
  std::shared_ptr<const scenario> script;
  /// The backstop on every held event (CONTRACTS.md: 2000 ms).
  std::chrono::milliseconds hold_deadline{2000};
  /// Called on the edge's thread once the timeline's `end` has played.
  std::function<void()> on_end;
};

/// Spawns a scripted edge; it waits for `play`.
scripted_edge_actor spawn_scripted_edge(caf::actor_system& sys,
                                        scripted_edge_config cfg);

} // namespace nw
