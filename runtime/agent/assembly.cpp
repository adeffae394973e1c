#include "runtime/agent/assembly.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "actors/runtime_watcher/runtime_watcher.hpp"
#include "messages/type_ids.hpp"

namespace nw {

void add_nodewatch_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::nodewatch>();
}

graph spawn_graph(caf::actor_system& sys, const graph_options& opts) {
  graph g;
  auto fanout = opts.hold_deadline - std::chrono::milliseconds{250};
  if (fanout < std::chrono::milliseconds{1})
    fanout = std::chrono::milliseconds{1};
  g.registry = spawn_registry(
    sys, registry_config{fanout, std::chrono::seconds{5}, opts.realtime_ns});
  g.node = spawn_node(sys, node_config{g.registry});
  if (opts.print)
    g.printer = spawn_printer(sys, g.registry, opts.fmt, opts.out);
  if (opts.script) {
    g.edge = spawn_scripted_edge(
      sys, scripted_edge_config{opts.script, opts.hold_deadline, opts.on_end});
    g.termination = spawn_termination(sys, g.registry, g.edge);
    runtime_watcher_config wcfg;
    wcfg.edge = g.edge;
    wcfg.registry = g.registry;
    wcfg.host = make_scripted_host(*opts.script);
    wcfg.add_timeout = fanout + std::chrono::milliseconds{150};
    g.watcher = spawn_runtime_watcher(sys, std::move(wcfg));
  }
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
