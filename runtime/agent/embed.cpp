// include/nodewatch/embed.hpp: the agent graph in a caller's actor system.
// A thin layer over spawn_graph (runtime/agent/assembly.hpp): it maps the
// public options onto graph_options, keeps the graph behind a pimpl so that
// the public header stays free of actor headers, and stops it synchronously.
#include "nodewatch/embed.hpp"

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/initial_scan/initial_scan.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/log.hpp"

namespace nw::embed {

struct agent::impl {
  caf::actor_system* sys = nullptr;
  graph g;
  bool played = false;
  bool stopped = false;
};

namespace {

/// The CLI's bounds (runtime/agent/main.cpp), so that a host program
/// cannot ask the graph for what `nodewatch agent` would refuse.
constexpr std::chrono::milliseconds min_hold{300};
constexpr std::chrono::milliseconds max_hold{60000};
constexpr uint64_t max_traceloop_mib = uint64_t{1} << 20;

bool absolute(const std::string& path) {
  return !path.empty() && path.front() == '/';
}

} // namespace

void configure(caf::actor_system_config& cfg) {
  add_nodewatch_types(cfg);
}

agent::agent(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

agent::agent(agent&&) noexcept = default;

agent& agent::operator=(agent&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

agent::~agent() {
  stop();
}

const node_actor& agent::node() const noexcept {
  static const node_actor none;
  return impl_ && !impl_->stopped ? impl_->g.node : none;
}

void agent::play() {
  if (!impl_ || impl_->stopped || impl_->played)
    return;
  impl_->played = true;
  impl_->g.play();
}

bool agent::running() const noexcept {
  return impl_ && !impl_->stopped;
}

bool agent::stop(std::chrono::milliseconds timeout) {
  if (!impl_ || impl_->stopped)
    return true;
  impl_->stopped = true;
  auto& g = impl_->g;
  caf::scoped_actor self{*impl_->sys};
  size_t pending = 0;
  auto watch = [&](const auto& h) {
    if (h) {
      self->monitor(h);
      ++pending;
    }
  };
  watch(g.printer);
  watch(g.scan);
  watch(g.watcher);
  watch(g.termination);
  watch(g.containers_map);
  watch(g.tc);
  watch(g.traceloop);
  watch(g.edge);
  watch(g.recorded_edge);
  watch(g.node);
  watch(g.registry);
  g.shutdown();
  // A monitor on an actor that is gone already (the scan, once done) is
  // answered at once, so every handle above yields one down message.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool in_time = true;
  while (pending > 0 && in_time) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      in_time = false;
      break;
    }
    self->receive([&](const caf::down_msg&) { --pending; },
                  caf::after(left) >> [&] { in_time = false; });
  }
  g = graph{};
  if (!in_time)
    log::warn("embedded agent: some actors were still running at the stop "
              "timeout",
              {{"running", std::to_string(pending)}});
  return in_time;
}

caf::expected<agent> start(caf::actor_system& sys, const options& opts) {
  graph_options gopts;
  if (opts.hold_deadline < min_hold || opts.hold_deadline > max_hold)
    return make_error(errc::bad_input,
                      "hold_deadline must be 300 to 60000 ms, not "
                        + std::to_string(opts.hold_deadline.count()));
  gopts.hold_deadline = opts.hold_deadline;
  if (!opts.scenario.empty()) {
    auto script = std::make_shared<scenario>();
    std::string error;
    if (!load_scenario(opts.scenario, *script, error))
      return make_error(errc::bad_input, "cannot load the scenario: " + error);
    gopts.script = std::move(script);
  } else {
    gopts.real_kernel = true;
  }
  if (opts.state_roots) {
    for (auto& root : *opts.state_roots) {
      if (root.empty())
        continue;
      if (!absolute(root))
        return make_error(errc::bad_input,
                          "a state root must be an absolute path: '" + root
                            + "'");
      gopts.state_roots.push_back(root);
    }
  } else if (gopts.script && gopts.script->has_state_roots) {
    gopts.state_roots = gopts.script->state_roots;
  } else {
    gopts.state_roots = default_state_roots();
  }
  if (!opts.pin_path.empty() && !absolute(opts.pin_path))
    return make_error(errc::bad_input, "pin_path must be an absolute path: '"
                                         + opts.pin_path + "'");
  gopts.pin_path = opts.pin_path;
  std::string error;
  if (!parse_traceloop_flag(opts.traceloop, gopts.traceloop, error))
    return make_error(errc::bad_input, "traceloop: " + error);
  if (opts.traceloop_memory_mib < 1
      || opts.traceloop_memory_mib > max_traceloop_mib)
    return make_error(errc::bad_input,
                      "traceloop_memory_mib must be 1 to 1048576, not "
                        + std::to_string(opts.traceloop_memory_mib));
  gopts.traceloop_budget = opts.traceloop_memory_mib << 20;
  gopts.tc = opts.tc;
  gopts.edge.host_root = opts.host_root;
  gopts.edge.runtime_paths = opts.runtime_paths;
  gopts.on_end = [cb = opts.on_scenario_end] {
    log::info("scenario played to its end");
    if (cb)
      cb();
  };
  auto spawned = spawn_graph(sys, gopts);
  if (!spawned)
    return std::move(spawned.error());
  auto x = std::make_unique<agent::impl>();
  x->sys = &sys;
  x->g = std::move(*spawned);
  agent result{std::move(x)};
  if (!opts.paused)
    result.play();
  return result;
}

} // namespace nw::embed
