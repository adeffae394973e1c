#include "actors/initial_scan/initial_scan.hpp"

#include <deque>
#include <map>
#include <set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/initial_scan/state_json.hpp"
#include "actors/pidfile_watcher/oci_config.hpp"
#include "actors/pidfile_watcher/pidfile_watcher.hpp"
#include "actors/runtime_watcher/runtime_argv.hpp"
#include "messages/errors.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

using step_atom = caf::atom_constant<caf::atom("nw_sstep")>;

using scan_impl_actor = initial_scan_actor::extend<caf::reacts_to<step_atom>>;

/// One directory entry still to look at.
struct scan_entry {
  /// The directory it is in (a root or a namespace directory).
  std::string parent;
  std::string name;
  /// 0 in a root, 1 in a namespace directory below one.
  int depth = 0;
};

struct scan_state {
  initial_scan_config cfg;
  bool started = false;
  bool done = false;
  std::deque<scan_entry> work;
  /// Entries queued so far, over all listings (max_scan_entries).
  size_t queued = 0;
  /// Pid 1's mount namespace (0: unknown).
  uint64_t host_mntns = 0;
  /// Claimed so far in this scan: ids, and by pid the ids whose state
  /// names it as their init.
  std::set<std::string> ids;
  std::map<uint32_t, std::vector<std::string>> pids;
  /// Containers found (with the directory they were found in), added once
  /// every entry has been looked at.
  std::vector<std::pair<std::string, container_info>> found;
  /// The adds have been sent.
  bool adding = false;
  /// Adds sent whose reply is outstanding.
  size_t in_flight = 0;
  counters stats{{"scan_added", 0},          {"scan_already_known", 0},
                 {"scan_add_failed", 0},     {"scan_bad_state", 0},
                 {"scan_bad_config", 0},     {"scan_not_running", 0},
                 {"scan_pid_reused", 0},     {"scan_bad_mntns", 0},
                 {"scan_duplicates", 0},     {"scan_bad_names", 0},
                 {"scan_not_containers", 0}, {"scan_truncated", 0},
                 {"scan_roots_absent", 0},   {"scan_roots_unreadable", 0}};
  static inline const char* name = "nw.initial_scan";
};

using scan_ptr = scan_impl_actor::stateful_pointer<scan_state>;

/// Skips an entry: counts it under `counter` and logs why at `lvl`.
void skip(scan_ptr self, const char* counter, log::level lvl,
          const std::string& where, const std::string& reason) {
  ++self->state.stats[counter];
  log::write(lvl, "initial scan: skipping a state directory",
             {{"dir", where}, {"reason", reason}});
}

/// Queues the entries of a root (depth 0) or of a namespace directory
/// below one (depth 1), within the scan's bounds. False if it cannot be
/// listed.
bool queue_dir(scan_ptr self, const std::string& dir, int depth,
               std::string& error) {
  auto& st = self->state;
  std::vector<std::string> names;
  bool truncated = false;
  if (!st.cfg.host->list_dir(dir, max_scan_dir_entries, names, truncated,
                             error))
    return false;
  if (truncated) {
    ++st.stats["scan_truncated"];
    log::warn("initial scan: a state directory has more entries than are "
              "scanned",
              {{"dir", dir}, {"scanned", std::to_string(names.size())}});
  }
  for (auto& name : names) {
    if (st.queued == max_scan_entries) {
      ++st.stats["scan_truncated"];
      log::warn("initial scan: more state directories than are scanned; "
                "the rest is left out",
                {{"dir", dir}, {"scanned", std::to_string(st.queued)}});
      break;
    }
    // Names become paths and ids: the charset of ids (namespace names
    // such as containerd's `k8s.io` fit it too).
    if (auto err = check_container_id(name)) {
      skip(self, "scan_bad_names", log::level::warn, dir, err->reason);
      continue;
    }
    ++st.queued;
    st.work.push_back(scan_entry{dir, name, depth});
  }
  return true;
}

