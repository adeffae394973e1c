// Who spawns whom: the actor graph of one agent, the same for a real node,
// `agent --scenario` and `simulate`.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/containers_map/containers_map.hpp"
#include "actors/initial_scan/initial_scan.hpp"
#include "actors/termination/termination.hpp"
#include "messages/interfaces.hpp"
#include "runtime/agent/printer.hpp"
#include "runtime/kernel/linux_edge.hpp"
#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"
#include "runtime/kernel/scripted_edge.hpp"

namespace nw {

/// What to assemble.
struct graph_options {
  /// The scripted kernel; when null, the real one if `real_kernel`, else no
  /// kernel edge at all (registry and facade only).
  std::shared_ptr<const scenario> script;
  bool real_kernel = false;
  /// The real kernel edge's settings (its hold deadline is `hold_deadline`).
  linux_edge_config edge;
  /// The /proc termination poller's period (the real kernel only).
  std::chrono::milliseconds poll_interval{1000};
  /// The backstop on every held event (CONTRACTS.md: 2000 ms).
  std::chrono::milliseconds hold_deadline{2000};
  /// Realtime for events; empty = the system clock.
  std::function<uint64_t()> realtime_ns;
  /// Print every event (`agent`, `simulate`) to `out` in `fmt`.
  bool print = false;
  output_format fmt = output_format::table;
  line_sink out;
  /// Called once the scenario's timeline has played.
  std::function<void()> on_end;
  /// The runtimes' state roots the start-up scan reads once the edge
  /// plays (`agent`: --state-root, default default_state_roots()); empty:
  /// no scan. Read through the host view: the real host under the host
  /// root, or the scenario's `dir` and `file` records.
  std::vector<std::string> state_roots;
  /// Called with the scan's counters once it is done.
  std::function<void(const counters&)> on_scan_done;
  /// `agent --record`: write every answer the actors
  /// get from the kernel edge and the host view here (its header written
  /// already), through a recorder in front of the edge
  /// (runtime/kernel/recording_edge.hpp). Works on either edge (a script
  /// re-recorded is how tests check it without root). Null: no recording.
  std::shared_ptr<record_writer> record;
  /// `agent --pin-path DIR`: create the containers map and pin it at
  /// DIR/containers (the real kernel only). Empty: no map. A map that
  /// cannot be created or pinned is logged and left out; the graph runs.
  std::string pin_path;
  /// `agent --tc` (on by default there; off here, so that graphs in tests
  /// attach nothing unless they say so): spawn the TC attacher, which hooks
  /// every container's host-side veths (the real kernel only). A TC
  /// attacher that cannot start is logged and left out; the graph runs.
  bool tc = false;
  /// `--tc-iface NAME` (repeatable): host interfaces hooked too.
  std::vector<std::string> tc_ifaces;
  /// `--tc-program FILE.o:SECTION`: the program in the dispatcher's slot
  /// instead of the per-container counters. Empty: the counters.
  std::string tc_program;
  /// `agent --traceloop all|none|SELECTOR`: which containers get a syscall
  /// ring from the start (the real kernel only; sandboxes never). nullopt
  /// (here the default, so that graphs in tests trace nothing unless they
  /// say so; `agent` defaults to all): no traceloop actor at all. A
  /// traceloop that cannot start is logged and left out; the graph runs.
  std::optional<selector> traceloop;
  /// `--traceloop-memory MIB`, in bytes.
  uint64_t traceloop_budget = uint64_t{256} << 20;
};

/// The spawned graph.
struct graph {
  registry_actor registry;
  node_actor node;
  /// The edge the actors use: the kernel edge, or the recorder in front
  /// of it.
  edge_actor edge;
  /// The real kernel edge behind the recorder (null without recording).
  edge_actor recorded_edge;
  runtime_watcher_actor watcher;
  termination_actor termination;
  subscriber_actor printer;
  /// The containers map (null without a pin path, or if the map could not
  /// be created or pinned).
  containers_map_actor containers_map;
  /// The TC attacher (null without `tc`, or if it could not start).
  tc_attacher_actor tc;
  /// The traceloop actor (null without `traceloop`, or if it could not
  /// start).
  traceloop_actor traceloop;
  /// The start-up scan (null without state roots); it quits when done.
  initial_scan_actor scan;

  /// Starts the edge (a scenario's timeline, the real edge's hand-over of
  /// runtime execs), then the start-up scan, in that order.
  void play() const;

  /// Asks every actor of the graph to quit.
  void shutdown() const;
};

/// Spawns the graph into `sys`; an error if the real kernel edge cannot
/// start (nothing is left running then).
caf::expected<graph> spawn_graph(caf::actor_system& sys,
                                 const graph_options& opts);

/// Registers nodewatch's types (and nothing else) with a CAF config.
void add_nodewatch_types(caf::actor_system_config& cfg);

} // namespace nw
