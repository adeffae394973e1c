#include "actors/termination/termination.hpp"

#include <map>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

using poll_atom = caf::atom_constant<caf::atom("nw_poll")>;

using termination_impl_actor
  = termination_actor::extend<caf::reacts_to<poll_atom>>;

struct termination_state {
  termination_config cfg;
  /// Watched init processes: (pid, start time) → container id.
  std::map<process_key, std::string> watched;
  /// What the poller checks each tick (the same processes).
  std::unique_ptr<proc_watch_set> procs;
  /// A poll is scheduled.
  bool polling = false;
  /// Watches the edge could not take (no pidfd): the poller alone covers
  /// them.
  uint64_t poller_only = 0;
  static inline const char* name = "nw.termination";
};

using termination_ptr
  = termination_impl_actor::stateful_pointer<termination_state>;

void arm_poller(termination_ptr self) {
  auto& st = self->state;
  if (st.polling || st.watched.empty() || st.cfg.poll_interval.count() == 0)
    return;
  st.polling = true;
  self->delayed_send(self, st.cfg.poll_interval, poll_atom::value);
}

/// The process ended: remove its container (once).
void exited(termination_ptr self, process_key key) {
  auto& st = self->state;
  auto i = st.watched.find(key);
  if (i == st.watched.end())
    return;
  auto id = i->second;
  st.watched.erase(i);
  st.procs->remove(key);
  self->request(st.cfg.registry, caf::infinite, remove_atom::value, id)
    .then([](bool) {},
          [id](caf::error& err) {
            log::warn("removal failed", {{"id", id}, {"error", render(err)}});
          });
}

/// Watches the container's init: with the poller, and with the edge's exit
/// report (a pidfd on a real kernel). `done` runs once the edge has the
/// watch in place (or could not place it, or did not answer in time).
template <class Done>
void watch(termination_ptr self, const container_info& info, Done done) {
  auto& st = self->state;
  if (info.pid == 0) {
    done();
    return;
  }
  process_key key{info.pid, info.start_time};
  st.watched[key] = info.id;
  if (st.cfg.poll_interval.count() != 0 && !st.procs->add(key)) {
    // Gone already (or its pid is another process's): the edge says so
    // too, but nobody need wait for that.
    done();
    exited(self, key);
    return;
  }
  arm_poller(self);
  self
    ->request(st.cfg.edge, st.cfg.watch_timeout, watch_atom::value, info.pid,
              info.start_time, caf::actor_cast<exit_watcher_actor>(self))
    .then(
      [self, done](bool by_edge) mutable {
        if (!by_edge)
          ++self->state.poller_only;
        done();
      },
      [self, done, id = info.id](caf::error& err) mutable {
        // The poller still sees the exit, up to an interval later.
        ++self->state.poller_only;
        log::warn("the kernel edge did not watch a container's init; the "
                  "poller covers it",
                  {{"id", id}, {"error", render(err)}});
        done();
      });
}

/// One poller tick.
void poll(termination_ptr self) {
  auto& st = self->state;
  st.polling = false;
  for (auto& key : st.procs->tick())
    exited(self, key);
  arm_poller(self);
}

termination_impl_actor::behavior_type termination(termination_ptr self,
                                                  termination_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.procs = std::make_unique<proc_watch_set>(st.cfg.host, st.cfg.proc_root);
  self
    ->request(self->state.cfg.registry, caf::infinite, subscribe_atom::value,
              selector{}, caf::actor_cast<subscriber_actor>(self))
    .then(
      [self](const std::vector<container_event>& snapshot) {
        for (auto& ev : snapshot)
          watch(self, *ev.info, [] {});
      },
      [self](caf::error& err) {
        log::error("termination cannot subscribe to the registry",
                   {{"error", render(err)}});
        self->quit(err);
      });
  return {
    [self](event_atom, const container_event& ev) -> caf::result<ack_atom> {
      auto& st = self->state;
      if (ev.kind == event_kind::added) {
        // Acked once the edge has the watch in place (its pidfd checked
        // against the start time), so it exists before the hold on the
        // container's start is released, and a pid reused meanwhile is
        // caught, not trusted.
        auto promise = self->make_response_promise<ack_atom>();
        watch(self, *ev.info,
              [promise]() mutable { promise.deliver(ack_atom::value); });
        return promise;
      }
      if (ev.kind == event_kind::removed) {
        process_key key{ev.info->pid, ev.info->start_time};
        st.watched.erase(key);
        st.procs->remove(key);
        // Gone (whichever path saw it): the edge drops its watch and holds
        // the namespaces for the grace period.
        self->send(st.cfg.edge, unwatch_atom::value, key.first, key.second);
      }
      return ack_atom::value;
    },
    [self](const process_exited& ex) {
      exited(self, {ex.pid, ex.start_time});
    },
    [self](poll_atom) { poll(self); },
  };
}

} // namespace

termination_actor spawn_termination(caf::actor_system& sys,
                                    termination_config cfg) {
  return caf::actor_cast<termination_actor>(
    sys.spawn(termination, std::move(cfg)));
}

} // namespace nw
