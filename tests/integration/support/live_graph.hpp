// The agent graph on the real kernel, in process, with a subscriber that
// tallies what it sees: for tests that need a real agent but not the
// before-the-entrypoint probe of agent_harness.hpp.
//
//   nw::graph_options opts;                  // real_kernel is set for you
//   opts.edge.use_pidfd = false;
//   nw::test::live_graph agent{opts};        // spawned, subscribed, played
//   auto ev = agent.seen().wait(nw::event_kind::added, id, 5s);
//   auto c = agent.edge_counters();
//   caf::scoped_actor self{agent.system()};  // ask agent.handles().node
//
// Every wait has a deadline; the destructor stops the graph.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"

namespace nw::test {

/// The events a subscriber saw, by kind and container id.
class event_tally {
public:
  void push(const container_event& ev) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      events_.emplace(std::make_pair(ev.kind, ev.info->id), ev);
    }
    cv_.notify_all();
  }

  /// The first `kind` event for `id`, waiting at most `limit`.
  std::optional<container_event> wait(event_kind kind, const std::string& id,
                                      std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mx_};
    auto key = std::make_pair(kind, id);
    cv_.wait_for(lock, limit, [&] { return events_.count(key) != 0; });
    auto i = events_.find(key);
    if (i == events_.end())
      return std::nullopt;
    return i->second;
  }

  /// How many events `id` got so far.
  size_t count(const std::string& id) {
    std::lock_guard<std::mutex> guard{mx_};
    size_t n = 0;
    for (auto& entry : events_)
      n += entry.first.second == id ? 1 : 0;
    return n;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::multimap<std::pair<event_kind, std::string>, container_event> events_;
};

class live_graph {
public:
  /// Spawns the graph on the real kernel, subscribes the tally and plays;
  /// returns once `play` is in effect on the edge. Throws on failure.
  explicit live_graph(graph_options opts) : sys_(config(cfg_)) {
    opts.real_kernel = true;
    auto g = spawn_graph(sys_, opts);
    if (!g)
      throw std::runtime_error{"the agent graph did not start: "
                               + render(g.error())};
    g_ = *g;
    sub_ = caf::actor_cast<subscriber_actor>(sys_.spawn(tally_actor, seen_));
    caf::scoped_actor self{sys_};
    std::string error;
    self
      ->request(g_.registry, std::chrono::seconds{10}, subscribe_atom::value,
                selector{}, sub_)
      .receive([](const std::vector<container_event>&) {},
               [&](caf::error& err) { error = render(err); });
    g_.play();
    if (error.empty())
      edge_counters(); // answered once `play` is in effect
    if (!error.empty()) {
      stop();
      throw std::runtime_error{"cannot subscribe: " + error};
    }
  }

  live_graph(const live_graph&) = delete;
  live_graph& operator=(const live_graph&) = delete;

  ~live_graph() {
    stop();
  }

  event_tally& seen() {
    return *seen_;
  }

  /// The spawned graph's handles (the node facade, traceloop, ...), to ask
  /// them directly.
  const graph& handles() const {
    return g_;
  }

  /// The actor system the graph runs in (for scoped actors).
  caf::actor_system& system() {
    return sys_;
  }

  /// The edge's counters (empty if it does not answer within 10 s).
  counters edge_counters() {
    counters out;
    caf::scoped_actor self{sys_};
    self
      ->request(g_.edge, std::chrono::seconds{10}, get_atom::value,
                counters_atom::value)
      .receive([&](counters& c) { out = std::move(c); }, [](caf::error&) {});
    return out;
  }

private:
  static caf::actor_system_config& config(caf::actor_system_config& cfg) {
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    add_nodewatch_types(cfg);
    return cfg;
  }

  static subscriber_actor::behavior_type
  tally_actor(std::shared_ptr<event_tally> t) {
    return {
      [t](event_atom, const container_event& ev) {
        t->push(ev);
        return ack_atom::value;
      },
    };
  }

  void stop() {
    caf::anon_send_exit(sub_, caf::exit_reason::user_shutdown);
    g_.shutdown();
  }

  std::shared_ptr<event_tally> seen_ = std::make_shared<event_tally>();
  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  graph g_;
  subscriber_actor sub_;
};

} // namespace nw::test
