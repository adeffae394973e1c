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

/// Settings of a scripted edge.
struct scripted_edge_config {
  std::shared_ptr<const scenario> script;
  /// The backstop on every held event (CONTRACTS.md: 2000 ms).
  std::chrono::milliseconds hold_deadline{2000};
  /// Called on the edge's thread once the timeline's `end` has played.
  std::function<void()> on_end;
};

/// Spawns a scripted edge; `play` starts its timeline.
edge_actor spawn_scripted_edge(caf::actor_system& sys,
                               scripted_edge_config cfg);

} // namespace nw
