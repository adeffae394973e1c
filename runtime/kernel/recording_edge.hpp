// `agent --record FILE`: an actor in front of the real kernel edge that
// writes every answer the actors get from the kernel as a scenario
// (record_writer), and a host view that reports each answer it gives to
// that actor. The actor is the file's one owner.
//
// The actors talk to the recorder as their edge. It forwards every request
// to the real edge with itself as the watcher (runtime watcher, pidfile
// watcher, exit watcher), so every event comes back through it: it writes
// it, then hands it to the actor that asked. It keeps the real edge's rules
// the actors rely on: only the watcher that holds a pidfile watch may drop
// it, a dead watcher's watches are dropped, `watch` then `verdict` from one
// sender reach the edge in that order.
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/record_writer.hpp"

namespace nw {

/// The recorder and the host view that reports to it.
struct recording {
  /// What the actors use as their edge.
  edge_actor edge;
  /// `host` with every answer reported to the recorder.
  std::shared_ptr<const host_view> host;
};

/// Spawns the recorder in front of `inner`, writing to `writer` (whose
/// header is written already); `host` is the host view to report on.
/// Times are milliseconds since this call, on the actor clock. The file
/// gets its `end` record when the recorder quits.
recording spawn_recording_edge(caf::actor_system& sys, edge_actor inner,
                               std::shared_ptr<const host_view> host,
                               std::shared_ptr<record_writer> writer);

} // namespace nw
