// The start-up scan: finds the containers that were running before the
// agent started, without any runtime API, from the runtimes' state roots
// (`<root>/<id>/state.json` for runc, `<root>/<id>/status` for crun, one
// level of namespaces below a root for containerd), and registers them with
// `initial = true`, `held = false`. One-shot: it quits when done.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

/// Starts the scan; sent once the edge was told to `play`.
using scan_atom = caf::atom_constant<caf::atom("nw_scan")>;

/// The start-up scan's interface: start it, read its counters.
using initial_scan_actor
  = caf::typed_actor<caf::reacts_to<scan_atom>,
                     caf::replies_to<get_atom, counters_atom>::with<counters>>;

// -- bounds -------------------------------------------------------------------

/// Most entries kept from one directory listing (a root or a namespace).
inline constexpr size_t max_scan_dir_entries = 4096;

/// Most entries looked at in one scan, over all roots and namespaces.
inline constexpr size_t max_scan_entries = 16384;

/// Entries looked at per message: the scan yields its thread in between,
/// so that a state root with thousands of entries never holds an actor
/// thread for long. A count, not a time, keeps `simulate` deterministic.
inline constexpr size_t scan_batch_entries = 16;

/// The state roots scanned by default: runc's (`/run/runc`, also rootful
/// podman's with runc), containerd's runc roots (`/run/containerd/runc`,
/// one directory per namespace) and crun's (`/run/crun`, also rootful
/// podman's with crun).
std::vector<std::string> default_state_roots();

/// Whom the scan talks to.
struct initial_scan_config {
  /// The kernel edge: the scan asks it for its counters first, which it
  /// answers only after the `play` sent before the scan's start, so live
  /// detection is in place before the first state root is read.
  edge_actor edge;
  registry_actor registry;
  std::shared_ptr<const host_view> host;
  /// The state roots (host paths); duplicates are scanned once.
  std::vector<std::string> roots;
  /// Timeout of each `add` to the registry.
  std::chrono::milliseconds add_timeout{1900};
  /// The agent's own mount namespace inode (0: unknown). A container must
  /// differ from it and from pid 1's.
  uint64_t agent_mntns = 0;
  /// Called with the counters once the scan is done (tests, logs).
  std::function<void(const counters&)> on_done;
};

/// What a container's state directory tells, checked against /proc.
struct state_dir_result {
  /// The container, when the directory names one that runs (`held` and
  /// `initial` false).
  std::optional<container_info> info;
  /// No state file: not a container's directory (maybe a namespace's).
  bool no_state_file = false;
  /// Otherwise why not: the `scan_*` counter, a log level, the reason.
  const char* counter = "";
  log::level level = log::level::debug;
  std::string reason;
};

/// Reads the container whose state directory is `dir` (`state.json` for
/// runc, `status` for crun; its name `id`): the state file, its init in
/// /proc (alive, same start time, a mount namespace of its own, neither
/// `host_mntns` nor `agent_mntns`) and its bundle's config.json. Used by
/// the scan and by the runtime watcher for a container that appears with no
/// create seen (a bare `runc run`).
state_dir_result read_state_dir(const host_view& host, const std::string& dir,
                                const std::string& id, uint64_t host_mntns,
                                uint64_t agent_mntns);

/// Spawns the scan, idle until `scan_atom`.
initial_scan_actor spawn_initial_scan(caf::actor_system& sys,
                                      initial_scan_config cfg);

} // namespace nw