void maybe_finish(scan_ptr self) {
  auto& st = self->state;
  if (st.done || !st.adding || st.in_flight != 0)
    return;
  st.done = true;
  log::info("initial scan done",
            {{"added", std::to_string(st.stats["scan_added"])},
             {"already_known", std::to_string(st.stats["scan_already_known"])},
             {"not_running", std::to_string(st.stats["scan_not_running"]
                                            + st.stats["scan_pid_reused"])},
             {"rejected",
              std::to_string(
                st.stats["scan_bad_state"] + st.stats["scan_bad_config"]
                + st.stats["scan_bad_mntns"] + st.stats["scan_duplicates"]
                + st.stats["scan_bad_names"] + st.stats["scan_add_failed"])}});
  if (st.cfg.on_done)
    st.cfg.on_done(st.stats);
  self->quit();
}

/// Looks at one entry: a container's state directory, a namespace
/// directory (depth 0 only), or something else.
void scan_one(scan_ptr self, const scan_entry& e) {
  auto& st = self->state;
  auto dir = e.parent + "/" + e.name;
  auto found = read_state_dir(*st.cfg.host, dir, e.name, st.host_mntns,
                              st.cfg.agent_mntns);
  if (found.no_state_file) {
    if (e.depth == 0) {
      // No state file: a namespace directory (containerd's runc roots).
      std::string error;
      if (!queue_dir(self, dir, 1, error))
        skip(self, "scan_not_containers", log::level::debug, dir, error);
    } else {
      ++st.stats["scan_not_containers"];
    }
    return;
  }
  if (!found.info)
    return skip(self, found.counter, found.level, dir, found.reason);
  auto& info = *found.info;
  if (st.ids.count(info.id) != 0)
    return skip(self, "scan_duplicates", log::level::info, dir,
                "the id was found in an earlier state root");
  st.ids.insert(info.id);
  st.pids[info.pid].push_back(info.id);
  info.initial = true;
  st.found.emplace_back(dir, std::move(info));
}

/// Registers what the scan found, once every entry has been looked at.
void add_found(scan_ptr self) {
  auto& st = self->state;
  st.adding = true;
  for (auto& [dir, info] : st.found) {
    // Two state files naming one init: at most one is true, and the scan
    // cannot tell which (a file's order or name proves nothing), so
    // neither is added. A live detection or a later scan may still find
    // the real one.
    auto& claims = st.pids[info.pid];
    if (claims.size() > 1) {
      std::string ids;
      for (auto& id : claims)
        ids += (ids.empty() ? "" : ", ") + id;
      skip(self, "scan_duplicates", log::level::warn, dir,
           "pid " + std::to_string(info.pid)
             + " is the init in the state of several containers (" + ids
             + "): none is added");
      continue;
    }
    ++st.in_flight;
    auto id = info.id;
    self
      ->request(st.cfg.registry, st.cfg.add_timeout, add_atom::value,
                std::move(info))
      .then(
        [self](const add_result& res) {
          auto& st = self->state;
          --st.in_flight;
          // A duplicate was seen live first: published once, as that.
          ++st.stats[res.duplicate ? "scan_already_known" : "scan_added"];
          maybe_finish(self);
        },
        [self, id](caf::error& err) {
          auto& st = self->state;
          --st.in_flight;
          ++st.stats["scan_add_failed"];
          log::warn("initial scan: the registry did not take a container",
                    {{"id", id}, {"error", render(err)}});
          maybe_finish(self);
        });
  }
  st.found.clear();
  maybe_finish(self);
}

/// Lists the roots, then works through the entries in batches.
void begin(scan_ptr self) {
  auto& st = self->state;
  proc_status init;
  std::string error;
  if (st.cfg.host->proc(1, init, error))
    st.host_mntns = init.mntns;
  std::set<std::string> seen;
  for (auto root : st.cfg.roots) {
    while (root.size() > 1 && root.back() == '/')
      root.pop_back();
    if (root.empty() || !seen.insert(root).second)
      continue;
    if (!st.cfg.host->exists(root)) {
      ++st.stats["scan_roots_absent"];
      log::debug("initial scan: no such state root", {{"root", root}});
      continue;
    }
    if (!queue_dir(self, root, 0, error)) {
      ++st.stats["scan_roots_unreadable"];
      log::warn("initial scan: cannot list a state root",
                {{"root", root}, {"error", error}});
    }
  }
  self->send(self, step_atom::value);
}

