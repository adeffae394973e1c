#include "runtime/agent/assembly.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "actors/runtime_watcher/runtime_watcher.hpp"
#include "messages/type_ids.hpp"
#include "runtime/kernel/linux_edge.hpp"

namespace nw {

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
  g.node = spawn_node(sys, node_config{g.registry});
  if (opts.print)
    g.printer = spawn_printer(sys, g.registry, opts.fmt, opts.out);
  std::shared_ptr<const host_view> host;
  auto poll_interval = opts.poll_interval;
  if (opts.script) {
    g.edge = spawn_scripted_edge(
      sys, scripted_edge_config{opts.script, opts.hold_deadline, opts.on_end});
    host = make_scripted_host(*opts.script);
    poll_interval = std::chrono::milliseconds{0}; // a script's /proc is fixed
  } else if (opts.real_kernel) {
    auto edge_cfg = opts.edge;
    edge_cfg.hold_deadline = opts.hold_deadline;
    auto edge = spawn_linux_edge(sys, std::move(edge_cfg));
    if (!edge) {
      g.shutdown();
      return std::move(edge.error());
    }
    g.edge = std::move(*edge);
    host = make_linux_host(opts.edge.host_root);
  } else {
    return g; // registry and facade only
  }
  g.termination = spawn_termination(
    sys, termination_config{g.registry, g.edge, host, poll_interval});
  runtime_watcher_config wcfg;
  wcfg.edge = g.edge;
  wcfg.registry = g.registry;
  wcfg.host = host;
  wcfg.add_timeout = fanout + std::chrono::milliseconds{150};
  g.watcher = spawn_runtime_watcher(sys, std::move(wcfg));
  return g;
}

void graph::play() const {
  if (edge)
    caf::anon_send(edge, play_atom::value, watcher);
}

void graph::shutdown() const {
  auto bye = [](const auto& h) {
    if (h)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  };
  bye(printer);
  bye(watcher);
  bye(termination);
  bye(edge);
  bye(node);
  bye(registry);
}

} // namespace nw
