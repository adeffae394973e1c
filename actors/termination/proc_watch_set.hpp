// The processes the termination poller watches, and one tick of it.
//
// Each process is named by (pid, start time). Where it can, the set keeps
// an O_PATH handle on /proc/PID, opened when the process is added and
// checked against its start time just after: the handle stays bound to that
// process, so a later tick needs one faccessat() (~1 us here) and a reused pid
// can never pass for it. Without a handle (a scripted host, no fds to
// spare) a tick reads /proc/PID/stat by path and compares the start time
// (~8 us). Either way a tick touches only the watched pids, never all of
// /proc.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/unique_fd.hpp"

namespace nw {

/// A process named without trusting its pid alone: (pid, start time).
using process_key = std::pair<uint32_t, uint64_t>;

class proc_watch_set {
public:
  /// `proc_root` is the host's /proc as a real path for handles ("" for
  /// none: every check goes through `host`).
  proc_watch_set(std::shared_ptr<const host_view> host, std::string proc_root);

  /// Starts watching `key`; false (and nothing watched) if it has exited
  /// already: the pid is gone, a zombie, or another process's.
  bool add(const process_key& key);

  void remove(const process_key& key);

  /// One poller tick: the watched processes that have exited, which leave
  /// the set. With a handle a zombie counts once its parent reaps it.
  std::vector<process_key> tick();

  size_t size() const {
    return procs_.size();
  }

  /// How many are watched through a /proc handle.
  size_t with_handles() const;

private:
  /// Whether `key` runs, read by path: /proc/PID/stat with its start time.
  bool runs(const process_key& key) const;

  std::shared_ptr<const host_view> host_;
  std::string proc_root_;
  std::map<process_key, kernel::unique_fd> procs_;
};

} // namespace nw
