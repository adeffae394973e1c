// The real kernel edge: fanotify permission events on the OCI runtimes'
// binaries (argv from bpf/execruntime by the event's tid) and on pending
// pidfiles' directories, owned by a libuv loop thread. Actors see the same
// edge_actor interface as the scripted kernel's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "messages/kernel_edge.hpp"

namespace nw {

/// Settings of the real kernel edge.
struct linux_edge_config {
  /// The host's root as seen by the agent ("" or "/" unless containerized).
  std::string host_root;
  /// Runtime binaries to watch besides default_runtime_paths(), as host
  /// paths (`--runtime-path`).
  std::vector<std::string> runtime_paths;
  /// The backstop on every held event (CONTRACTS.md: 2000 ms).
  std::chrono::milliseconds hold_deadline{2000};
  /// Read argv from bpf/execruntime. Off by default: its syscall
  /// tracepoints put every syscall on the host on the slow tracepoint path
  /// (~130 ns each, docs/benchmarks.md). Without it (or when it cannot
  /// load) the runtime's argv is read at permission time from the held
  /// caller's memory, at the argv pointer /proc/TID/syscall shows for its
  /// execve/execveat; failing that, the caller's /proc/TID/cmdline.
  bool use_bpf = false;
  /// Watch containers' init processes with pidfds (`--no-pidfd`: false,
  /// leaving exits to the termination poller alone).
  bool use_pidfd = true;
  /// How long a watched process's mount and network namespace fds stay open
  /// after its exit: longer than the registry's 5 s grace for removed
  /// records, so their inode numbers are not reused while a late lookup by
  /// them may still come.
  std::chrono::milliseconds ns_grace{6000};
  /// Runtime state roots (host paths) watched for containers appearing:
  /// `ROOT/ID/state.json` (runc), `ROOT/ID/status` (crun), one level of
  /// namespaces below a root (containerd). Each is reported once as
  /// `state_appeared` to the runtime watcher. A root that does not exist
  /// yet is watched for from its nearest existing ancestor.
  std::vector<std::string> state_roots;
};

/// The usual places of runc, crun and conmon (host paths).
std::vector<std::string> default_runtime_paths();

/// Spawns the real kernel edge; an error if a fanotify group cannot be
/// created or no runtime binary exists to watch.
caf::expected<edge_actor> spawn_linux_edge(caf::actor_system& sys,
                                           linux_edge_config cfg);

} // namespace nw
