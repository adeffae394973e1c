#include "actors/pidfile_watcher/pidfile_watcher.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/initial_scan/initial_scan.hpp"
#include "actors/pidfile_watcher/oci_config.hpp"
#include "actors/pidfile_watcher/pidfile.hpp"
#include "messages/errors.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

using expire_atom = caf::atom_constant<caf::atom("nw_expire")>;

using watcher_impl_actor
  = pidfile_watcher_actor::extend<caf::reacts_to<expire_atom>>;

struct watcher_state {
  pidfile_watch_request req;
  pidfile_watcher_config cfg;
  /// config.json, read and parsed once the pidfile was watched.
  oci_config config;
  /// The pidfile was read: the watch is no longer pending.
  bool read = false;
  /// The container's state directory, once the runtime wrote it.
  std::string state_dir;
  static inline const char* name = "nw.pidfile_watcher";
};

using watcher_ptr = watcher_impl_actor::stateful_pointer<watcher_state>;

/// Gives up on this create: answers the held event, reports, leaves.
void fail(watcher_ptr self, uint64_t token, const std::string& reason) {
  auto& st = self->state;
  if (token != 0)
    self->send(st.cfg.edge, verdict_atom::value, token);
  log::warn("container detection failed",
            {{"id", st.req.id}, {"reason", reason}});
  container_info info;
  info.id = st.req.id;
  info.name = st.req.manager_name.empty() ? st.req.id : st.req.manager_name;
  info.bundle = st.req.bundle;
  info.runtime = st.req.runtime;
  // Fire and forget: the registry's reply would outlive this actor.
  caf::anon_send(st.cfg.registry, failed_atom::value, std::move(info), reason);
  self->quit();
}

watcher_impl_actor::behavior_type watcher(watcher_ptr self,
                                          pidfile_watch_request req,
                                          pidfile_watcher_config cfg) {
  auto& st = self->state;
  st.req = std::move(req);
  st.cfg = std::move(cfg);
  // The runtime watcher has asked the edge to watch the pidfile and let
  // the create go on. config.json is read now, while the runtime works,
  // outside every hold: the mark ignores it (an ignore mark on
  // B/config.json; podman's B/userdata/config.json is no child of B), and
  // even without that our read could not deadlock: the loop thread, not
  // this actor, answers events, and it allows any read that is not a
  // pending pidfile.
  auto config = read_bundle_config(*st.cfg.host, st.req.bundle);
  if (!config) {
    // Without its config the container cannot be described: say so, watch
    // nothing. (An unwatch that reaches the edge before the watch finds
    // nothing; the watch then goes with this actor, which the edge
    // monitors.)
    self->send(st.cfg.edge, unwatch_atom::value, st.req.pid_file);
    fail(self, 0, "config.json: " + config.error());
    return watcher_impl_actor::behavior_type::make_empty_behavior();
  }
  st.config = std::move(config).value();
  self->delayed_send(self, st.cfg.pending_timeout, expire_atom::value);
  return {
    [self](pidfile_read& ev) {
      auto& st = self->state;
      if (st.read) { // a second read in flight before the unwatch landed
        self->send(st.cfg.edge, verdict_atom::value, ev.token);
        return;
      }
      st.read = true;
      self->send(st.cfg.edge, unwatch_atom::value, st.req.pid_file);
      auto pid = parse_pidfile(ev.content);
      if (!pid)
        return fail(self, ev.token, "pidfile: " + pid.error());
      proc_status proc;
      std::string error;
      if (!st.cfg.host->proc(static_cast<uint32_t>(pid.value()), proc, error))
        return fail(self, ev.token, "/proc: " + error);
      if (proc.mntns == 0)
        return fail(self, ev.token,
                    "the mount namespace of pid " + std::to_string(pid.value())
                      + " is unreadable");
      if (proc.mntns == st.req.runtime_mntns)
        return fail(self, ev.token,
                    "pid " + std::to_string(pid.value())
                      + " shares the runtime's mount namespace");
      auto info = make_container_info(st.req, st.config, proc);
      self
        ->request(st.cfg.registry, st.cfg.add_timeout, add_atom::value,
                  std::move(info))
        .then(
          [self, token = ev.token](const add_result&) {
            // Every subscriber has seen the container (or was late): the
            // runtime may start it now.
            self->send(self->state.cfg.edge, verdict_atom::value, token);
            self->quit();
          },
          [self, token = ev.token](caf::error& err) {
            fail(self, token, "registry: " + render(err));
          });
    },
    [self](state_appeared& state) {
      // The runtime wrote the container's state: it exists. Kept as the
      // fallback for a pidfile read that never comes (see expire).
      self->state.state_dir = std::move(state.dir);
    },
    [self](expire_atom) {
      auto& st = self->state;
      if (st.read) // the add is in flight; its reply answers the hold
        return;
      self->send(st.cfg.edge, unwatch_atom::value, st.req.pid_file);
      auto why = "the pidfile " + st.req.pid_file + " was not read within "
                 + std::to_string(st.cfg.pending_timeout.count()) + " ms";
      if (st.state_dir.empty())
        return fail(self, 0, why);
      // Its read escaped us (a symlinked pidfile, a read before the watch),
      // but the runtime wrote the container's state: register it from
      // there, not held.
      auto found = read_state_dir(*st.cfg.host, st.state_dir, st.req.id,
                                  st.cfg.host_mntns, st.cfg.agent_mntns);
      if (!found.info)
        return fail(self, 0,
                    why + "; its state directory " + st.state_dir + ": "
                      + (found.no_state_file ? "no state file" : found.reason));
      auto info = std::move(*found.info);
      if (!st.req.manager_name.empty() && info.name == info.id)
        info.name = st.req.manager_name;
      log::info("pidfile read not seen; container registered from its "
                "state, not held",
                {{"id", info.id}, {"dir", st.state_dir}});
      st.read = true;
      self
        ->request(st.cfg.registry, st.cfg.add_timeout, add_atom::value,
                  std::move(info))
        .then([self](const add_result&) { self->quit(); },
              [self](caf::error& err) {
                fail(self, 0, "registry: " + render(err));
              });
    },
  };
}

} // namespace

pidfile_watcher_actor spawn_pidfile_watcher(caf::actor_system& sys,
                                            pidfile_watch_request req,
                                            pidfile_watcher_config cfg) {
  return caf::actor_cast<pidfile_watcher_actor>(
    sys.spawn(watcher, std::move(req), std::move(cfg)));
}

} // namespace nw
