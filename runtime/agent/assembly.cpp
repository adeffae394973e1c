#include "runtime/agent/assembly.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "actors/runtime_watcher/runtime_watcher.hpp"
#include "actors/tc_attacher/linux_tc_port.hpp"
#include "actors/tc_attacher/tc_attacher.hpp"
#include "actors/traceloop/linux_traceloop_port.hpp"
#include "actors/traceloop/traceloop.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/kernel/containers_map.hpp"
#include "runtime/kernel/libbpf_capture.hpp"
#include "runtime/kernel/linux_edge.hpp"
#include "runtime/kernel/log.hpp"
#include "runtime/kernel/recording_edge.hpp"

namespace nw {

namespace {

/// `uname -r`.
std::string kernel_release() {
  utsname u{};
  if (::uname(&u) != 0)
    return "";
  return u.release;
}

/// This process's mount namespace inode (0 if unreadable): a container
/// found by the scan must not share it.
uint64_t own_mntns() {
  struct stat st {};
  if (::stat("/proc/self/ns/mnt", &st) != 0)
    return 0;
  return st.st_ino;
}

} // namespace

void add_nodewatch_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::nodewatch>();
}

caf::expected<graph> spawn_graph(caf::actor_system& sys,
                                 const graph_options& opts) {
  graph g;
  auto fanout = opts.hold_deadline - std::chrono::milliseconds{250};
  if (fanout < std::chrono::milliseconds{1})
    fanout = std::chrono::milliseconds{1};
  g.registry = spawn_registry(
    sys, registry_config{fanout, std::chrono::seconds{5}, opts.realtime_ns});
  // The facade learns of the TC attacher once it exists (below).
  auto spawn_facade = [&] {
    node_config ncfg;
    ncfg.registry = g.registry;
    ncfg.tc = g.tc;
    ncfg.traceloop = g.traceloop;
    ncfg.version = NW_VERSION;
    ncfg.kernel = kernel_release();
    ncfg.features = {
      {"real_kernel", opts.real_kernel && !opts.script},
      {"scenario", static_cast<bool>(opts.script)},
      {"pidfd", opts.real_kernel && !opts.script && opts.edge.use_pidfd},
      {"containers_map", static_cast<bool>(g.containers_map)},
      {"tc", static_cast<bool>(g.tc)},
      {"traceloop", static_cast<bool>(g.traceloop)},
      {"record", static_cast<bool>(opts.record)},
    };
    auto source = [&](const auto& h) {
      if (h)
        ncfg.sources.push_back(caf::actor_cast<counters_source_actor>(h));
    };
    source(g.registry);
    source(g.edge);
    source(g.containers_map);
    source(g.tc);
    source(g.traceloop);
    g.node = spawn_node(sys, ncfg);
  };
  if (opts.print)
    g.printer = spawn_printer(sys, g.registry, opts.fmt, opts.out);
  std::shared_ptr<const host_view> host;
  auto poll_interval = opts.poll_interval;
  std::string proc_root; // the poller's handles: the real kernel only
  if (opts.script) {
    // The host answers by the timeline's clock (a record's `at_ms`).
    auto clock = std::make_shared<script_clock>();
    g.edge = spawn_scripted_edge(sys, scripted_edge_config{opts.script,
                                                           opts.hold_deadline,
                                                           opts.on_end, clock});
    host
      = make_scripted_host(*opts.script, [clock] { return clock->now_ms(); });
    poll_interval = std::chrono::milliseconds{0}; // a script's /proc is fixed
  } else if (opts.real_kernel) {
    kernel::route_libbpf_to_log();
    auto edge_cfg = opts.edge;
    edge_cfg.hold_deadline = opts.hold_deadline;
    // The roots the start-up scan reads are the ones watched from then on.
    edge_cfg.state_roots = opts.state_roots;
    auto edge = spawn_linux_edge(sys, std::move(edge_cfg));
    if (!edge) {
      g.shutdown();
      return std::move(edge.error());
    }
    g.edge = std::move(*edge);
    host = make_linux_host(opts.edge.host_root);
    proc_root = opts.edge.host_root + "/proc";
  } else {
    spawn_facade();
    return g; // registry and facade only
  }
  if (opts.record) {
    auto rec = spawn_recording_edge(sys, g.edge, host, opts.record);
    g.recorded_edge = std::move(g.edge);
    g.edge = std::move(rec.edge);
    host = std::move(rec.host);
  }
  if (opts.real_kernel && !opts.script && !opts.pin_path.empty()) {
    // Subscribed before the edge plays, like termination: every container
    // the graph registers is in the map before its start is released.
    std::string error;
    auto map = kernel::containers_map::create(opts.pin_path, error);
    if (map) {
      log::info(map->replaced_stale()
                  ? "containers map pinned (a stale pin was replaced)"
                  : "containers map pinned",
                {{"pin", map->pin_path()},
                 {"max_entries", std::to_string(map->max_entries())}});
      g.containers_map = spawn_containers_map(
        sys, containers_map_config{g.registry, std::move(map)});
    } else {
      log::error("running without the containers map: it cannot be created "
                 "or pinned",
                 {{"pin_path", opts.pin_path}, {"error", error}});
    }
  }
  if (opts.real_kernel && !opts.script && opts.tc) {
    // Subscribed before the edge plays: every container's veths are hooked
    // before its start is released.
    linux_tc_port_config pcfg;
    pcfg.host_root = opts.edge.host_root;
    pcfg.program = opts.tc_program;
    auto tc = spawn_tc_attacher(
      sys, tc_attacher_config{g.registry, make_linux_tc_port(std::move(pcfg)),
                              opts.tc_ifaces});
    if (tc) {
      g.tc = std::move(*tc);
    } else {
      log::error("running without TC: the attacher cannot start",
                 {{"error", render(tc.error())}});
    }
  }
  if (opts.real_kernel && !opts.script && opts.traceloop) {
    // Subscribed before the edge plays: a container's ring exists before
    // its start is released, so its first syscalls are recorded.
    auto port = make_linux_traceloop_port();
    std::string error;
    if (port->start(error)) {
      traceloop_config tcfg;
      tcfg.registry = g.registry;
      tcfg.port = std::move(port);
      tcfg.select = opts.traceloop;
      tcfg.budget = opts.traceloop_budget;
      g.traceloop = spawn_traceloop(sys, std::move(tcfg));
    } else {
      log::error("running without traceloop: it cannot start",
                 {{"error", error}});
    }
  }
  spawn_facade();
  g.termination
    = spawn_termination(sys, termination_config{g.registry, g.edge, host,
                                                proc_root, poll_interval});
  runtime_watcher_config wcfg;
  wcfg.edge = g.edge;
  wcfg.registry = g.registry;
  wcfg.host = host;
  wcfg.add_timeout = fanout + std::chrono::milliseconds{150};
  // A script's namespaces are its own; on a real node, ours and pid 1's.
  auto agent_mntns = opts.script ? 0 : own_mntns();
  wcfg.agent_mntns = agent_mntns;
  proc_status init;
  std::string ignored;
  if (host->proc(1, init, ignored))
    wcfg.host_mntns = init.mntns;
  auto add_timeout = wcfg.add_timeout;
  g.watcher = spawn_runtime_watcher(sys, std::move(wcfg));
  if (!opts.state_roots.empty()) {
    initial_scan_config scfg;
    scfg.edge = g.edge;
    scfg.registry = g.registry;
    scfg.host = host;
    scfg.roots = opts.state_roots;
    scfg.add_timeout = add_timeout;
    scfg.agent_mntns = agent_mntns;
    scfg.on_done = opts.on_scan_done;
    g.scan = spawn_initial_scan(sys, std::move(scfg));
  }
  return g;
}

void graph::play() const {
  if (edge)
    caf::anon_send(edge, play_atom::value, watcher);
  // After the edge's `play` (the scan's first request to the edge is
  // answered only once that is in effect): see initial_scan_config::edge.
  if (scan)
    caf::anon_send(scan, scan_atom::value);
}

void graph::shutdown() const {
  auto bye = [](const auto& h) {
    if (h)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  };
  bye(printer);
  bye(scan);
  bye(watcher);
  bye(termination);
  bye(containers_map);
  bye(tc);
  bye(traceloop);
  bye(edge);
  bye(recorded_edge);
  bye(node);
  bye(registry);
}

} // namespace nw
