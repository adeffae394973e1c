#include "actors/runtime_watcher/runtime_watcher.hpp"

#include <map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/pidfile_watcher/pidfile_watcher.hpp"
#include "actors/runtime_watcher/runtime_argv.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

/// conmon names more containers than a node runs at once only under attack.
constexpr size_t max_pending_names = 4096;

struct watcher_state {
  runtime_watcher_config cfg;
  /// Names from conmon's `-n`, waiting for the `create` of the same id.
  std::map<std::string, std::string> names;
  static inline const char* name = "nw.runtime_watcher";
};

runtime_watcher_actor::behavior_type
runtime_watcher(runtime_watcher_actor::stateful_pointer<watcher_state> self,
                runtime_watcher_config cfg) {
  self->state.cfg = std::move(cfg);
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
          pidfile_watch_request req;
          req.id = cmd->id;
          req.bundle = cmd->bundle;
          req.pid_file = cmd->pid_file;
          req.runtime = cmd->runtime;
          req.runtime_mntns = ev.mntns;
          // The create stays held until its pidfile watch is in place, so
          // the runtime cannot write and hand over the pidfile before we
          // watch it; the pidfile watcher answers this token.
          req.exec_token = ev.token;
          if (auto i = st.names.find(cmd->id); i != st.names.end()) {
            req.manager_name = std::move(i->second);
            st.names.erase(i);
          }
          pidfile_watcher_config pcfg{st.cfg.edge, st.cfg.registry, st.cfg.host,
                                      st.cfg.add_timeout,
                                      st.cfg.pending_timeout};
          // Linked: pidfile watchers end with the runtime watcher (a clean
          // shutdown must not wait out their 15 s pending timeout); their
          // own normal exit does not affect it.
          self->link_to(spawn_pidfile_watcher(self->system(), std::move(req),
                                              std::move(pcfg)));
          return;
        }
        case runtime_command_kind::ignored:
        case runtime_command_kind::other:
          return;
      }
    },
  };
}

} // namespace

runtime_watcher_actor spawn_runtime_watcher(caf::actor_system& sys,
                                            runtime_watcher_config cfg) {
  return sys.spawn(runtime_watcher, std::move(cfg));
}

} // namespace nw
