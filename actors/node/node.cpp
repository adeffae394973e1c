#include "actors/node/node.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"

namespace nw {

namespace {

using begin_atom = caf::atom_constant<caf::atom("nw_begin")>;

/// One per streaming client: subscribes to the registry as itself, relays
/// the snapshot and then live events to the client's sink, in order (one
/// sender, so the sink's mailbox keeps the order), and acks the registry at
/// once — a slow or distant client never holds a container's start.
using forwarder_actor
  = subscriber_actor::extend<caf::replies_to<begin_atom>::with<uint64_t>>;

struct forwarder_state {
  /// The answer to `start`, until the snapshot is in.
  caf::typed_response_promise<uint64_t> started;
  static inline const char* name = "nw.node.forwarder";
};

forwarder_actor::behavior_type
forwarder(forwarder_actor::stateful_pointer<forwarder_state> self,
          registry_actor registry, selector sel, bool all,
          event_sink_actor sink, std::chrono::milliseconds timeout) {
  self->monitor(sink);
  self->set_down_handler([self](const caf::down_msg&) {
    if (self->state.started.pending())
      self->state.started.deliver(
        make_error(errc::bad_input, "the event sink or the registry is gone"));
    self->quit(caf::exit_reason::user_shutdown);
  });
  // Leave with the registry: nothing more will come.
  self->monitor(registry);
  return {
    [=](begin_atom) -> caf::result<uint64_t> {
      self->state.started = self->make_response_promise<uint64_t>();
      auto me = caf::actor_cast<subscriber_actor>(self);
      self->request(registry, timeout, subscribe_atom::value, sel, me)
        .then(
          [=](std::vector<container_event>& snapshot) mutable {
            uint64_t sent = 0;
            for (auto& ev : snapshot)
              if (all || !ev.info->sandbox) {
                self->send(sink, event_atom::value, std::move(ev));
                ++sent;
              }
            self->state.started.deliver(sent);
          },
          [=](caf::error& err) mutable {
            self->state.started.deliver(std::move(err));
            self->quit(caf::exit_reason::user_shutdown);
          });
      return self->state.started;
    },
    [=](event_atom, container_event& ev) {
      if (all || !ev.info->sandbox)
        self->send(sink, event_atom::value, std::move(ev));
      return ack_atom::value;
    },
  };
}

caf::error no_traceloop() {
  return make_error(errc::bad_input,
                    "this agent runs without traceloop (--traceloop none, a "
                    "scenario, or it could not start: see its log)");
}

struct node_state {
  node_config cfg;
  static inline const char* name = "nw.node";
};

node_actor::behavior_type node(node_actor::stateful_pointer<node_state> self,
                               node_config cfg) {
  self->state.cfg = std::move(cfg);
  self->monitor(self->state.cfg.registry);
  self->set_down_handler([self](const caf::down_msg& dm) {
    if (dm.source == self->state.cfg.registry.address())
      self->quit(dm.reason);
  });
  return {
    [self](list_atom, selector& sel,
           bool all) -> caf::result<std::vector<container_event>> {
      auto promise
        = self->make_response_promise<std::vector<container_event>>();
      auto& cfg = self->state.cfg;
      self->request(cfg.registry, cfg.request_timeout, list_atom::value, sel)
        .then(
          [=](std::vector<container_event>& xs) mutable {
            if (!all)
              xs.erase(
                std::remove_if(xs.begin(), xs.end(),
                               [](auto& ev) { return ev.info->sandbox; }),
                xs.end());
            promise.deliver(std::move(xs));
          },
          [=](caf::error& err) mutable { promise.deliver(std::move(err)); });
      return promise;
    },
    [self](subscribe_atom, selector& sel, bool all,
           event_sink_actor& sink) -> caf::result<uint64_t> {
      if (!sink)
        return make_error(errc::bad_input, "subscribe without a sink");
      auto& cfg = self->state.cfg;
      auto fwd = self->spawn(forwarder, cfg.registry, std::move(sel), all,
                             std::move(sink), cfg.request_timeout);
      return self->delegate(fwd, begin_atom::value);
    },
    [self](get_atom, std::string& query) {
      return self->delegate(self->state.cfg.registry, get_atom::value,
                            std::move(query));
    },
    [self](get_atom, counters_atom) {
      return self->delegate(self->state.cfg.registry, get_atom::value,
                            counters_atom::value);
    },
    [self](status_atom) -> caf::result<node_status> {
      auto& cfg = self->state.cfg;
      node_status st{cfg.version, cfg.kernel, cfg.features, {}};
      if (cfg.sources.empty())
        return st;
      // Every source in parallel; each answer (or error) counts once, and
      // the reply goes when the last is in (each request has a deadline).
      struct gather {
        node_status status;
        size_t pending = 0;
        uint64_t missing = 0;
        caf::typed_response_promise<node_status> promise;
      };
      auto g = std::make_shared<gather>();
      g->status = std::move(st);
      g->pending = cfg.sources.size();
      g->promise = self->make_response_promise<node_status>();
      auto done = [g] {
        if (--g->pending == 0) {
          g->status.counters["status_sources_missing"] = g->missing;
          g->promise.deliver(std::move(g->status));
        }
      };
      for (auto& src : cfg.sources)
        self
          ->request(src, cfg.request_timeout, get_atom::value,
                    counters_atom::value)
          .then(
            [g, done](counters& xs) {
              for (auto& [name, value] : xs)
                g->status.counters[name] += value;
              done();
            },
            [g, done](caf::error&) {
              ++g->missing;
              done();
            });
      return g->promise;
    },
    [self](traceloop_atom a,
           list_atom b) -> caf::result<std::vector<traceloop_ring_info>> {
      if (!self->state.cfg.traceloop)
        return no_traceloop();
      return self->delegate(self->state.cfg.traceloop, a, b);
    },
    [self](traceloop_atom a, get_atom b,
           std::string& query) -> caf::result<traceloop_dump> {
      if (!self->state.cfg.traceloop)
        return no_traceloop();
      return self->delegate(self->state.cfg.traceloop, a, b, std::move(query));
    },
    [self](traceloop_atom a, remove_atom b,
           std::string& query) -> caf::result<traceloop_ring_info> {
      if (!self->state.cfg.traceloop)
        return no_traceloop();
      return self->delegate(self->state.cfg.traceloop, a, b, std::move(query));
    },
    [self](traceloop_atom a, start_atom b,
           selector& sel) -> caf::result<uint64_t> {
      if (!self->state.cfg.traceloop)
        return no_traceloop();
      return self->delegate(self->state.cfg.traceloop, a, b, std::move(sel));
    },
    [self](traceloop_atom a, stop_atom b) -> caf::result<uint64_t> {
      if (!self->state.cfg.traceloop)
        return no_traceloop();
      return self->delegate(self->state.cfg.traceloop, a, b);
    },
    [self](net_atom, selector& sel,
           bool all) -> caf::result<std::vector<net_stats>> {
      auto& cfg = self->state.cfg;
      if (!cfg.tc)
        return make_error(errc::bad_input,
                          "this agent runs without TC (--no-tc, a scenario, "
                          "or the TC attacher could not start: see its log): "
                          "no network counters");
      auto promise = self->make_response_promise<std::vector<net_stats>>();
      // The registry says which containers match; the attacher has the
      // counters of those it tracks.
      self->request(cfg.registry, cfg.request_timeout, list_atom::value, sel)
        .then(
          [=](std::vector<container_event>& xs) mutable {
            auto& cfg = self->state.cfg;
            self->request(cfg.tc, cfg.request_timeout, net_atom::value)
              .then(
                [=](std::vector<net_stats>& stats) mutable {
                  std::vector<net_stats> out;
                  auto it = stats.begin();
                  for (auto& ev : xs) { // both in id order
                    auto& c = *ev.info;
                    if (c.sandbox && !all)
                      continue;
                    while (it != stats.end() && it->id < c.id)
                      ++it;
                    if (it != stats.end() && it->id == c.id) {
                      out.push_back(*it);
                    } else {
                      net_stats row;
                      row.id = c.id;
                      row.name = c.name;
                      row.netns = c.netns;
                      row.note = "not tracked by the TC attacher";
                      out.push_back(std::move(row));
                    }
                  }
                  promise.deliver(std::move(out));
                },
                [=](caf::error& err) mutable {
                  promise.deliver(std::move(err));
                });
          },
          [=](caf::error& err) mutable { promise.deliver(std::move(err)); });
      return promise;
    },
  };
}

} // namespace

node_actor spawn_node(caf::actor_system& sys, node_config cfg) {
  return sys.spawn(node, std::move(cfg));
}

} // namespace nw
