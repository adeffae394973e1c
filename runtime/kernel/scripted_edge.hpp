// The scripted kernel: plays a scenario's timeline in (virtual or real) time
// and answers actors as the loop thread over the real kernel would — held
// permission events with tokens, a hold deadline as the backstop, pidfile
// and process-exit watches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/scenario.hpp"

namespace nw {

/// The timeline's clock, shared by a scripted edge (which starts it at
/// `play`) and its scripted host (which answers by the time it tells).
class script_clock {
public:
  /// Virtual (or, under `agent --scenario`, real) milliseconds since
  /// `start`; 0 before it.
  uint64_t now_ms() const;

  /// Starts the clock at `clock.now()`; called by the edge at `play`.
  void start(const caf::actor_clock& clock);

private:
  std::atomic<const caf::actor_clock*> clock_{nullptr};
  std::atomic<int64_t> t0_ns_{0};
};

/// Settings of a scripted edge.
struct scripted_edge_config {
  std::shared_ptr<const scenario> script;
  /// The backstop on every held event (CONTRACTS.md: 2000 ms).
  std::chrono::milliseconds hold_deadline{2000};
  /// Called on the edge's thread once the timeline's `end` has played.
  std::function<void()> on_end;
  /// Started at `play`; may be null.
  std::shared_ptr<script_clock> clock;
};

/// Spawns a scripted edge; `play` starts its timeline.
edge_actor spawn_scripted_edge(caf::actor_system& sys,
                               scripted_edge_config cfg);

} // namespace nw
