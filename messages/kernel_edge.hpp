// What the kernel edges report to the actors, and what actors ask of them.
// An edge is either the libuv loop thread over the real kernel or a scripted
// kernel playing a scenario; the actors cannot tell the difference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/fields.hpp"
#include "messages/interfaces.hpp"

namespace nw {

/// An OCI runtime (runc, crun, conmon) being exec'd. `token` names the held
/// permission event: the owner answers it with `verdict_atom` (fds never
/// travel in messages); the edge's deadline answers it otherwise.
struct runtime_exec {
  uint64_t token = 0;
  /// The exec'ing thread (FAN_REPORT_TID).
  uint32_t tid = 0;
  std::vector<std::string> argv;
  /// The comm of the task before the exec (e.g. containerd-shim).
  std::string caller_comm;
  /// Mount namespace inode of the runtime itself.
  uint64_t mntns = 0;
  uint32_t euid = 0;
};

/// @relates runtime_exec
inline auto fields(runtime_exec& x) {
  return std::make_tuple(field("token", x.token), field("tid", x.tid),
                         field("argv", x.argv),
                         field("caller_comm", x.caller_comm),
                         field("mntns", x.mntns), field("euid", x.euid));
}

/// @relates runtime_exec
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, runtime_exec& x) {
  return inspect_fields(f, "nw::runtime_exec", x);
}

inline bool operator==(const runtime_exec& a, const runtime_exec& b) {
  return fields_equal(a, b);
}

/// A runtime reading a watched pidfile; held until answered by `token`.
/// The edge reads the bytes through the event's own fd (reading by path
/// would raise a permission event on our own group).
struct pidfile_read {
  uint64_t token = 0;
  std::string path;
  std::string content;
};

/// @relates pidfile_read
inline auto fields(pidfile_read& x) {
  return std::make_tuple(field("token", x.token), field("path", x.path),
                         field("content", x.content));
}

/// @relates pidfile_read
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pidfile_read& x) {
  return inspect_fields(f, "nw::pidfile_read", x);
}

inline bool operator==(const pidfile_read& a, const pidfile_read& b) {
  return fields_equal(a, b);
}

/// A container's state appeared in a runtime state root: the runtime wrote
/// `DIR/state.json` (runc) or `DIR/status` (crun), so the container exists,
/// whether or not its `create` was seen (a bare `runc run` has none).
struct state_appeared {
  /// The container's state directory (a host path: ROOT/ID, or
  /// ROOT/NAMESPACE/ID under containerd).
  std::string dir;
  /// Its container id (the directory's name).
  std::string id;
};

/// @relates state_appeared
inline auto fields(state_appeared& x) {
  return std::make_tuple(field("dir", x.dir), field("id", x.id));
}

/// @relates state_appeared
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, state_appeared& x) {
  return inspect_fields(f, "nw::state_appeared", x);
}

inline bool operator==(const state_appeared& a, const state_appeared& b) {
  return fields_equal(a, b);
}

/// A watched process ended.
struct process_exited {
  uint32_t pid = 0;
  uint64_t start_time = 0;
};

/// @relates process_exited
inline auto fields(process_exited& x) {
  return std::make_tuple(field("pid", x.pid),
                         field("start_time", x.start_time));
}

/// @relates process_exited
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_exited& x) {
  return inspect_fields(f, "nw::process_exited", x);
}

inline bool operator==(const process_exited& a, const process_exited& b) {
  return fields_equal(a, b);
}

/// Whether a runtime exec may be a `create`, the one exec an edge holds
/// (until its pidfile watch is placed). Both edges allow every other runtime
/// exec as soon as its argv is read, and report it with token 0: one
/// round trip to the actors less for runc's re-exec, start, delete, ...
/// Conservative: any argv entry spelled `create` counts.
inline bool may_be_create(const std::vector<std::string>& argv) {
  for (auto& arg : argv)
    if (arg == "create")
      return true;
  return false;
}

using verdict_atom = caf::atom_constant<caf::atom("nw_verdict")>;
using watch_atom = caf::atom_constant<caf::atom("nw_watch")>;
using unwatch_atom = caf::atom_constant<caf::atom("nw_unwatch")>;

/// Receives runtime execs and the containers' state appearing.
using runtime_watcher_actor = caf::typed_actor<caf::reacts_to<runtime_exec>,
                                               caf::reacts_to<state_appeared>>;

/// Receives the read of the pidfile it watches, and its container's state
/// appearing.
using pidfile_watcher_actor = caf::typed_actor<caf::reacts_to<pidfile_read>,
                                               caf::reacts_to<state_appeared>>;

/// Receives exits of the processes it watches.
using exit_watcher_actor = caf::typed_actor<caf::reacts_to<process_exited>>;

/// The kernel edge as actors see it.
using kernel_edge_actor = caf::typed_actor<
  // Allows the held event `token` (idempotent; unknown tokens ignored).
  caf::reacts_to<verdict_atom, uint64_t>,
  // Watches reads of a pidfile (matched by dev+inode on a real kernel).
  caf::reacts_to<watch_atom, std::string, pidfile_watcher_actor>,
  caf::reacts_to<unwatch_atom, std::string>,
  // Watches the exit of a process, named by pid and start time, and holds
  // its namespaces open until a grace period after it. Replies once the
  // watch is in place: true if the edge reports the exit (or has reported
  // it already: a pid reused meanwhile counts as an exit), false if it
  // cannot (no pidfd) and the caller's own poller must cover it.
  caf::replies_to<watch_atom, uint32_t, uint64_t,
                  exit_watcher_actor>::with<bool>,
  // The process is known to be gone (the poller saw it): drop its watch;
  // its namespaces stay held for the grace period.
  caf::reacts_to<unwatch_atom, uint32_t, uint64_t>>;

using play_atom = caf::atom_constant<caf::atom("nw_play")>;

/// A kernel edge as the assembly drives it: `play` starts it (runtime execs
/// go to the given watcher), and it reports its counters. Both the scripted
/// kernel and the real one have this interface.
using edge_actor = kernel_edge_actor::extend<
  caf::reacts_to<play_atom, runtime_watcher_actor>,
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

} // namespace nw
