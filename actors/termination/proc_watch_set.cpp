#include "actors/termination/proc_watch_set.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "runtime/kernel/proc_stat.hpp"

namespace nw {

proc_watch_set::proc_watch_set(std::shared_ptr<const host_view> host,
                               std::string proc_root)
    : host_(std::move(host)), proc_root_(std::move(proc_root)) {}

bool proc_watch_set::add(const process_key& key) {
  if (procs_.count(key) != 0)
    return true;
  kernel::unique_fd dir;
  if (!proc_root_.empty())
    dir.reset(::open((proc_root_ + "/" + std::to_string(key.first)).c_str(),
                     O_PATH | O_DIRECTORY | O_CLOEXEC));
  // Checked after the open: if the start time matches now, the pid has been
  // this process's since it started, so the handle is bound to it.
  if (!runs(key))
    return false;
  procs_.emplace(key, std::move(dir));
  return true;
}

void proc_watch_set::remove(const process_key& key) {
  procs_.erase(key);
}

std::vector<process_key> proc_watch_set::tick() {
  std::vector<process_key> gone;
  for (auto i = procs_.begin(); i != procs_.end();) {
    bool alive;
    if (i->second) {
      // A handle on a reaped process's /proc entry finds nothing under it
      // (faccessat: the cheapest look-up measured here, ~0.8 us).
      alive = ::faccessat(i->second.get(), "stat", F_OK, 0) == 0;
    } else {
      alive = runs(i->first);
    }
    if (alive) {
      ++i;
    } else {
      gone.push_back(i->first);
      i = procs_.erase(i);
    }
  }
  return gone;
}

size_t proc_watch_set::with_handles() const {
  size_t n = 0;
  for (auto& entry : procs_)
    n += entry.second ? 1 : 0;
  return n;
}

bool proc_watch_set::runs(const process_key& key) const {
  std::string text;
  std::string error;
  proc_stat stat;
  return host_->read_file("/proc/" + std::to_string(key.first) + "/stat", 4096,
                          text, error)
         && parse_proc_stat(text, stat, error) && stat.start_time == key.second
         && stat.state != 'Z' && stat.state != 'X';
}

} // namespace nw
