#include "runtime/kernel/scripted_edge.hpp"

#include <map>

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

using step_atom = caf::atom_constant<caf::atom("nw_step")>;
using deadline_atom = caf::atom_constant<caf::atom("nw_deadln")>;

using edge_impl_actor
  = edge_actor::extend<caf::reacts_to<step_atom, uint64_t>,
                       caf::reacts_to<deadline_atom, uint64_t>>;

struct edge_state {
  scripted_edge_config cfg;
  runtime_watcher_actor watcher;
  caf::actor_clock::time_point t0;
  uint64_t next_token = 1;
  /// Held events not answered yet, by token.
  std::map<uint64_t, caf::actor_clock::time_point> held;
  std::map<std::string, pidfile_watcher_actor> pidfile_watches;
  std::multimap<uint32_t, std::pair<uint64_t, exit_watcher_actor>> pid_watches;
  counters stats{{"edge_held", 0},
                 {"edge_allowed", 0},
                 {"edge_hold_deadline_expired", 0},
                 {"edge_pidfile_reads_unwatched", 0},
                 {"edge_exits_delivered", 0},
                 {"edge_allowed_at_read", 0}};

  static inline const char* name = "nw.scripted_edge";
};

using edge_ptr = edge_impl_actor::stateful_pointer<edge_state>;

uint64_t hold(edge_ptr self) {
  auto& st = self->state;
  auto token = st.next_token++;
  st.held.emplace(token, self->clock().now());
  ++st.stats["edge_held"];
  self->delayed_send(self, st.cfg.hold_deadline, deadline_atom::value, token);
  return token;
}

void schedule(edge_ptr self, uint64_t index) {
  auto& st = self->state;
  if (index >= st.cfg.script->timeline.size())
    return;
  auto due
    = st.t0 + std::chrono::milliseconds{st.cfg.script->timeline[index].at_ms};
  auto now = self->clock().now();
  if (due <= now)
    self->send(self, step_atom::value, index);
  else
    self->delayed_send(self, due - now, step_atom::value, index);
}

void play(edge_ptr self, const scenario_step& step) {
  auto& st = self->state;
  switch (step.what) {
    case scenario_step::kind::exec: {
      auto ev = step.exec;
      if (may_be_create(ev.argv))
        ev.token = hold(self);
      else
        ++st.stats["edge_allowed_at_read"]; // as the real edge does
      self->send(st.watcher, std::move(ev));
      break;
    }
    case scenario_step::kind::pidfile_read: {
      auto i = st.pidfile_watches.find(step.pidfile.path);
      if (i == st.pidfile_watches.end()) {
        // Nobody watches it: allowed at once, as the loop thread does.
        ++st.stats["edge_pidfile_reads_unwatched"];
        break;
      }
      auto ev = step.pidfile;
      ev.token = hold(self);
      self->send(i->second, std::move(ev));
      break;
    }
    case scenario_step::kind::exit: {
      auto [first, last] = st.pid_watches.equal_range(step.exit.pid);
      for (auto i = first; i != last;) {
        auto [start_time, watcher] = i->second;
        // A start time in the record names one incarnation of the pid.
        if (step.exit.start_time != 0 && start_time != step.exit.start_time) {
          ++i;
          continue;
        }
        self->send(watcher, process_exited{step.exit.pid, start_time});
        ++st.stats["edge_exits_delivered"];
        i = st.pid_watches.erase(i);
      }
      break;
    }
    case scenario_step::kind::state:
      // To the runtime watcher, in order with the execs.
      self->send(st.watcher, step.state);
      break;
    case scenario_step::kind::end:
      if (st.cfg.on_end)
        st.cfg.on_end();
      break;
  }
}

edge_impl_actor::behavior_type edge(edge_ptr self, scripted_edge_config cfg) {
  self->state.cfg = std::move(cfg);
  return {
    [self](play_atom, runtime_watcher_actor& watcher) {
      auto& st = self->state;
      st.watcher = std::move(watcher);
      st.t0 = self->clock().now();
      if (st.cfg.clock)
        st.cfg.clock->start(self->clock());
      schedule(self, 0);
    },
    [self](step_atom, uint64_t index) {
      play(self, self->state.cfg.script->timeline[index]);
      schedule(self, index + 1);
    },
    [self](verdict_atom, uint64_t token) {
      if (self->state.held.erase(token) > 0)
        ++self->state.stats["edge_allowed"];
    },
    [self](deadline_atom, uint64_t token) {
      if (self->state.held.erase(token) > 0) {
        ++self->state.stats["edge_hold_deadline_expired"];
        log::warn("hold deadline expired; allowed by the backstop",
                  {{"token", std::to_string(token)}});
      }
    },
    [self](watch_atom, std::string& path, pidfile_watcher_actor& watcher) {
      self->state.pidfile_watches[std::move(path)] = std::move(watcher);
    },
    [self](unwatch_atom, const std::string& path) {
      // Only the watcher that holds the watch may drop it: a later create
      // of the same id may have taken the path over.
      auto& watches = self->state.pidfile_watches;
      auto i = watches.find(path);
      if (i != watches.end()
          && i->second.address()
               == caf::actor_cast<caf::actor_addr>(self->current_sender()))
        watches.erase(i);
    },
    [self](watch_atom, uint32_t pid, uint64_t start_time,
           exit_watcher_actor& watcher) {
      self->state.pid_watches.emplace(
        pid, std::make_pair(start_time, std::move(watcher)));
      return true; // the script's `exit` records report it
    },
    [self](unwatch_atom, uint32_t pid, uint64_t start_time) {
      auto& watches = self->state.pid_watches;
      auto range = watches.equal_range(pid);
      for (auto i = range.first; i != range.second;) {
        if (i->second.first == start_time)
          i = watches.erase(i);
        else
          ++i;
      }
    },
    [self](get_atom, counters_atom) { return self->state.stats; },
  };
}

} // namespace

uint64_t script_clock::now_ms() const {
  auto clock = clock_.load(std::memory_order_acquire);
  if (clock == nullptr)
    return 0;
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock->now().time_since_epoch())
               .count();
  auto elapsed = now - t0_ns_.load(std::memory_order_relaxed);
  return elapsed <= 0 ? 0 : static_cast<uint64_t>(elapsed / 1'000'000);
}

void script_clock::start(const caf::actor_clock& clock) {
  t0_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                 clock.now().time_since_epoch())
                 .count(),
               std::memory_order_relaxed);
  clock_.store(&clock, std::memory_order_release);
}

edge_actor spawn_scripted_edge(caf::actor_system& sys,
                               scripted_edge_config cfg) {
  return caf::actor_cast<edge_actor>(sys.spawn(edge, std::move(cfg)));
}

} // namespace nw
