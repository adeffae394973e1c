// nodewatch as a library: the whole agent graph (registry, detection,
// termination, containers map, TC, traceloop, node facade) spawned into a
// caller's caf::actor_system. A host program talks to it through the node
// facade, `nw::node_actor` (messages/interfaces.hpp), with the same typed
// requests a remote controller sends. See docs/embedding.md.
//
//   caf::actor_system_config cfg;
//   nw::embed::configure(cfg);
//   caf::actor_system sys{cfg};
//   nw::embed::options opts;
//   opts.scenario = "docs/scenarios/demo.jsonl"; // empty: the real kernel
//   auto agent = nw::embed::start(sys, opts);
//   if (!agent) { /* nw::render(agent.error()) says why */ }
//   nw::node_actor node = agent->node();
//   ...
//   agent->stop(); // before `sys` is destroyed
//
// Stable: the names in this header and their meaning. The vocabulary the
// facade speaks (messages/) grows by addition; CONTRACTS.md governs it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

namespace nw::embed {

/// Registers nodewatch's message types with `cfg` (its type-ID block,
/// `caf::id_block::nodewatch`). Call once, before the actor system is
/// constructed. Nothing else is loaded or changed: the scheduler, the
/// middleman (only needed to publish the facade yourself) and logging stay
/// the caller's.
void configure(caf::actor_system_config& cfg);

/// What to run. The defaults are the agent's (CONTRACTS.md, "Defaults").
struct options {
  // -- the kernel -------------------------------------------------------------

  /// A scenario file (docs/scenario-format.md, JSON lines or msgpack) played
  /// in real time by a scripted kernel: runs anywhere, no root. Empty: the
  /// real kernel (root; fanotify, BPF and netlink).
  std::string scenario;
  /// The host's `/` as this process sees it (`agent --host-root`); empty:
  /// ours. Real kernel only.
  std::string host_root;
  /// Runtime binaries watched besides the usual runc, crun and conmon
  /// paths, as host paths (`agent --runtime-path`). Real kernel only.
  std::vector<std::string> runtime_paths;
  /// The runtimes' state roots searched at start and watched for bare
  /// `runc run`s (`agent --state-root`); nullopt: the agent's defaults (or
  /// a recorded scenario's own); empty: no scan.
  std::optional<std::vector<std::string>> state_roots;

  // -- the hold ---------------------------------------------------------------

  /// The longest hold on a container's start (`agent --hold-deadline`,
  /// 300 to 60000 ms).
  std::chrono::milliseconds hold_deadline{2000};

  // -- features (real kernel only; ignored with a scenario) -------------------

  /// Pin the containers map at `pin_path`/containers; empty: no map.
  std::string pin_path = "/sys/fs/bpf/nodewatch";
  /// Hook every container's host-side veths with the TC counters program.
  bool tc = true;
  /// Which containers get a traceloop ring: "all", "none" or a SELECTOR
  /// (`key=v1,v2;key2=!v3`), as `agent --traceloop`.
  std::string traceloop = "all";
  /// What all traceloop rings may pin, in MiB (1 to 1048576).
  uint64_t traceloop_memory_mib = 256;

  // -- starting ---------------------------------------------------------------

  /// Leave the graph spawned but not playing: the kernel edge allows every
  /// runtime exec unseen and a scenario's timeline waits, until
  /// `agent::play()`. Subscribe first, then play, to miss nothing.
  bool paused = false;
  /// Called once a scenario's timeline has played to its `end` record, on
  /// an actor's thread: keep it short, never block in it.
  std::function<void()> on_scenario_end;
};

/// A running agent graph. Move-only; destroying it stops the graph.
class agent {
public:
  agent(agent&&) noexcept;
  agent& operator=(agent&&) noexcept;
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  /// Calls stop().
  ~agent();

  /// The node facade: list, subscribe, get, status, net, traceloop
  /// (messages/interfaces.hpp). Null once stopped.
  const node_actor& node() const noexcept;

  /// Starts the kernel edge (a scenario's timeline; the real edge's
  /// hand-over of runtime execs), then the start-up scan. start() calls it
  /// unless `options::paused`; a second call does nothing.
  void play();

  /// Asks every actor of the graph to quit and waits (up to `timeout`) until
  /// they have: fanotify groups closed (pending starts allowed), TC filters
  /// and the containers map's pin removed, traceloop rings freed. Call it
  /// from a thread that is not one of the actor system's (it blocks), and
  /// before the actor system is destroyed. False if some actor was still
  /// running at the timeout. Idempotent.
  bool stop(std::chrono::milliseconds timeout = std::chrono::seconds{10});

  /// Whether stop() has not been called yet.
  bool running() const noexcept;

  /// Implementation detail.
  struct impl;

private:
  explicit agent(std::unique_ptr<impl> x);
  friend caf::expected<agent> start(caf::actor_system& sys,
                                    const options& opts);

  std::unique_ptr<impl> impl_;
};

/// Spawns the agent graph into `sys` (configured with configure()). Errors:
/// `bad_input` for options that do not parse (a scenario file, a traceloop
/// selector, a relative path, a value out of range), `kernel_refused` when
/// the real kernel edge cannot start (not root, fanotify refused, no runtime
/// binary to watch); nothing is left running then. Features that cannot
/// start (the map, TC, traceloop) are logged and left out, as the agent
/// does; `status` (its `features`) says which run.
caf::expected<agent> start(caf::actor_system& sys, const options& opts);

} // namespace nw::embed
