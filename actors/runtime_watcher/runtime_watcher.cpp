#include "actors/runtime_watcher/runtime_watcher.hpp"

#include <map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/initial_scan/initial_scan.hpp"
#include "actors/pidfile_watcher/pidfile_watcher.hpp"
#include "actors/runtime_watcher/runtime_argv.hpp"
#include "messages/errors.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

/// conmon names more containers than a node runs at once only under attack.
constexpr size_t max_pending_names = 4096;

struct watcher_state {
  runtime_watcher_config cfg;
  /// A create in flight: its pidfile watcher and the thread that exec'd it.
  struct pending_create {
    pidfile_watcher_actor watcher;
    uint32_t tid = 0;
  };
  /// The creates in flight, by container id.
  std::map<std::string, pending_create> pending;
  /// Names from conmon's `-n`, waiting for the `create` of the same id.
  std::map<std::string, std::string> names;
  static inline const char* name = "nw.runtime_watcher";
};

/// A container that appeared with no create seen: a one-shot actor reads
/// its state directory and registers it, `held` false.
void read_unheld(caf::actor_system& sys, const runtime_watcher_config& cfg,
                 state_appeared rs) {
  sys.spawn([cfg, rs](caf::event_based_actor* self) {
    auto found = read_state_dir(*cfg.host, rs.dir, rs.id, cfg.host_mntns,
                                cfg.agent_mntns);
    if (!found.info) {
      if (!found.no_state_file)
        log::write(found.level,
                   "a container appeared without a create, but is not "
                   "registered",
                   {{"dir", rs.dir}, {"reason", found.reason}});
      return;
    }
    auto id = found.info->id;
    self
      ->request(cfg.registry, cfg.add_timeout, add_atom::value,
                std::move(*found.info))
      .then([](const add_result&) {},
            [id](caf::error& err) {
              log::warn("the registry did not take a container that "
                        "appeared without a create",
                        {{"id", id}, {"error", render(err)}});
            });
  });
}

runtime_watcher_actor::behavior_type
runtime_watcher(runtime_watcher_actor::stateful_pointer<watcher_state> self,
                runtime_watcher_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& pending = self->state.pending;
    for (auto i = pending.begin(); i != pending.end(); ++i)
      if (i->second.watcher.address() == dm.source) {
        pending.erase(i);
        return;
      }
  });
  return {
    [self](runtime_exec& ev) {
      auto& st = self->state;
      // argv is already in the message: any exec but a create may go on.
      auto allow = [&] {
        if (ev.token != 0) // 0: the edge did not hold it
          self->send(st.cfg.edge, verdict_atom::value, ev.token);
      };
      auto cmd = parse_runtime_argv(ev.argv);
      if (!cmd) {
        allow();
        log::warn("runtime argv rejected",
                  {{"tid", std::to_string(ev.tid)}, {"reason", cmd.error()}});
        return;
      }
      if (cmd->kind != runtime_command_kind::create)
        allow();
      switch (cmd->kind) {
        case runtime_command_kind::conmon:
          if (!cmd->name.empty()) {
            if (st.names.size() >= max_pending_names)
              st.names.erase(st.names.begin());
            st.names[cmd->id] = cmd->name;
          }
          return;
        case runtime_command_kind::create: {
          if (auto i = st.pending.find(cmd->id);
              i != st.pending.end() && i->second.tid == ev.tid) {
            // The same thread exec'ing the runtime again with the same
            // create: crun re-executes itself (execveat of /proc/self/exe).
            // Its first exec's watcher has the watch; this one goes on.
            allow();
            return;
          }
          pidfile_watch_request req;
          req.id = cmd->id;
          req.bundle = cmd->bundle;
          req.pid_file = cmd->pid_file;
          req.runtime = cmd->runtime;
          req.runtime_mntns = ev.mntns;
          if (auto i = st.names.find(cmd->id); i != st.names.end()) {
            req.manager_name = std::move(i->second);
            st.names.erase(i);
          }
          pidfile_watcher_config pcfg{
            st.cfg.edge,        st.cfg.registry,        st.cfg.host,
            st.cfg.add_timeout, st.cfg.pending_timeout, st.cfg.host_mntns,
            st.cfg.agent_mntns};
          // Linked: pidfile watchers end with the runtime watcher (a clean
          // shutdown must not wait out their 15 s pending timeout); their
          // own normal exit does not affect it.
          auto id = req.id;
          auto pid_file = req.pid_file;
          auto w = spawn_pidfile_watcher(self->system(), std::move(req),
                                         std::move(pcfg));
          // The create stays held until its pidfile watch is in place, so
          // the runtime cannot write and hand over the pidfile before it is
          // watched. Sent from here, not by the new watcher: its start is
          // one scheduling hop the hold need not wait for. Same sender,
          // same receiver: the edge places the watch, then allows.
          self->send(st.cfg.edge, watch_atom::value, std::move(pid_file), w);
          allow();
          self->link_to(w);
          self->monitor(w);
          st.pending[id] = watcher_state::pending_create{w, ev.tid};
          return;
        }
        case runtime_command_kind::ignored:
        case runtime_command_kind::other:
          return;
      }
    },
    [self](state_appeared& rs) {
      auto& st = self->state;
      // The edge reports the exec of a create before the state its runtime
      // writes, so a create seen is pending here by now: its watcher owns
      // the container (and keeps the state as its fallback).
      if (auto i = st.pending.find(rs.id); i != st.pending.end()) {
        self->send(i->second.watcher, std::move(rs));
        return;
      }
      // No create seen (a bare `runc run`, `runc run --pid-file`): nothing
      // to hold, but the container is there. Read it off the actor's path.
      read_unheld(self->system(), st.cfg, std::move(rs));
    },
  };
}

} // namespace

runtime_watcher_actor spawn_runtime_watcher(caf::actor_system& sys,
                                            runtime_watcher_config cfg) {
  return sys.spawn(runtime_watcher, std::move(cfg));
}

} // namespace nw