scan_impl_actor::behavior_type scan(scan_ptr self, initial_scan_config cfg) {
  self->state.cfg = std::move(cfg);
  return {
    [self](scan_atom) {
      auto& st = self->state;
      if (st.started)
        return;
      st.started = true;
      // The edge answers after the `play` sent to it before our start:
      // from then on every create is seen live, so nothing created during
      // the scan slips between scan and watch.
      self
        ->request(st.cfg.edge, std::chrono::seconds{5}, get_atom::value,
                  counters_atom::value)
        .then([self](const counters&) { begin(self); },
              [self](caf::error& err) {
                log::warn("initial scan: the kernel edge did not answer; "
                          "scanning anyway",
                          {{"error", render(err)}});
                begin(self);
              });
    },
    [self](step_atom) {
      auto& st = self->state;
      for (size_t i = 0; i < scan_batch_entries && !st.work.empty(); ++i) {
        auto e = std::move(st.work.front());
        st.work.pop_front();
        scan_one(self, e);
      }
      if (!st.work.empty())
        self->send(self, step_atom::value);
      else
        add_found(self);
    },
    [self](get_atom, counters_atom) { return self->state.stats; },
  };
}

} // namespace

state_dir_result read_state_dir(const host_view& host, const std::string& dir,
                                const std::string& id, uint64_t host_mntns,
                                uint64_t agent_mntns) {
  state_dir_result out;
  auto fail = [&](const char* counter, log::level lvl, std::string reason) {
    out.counter = counter;
    out.level = lvl;
    out.reason = std::move(reason);
    return out;
  };
  std::string file;
  bool crun = false;
  if (host.exists(dir + "/state.json")) {
    file = dir + "/state.json";
  } else if (host.exists(dir + "/status")) {
    file = dir + "/status";
    crun = true;
  } else {
    out.no_state_file = true;
    return out;
  }
  std::string text;
  std::string error;
  if (!host.read_file(file, max_state_file_bytes, text, error))
    return fail("scan_bad_state", log::level::warn, error);
  auto parsed = crun ? parse_crun_status(text, id) : parse_runc_state(text, id);
  if (!parsed)
    return fail("scan_bad_state", log::level::warn,
                file + ": " + parsed.error());
  auto& state = parsed.value();
  auto pid_text = std::to_string(state.pid);
  proc_status proc;
  if (!host.proc(state.pid, proc, error))
    return fail("scan_not_running", log::level::debug,
                "its init " + pid_text + " is gone: " + error);
  if (proc.state == 'Z' || proc.state == 'X')
    return fail("scan_not_running", log::level::debug,
                "its init " + pid_text + " has exited");
  if (proc.start_time != state.start_time)
    return fail("scan_pid_reused", log::level::info,
                "pid " + pid_text + " started at "
                  + std::to_string(proc.start_time) + ", not at "
                  + std::to_string(state.start_time)
                  + ": the init exited and the pid was reused");
  if (proc.mntns == 0)
    return fail("scan_bad_mntns", log::level::warn,
                "the mount namespace of pid " + pid_text + " is unreadable");
  if (proc.mntns == host_mntns || proc.mntns == agent_mntns)
    return fail("scan_bad_mntns", log::level::warn,
                "pid " + pid_text
                  + " shares the host's or the agent's mount namespace");
  auto config = read_bundle_config(host, state.bundle);
  if (!config)
    return fail("scan_bad_config", log::level::warn,
                "config.json: " + config.error());
  pidfile_watch_request req;
  req.id = state.id;
  req.bundle = state.bundle;
  req.runtime = state.runtime;
  // The same record a live detection builds; only how it was found differs.
  out.info = make_container_info(req, config.value(), proc);
  out.info->held = false;
  return out;
}

std::vector<std::string> default_state_roots() {
  return {"/run/runc", "/run/containerd/runc", "/run/crun"};
}

initial_scan_actor spawn_initial_scan(caf::actor_system& sys,
                                      initial_scan_config cfg) {
  return caf::actor_cast<initial_scan_actor>(sys.spawn(scan, std::move(cfg)));
}

} // namespace nw
