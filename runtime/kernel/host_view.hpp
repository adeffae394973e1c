// The synchronous, bounded reads actors make of the host: files (config.json,
// state.json), directory listings (runtime state roots) and /proc. One
// interface, two implementations: the real host (under --host-root) and a
// scenario's scripted host. Implementations are immutable after construction,
// so actors on any thread may share one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nw {

/// What /proc tells about one process.
struct proc_status {
  uint32_t pid = 0;
  /// Field 22 of /proc/PID/stat: clock ticks since boot.
  uint64_t start_time = 0;
  std::string comm;
  /// Field 3 of /proc/PID/stat: R, S, D, Z (zombie), X (dead), ...
  char state = 'R';
  /// Mount and network namespace inode numbers (/proc/PID/ns/{mnt,net});
  /// 0 when unreadable.
  uint64_t mntns = 0;
  uint64_t netns = 0;
  /// The 64-bit mount namespace id (ioctl NS_GET_MNTNS_ID on
  /// /proc/PID/ns/mnt): unique since boot, never reused, unlike `mntns`.
  /// 0 when unknown (an older kernel, an unreadable namespace).
  uint64_t mntns_id64 = 0;
  /// The host's network namespace inode, to compare `netns` with: pid 1's
  /// (/proc/1/ns/net), or the agent's own (/proc/self/ns/net) where pid 1's
  /// is unreadable. The same for every process of one host view; 0 when
  /// unknown.
  uint64_t host_netns = 0;
  /// The process's cgroup v2 path (the "0::" line of /proc/PID/cgroup, as
  /// the reader's cgroup namespace shows it); "" without one.
  std::string cgroup;
  /// The id of that cgroup: its directory's inode number under the cgroup2
  /// mount (what bpf_get_current_cgroup_id() returns). 0 when not found.
  uint64_t cgroup_id = 0;
};

/// Read access to the host.
class host_view {
public:
  virtual ~host_view() = default;

  /// Reads a whole regular file of at most `max_bytes`; on failure returns
  /// false and says why in `error` (missing, not regular, too large, ...).
  virtual bool read_file(const std::string& path, size_t max_bytes,
                         std::string& out, std::string& error) const = 0;

  /// Whether anything exists at `path` (a link is not followed).
  virtual bool exists(const std::string& path) const = 0;

  /// Lists the names in the directory `path`, without "." and "..", sorted;
  /// at most `max_entries` of them, with `truncated` set when there were
  /// more (which ones are kept is then unspecified). On failure returns
  /// false and says why in `error` (missing, not a directory, ...).
  virtual bool list_dir(const std::string& path, size_t max_entries,
                        std::vector<std::string>& out, bool& truncated,
                        std::string& error) const = 0;

  /// Reads what /proc tells about `pid`. False (and why in `error`) when
  /// there is no such process; a namespace or cgroup that cannot be read is
  /// 0 in `out`, not an error.
  virtual bool proc(uint32_t pid, proc_status& out,
                    std::string& error) const = 0;
};

/// The real host, with every path under `host_root` ("" or "/" = ours).
/// The host's network namespace and the cgroup2 mount are looked up once,
/// here: pid 1's (`/proc/1/ns/net`, `/proc/1/mountinfo`), or the agent's
/// own (`/proc/self/...`) where pid 1's cannot be read. Reads of one
/// process go through one handle on its /proc directory, so they describe
/// that process, never a later one given the same pid.
std::shared_ptr<const host_view> make_linux_host(std::string host_root);

} // namespace nw
