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
  uint64_t mntns = 0;
  uint64_t netns = 0;
  std::string cgroup;
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

  /// Reads what /proc tells about `pid`.
  virtual bool proc(uint32_t pid, proc_status& out,
                    std::string& error) const = 0;
};

/// The real host, with every path under `host_root` ("" or "/" = ours).
std::shared_ptr<const host_view> make_linux_host(std::string host_root);

} // namespace nw
