#include "runtime/kernel/linux_edge.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/kernel/event_loop.hpp"
#include "runtime/kernel/execruntime_reader.hpp"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/log.hpp"
#include "runtime/kernel/unique_fd.hpp"

namespace nw {

std::vector<std::string> default_runtime_paths() {
  return {"/usr/bin/runc",         "/usr/sbin/runc",
          "/usr/local/bin/runc",   "/usr/local/sbin/runc",
          "/usr/bin/crun",         "/usr/local/bin/crun",
          "/usr/bin/conmon",       "/usr/libexec/podman/conmon",
          "/usr/local/bin/conmon", "/usr/libexec/crio/conmon"};
}

namespace {

using namespace std::chrono_literals;
using kernel::errno_text;

// -- the groups ---------------------------------------------------------------

constexpr unsigned exec_init_flags = FAN_CLASS_CONTENT | FAN_REPORT_TID
                                     | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS
                                     | FAN_NONBLOCK | FAN_CLOEXEC;
constexpr unsigned exec_event_flags = O_RDONLY | O_LARGEFILE | O_CLOEXEC;

constexpr unsigned pidfile_init_flags = FAN_CLASS_CONTENT | FAN_UNLIMITED_QUEUE
                                        | FAN_UNLIMITED_MARKS | FAN_NONBLOCK
                                        | FAN_CLOEXEC;
// O_NONBLOCK besides the usual flags: the kernel opens each event's fd
// inside our read() of the group, and a FIFO planted where a pidfile should
// be, its writer gone, would block the loop thread in that open until a
// writer shows up. (Kernels from 6.14 on raise no permission events on
// FIFOs at all; older ones do.)
constexpr unsigned pidfile_event_flags
  = O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NONBLOCK;

constexpr uint64_t pidfile_dir_mask = FAN_ACCESS_PERM | FAN_EVENT_ON_CHILD;

/// A pidfile holds at most 32 bytes (DESIGN.md); one more tells the parser
/// that it was longer.
constexpr size_t pidfile_read_bytes = 33;

/// Events read per readiness callback before the loop gets to run its
/// timers and posted work; the fd stays readable, so the rest follows.
constexpr int events_per_wakeup = 64;

constexpr size_t max_proc_cmdline = 64 * 1024;

/// Entries of a state root looked at when the edge starts.
constexpr size_t max_state_dir_entries = 4096;

/// The kernel's PID_MAX_LIMIT on 64-bit: no pid is larger.
constexpr uint32_t max_pid = 4194304;

// -- small helpers ------------------------------------------------------------

std::string strip_trailing_slashes(std::string root) {
  while (!root.empty() && root.back() == '/')
    root.pop_back();
  return root;
}

std::string parent_dir(const std::string& path) {
  auto i = path.find_last_of('/');
  if (i == std::string::npos)
    return ".";
  if (i == 0)
    return "/";
  return path.substr(0, i);
}

/// The path that names what an O_PATH fd names: fanotify_mark refuses
/// O_PATH fds as its object (EBADF), but follows this magic link.
std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += sep;
    out += x;
  }
  return out;
}

/// Reads up to `max` bytes of a (/proc) file.
bool read_text(const std::string& path, size_t max, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return false;
  out.clear();
  char buf[4096];
  while (out.size() < max) {
    auto n = ::read(fd, buf, std::min(sizeof(buf), max - out.size()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

/// What /proc offers about `tid` while its exec is held: the argv of the
/// image it is leaving (the caller's, not the runtime's), its comm, mount
/// namespace and effective uid. False when there is no argv to read.
/// The argv pointer of the exec `tid` is held in (FAN_OPEN_EXEC_PERM comes
/// from inside execve/execveat, before the new argv is copied): from
/// /proc/TID/syscall ("NR ARG0 ARG1 ..." of a task blocked in a syscall);
/// 0 if the task is not in one of those (or the file cannot be read).
uint64_t exec_argv_pointer(const std::string& dir) {
  std::string text;
  // The event can be read before its task has gone to sleep waiting for
  // the answer; until then the file says "running". A short, bounded wait
  // (at most ~2 ms of this loop thread, usually none).
  for (int tries = 0;; ++tries) {
    if (!read_text(dir + "/syscall", 512, text))
      return 0;
    if (text.compare(0, 7, "running") != 0)
      break;
    if (tries == 100)
      return 0;
    ::usleep(20);
  }
  char* p = text.data();
  char* end = nullptr;
  auto nr = std::strtol(p, &end, 10);
  if (end == p)
    return 0;
  uint64_t args[6] = {};
  for (auto& a : args) {
    p = end;
    a = std::strtoull(p, &end, 16);
    if (end == p)
      return 0;
  }
  // x86_64: execve(filename, argv, envp), execveat(dfd, filename, argv, ...).
  if (nr == 59)
    return args[1];
  if (nr == 322)
    return args[2];
  return 0;
}

bool read_proc_exec(const std::string& root, uint32_t tid, runtime_exec& msg,
                    bool& from_syscall) {
  auto dir = root + "/proc/" + std::to_string(tid);
  msg.argv.clear();
  // The runtime's argv, read from the held caller's memory; else the
  // caller's own command line (what ran the exec, not what it runs).
  from_syscall = kernel::read_remote_argv(tid, exec_argv_pointer(dir), msg.argv)
                 && !msg.argv.empty();
  if (!from_syscall)
    msg.argv.clear();
  std::string cmdline;
  if (!from_syscall
      && (!read_text(dir + "/cmdline", max_proc_cmdline, cmdline)
          || cmdline.empty()))
    return false;
  size_t start = 0;
  while (start < cmdline.size()) {
    auto end = cmdline.find('\0', start);
    if (end == std::string::npos)
      end = cmdline.size();
    msg.argv.emplace_back(cmdline, start, end - start);
    start = end + 1;
  }
  std::string comm;
  if (read_text(dir + "/comm", 64, comm)) {
    while (!comm.empty() && comm.back() == '\n')
      comm.pop_back();
    msg.caller_comm = std::move(comm);
  }
  struct stat st {};
  if (::stat((dir + "/ns/mnt").c_str(), &st) == 0)
    msg.mntns = st.st_ino;
  std::string status;
  if (read_text(dir + "/status", 16 * 1024, status)) {
    // "Uid:\treal\teffective\tsaved\tfs"
    auto i = status.find("\nUid:");
    if (i != std::string::npos) {
      char* p = status.data() + i + 5;
      std::strtoul(p, &p, 10);
      msg.euid = static_cast<uint32_t>(std::strtoul(p, nullptr, 10));
    }
  }
  return true;
}

// -- the kernel state (loop thread) ------------------------------------------

/// Everything the edge owns in the kernel: both fanotify groups, the held
/// events, the pidfile watches and their directory marks, the BPF reader and
/// the counters. Set up by the spawning thread before the loop sees it (the
/// loop's queue mutex orders that before the loop thread's first access);
/// from then on touched only on the loop thread — actor handlers post
/// lambdas to it — until the loop has been joined.
class kernel_state {
public:
  explicit kernel_state(linux_edge_config cfg)
      : cfg_(std::move(cfg)), root_(strip_trailing_slashes(cfg_.host_root)),
        host_(make_linux_host(root_)) {
    for (auto name : {"edge_held",
                      "edge_allowed",
                      "edge_hold_deadline_expired",
                      "edge_pidfile_reads_unwatched",
                      "edge_pidfile_reads",
                      "edge_pidfile_rejected",
                      "edge_runtime_execs",
                      "edge_allowed_at_read",
                      "edge_allowed_before_play",
                      "edge_argv_bpf",
                      "edge_argv_proc",
                      "edge_argv_syscall",
                      "edge_argv_missing",
                      "edge_overflows",
                      "edge_unknown_events",
                      "edge_read_errors",
                      "edge_groups_closed",
                      "edge_allowed_at_shutdown",
                      "edge_unwatch_refused",
                      "edge_held_us_exec",
                      "edge_held_us_pidfile",
                      "edge_runtime_binaries_remarked",
                      "edge_pidfd_watched",
                      "edge_pidfd_exits",
                      "edge_pidfd_gone",
                      "edge_pidfd_reused",
                      "edge_pidfd_failed",
                      "edge_pidfd_errors",
                      "edge_exit_unwatched",
                      "edge_states_appeared",
                      "edge_argv_refetched",
                      "edge_state_watch_errors"})
      stats_[name] = 0;
    if (cfg_.use_pidfd) {
      // pidfd_open takes a pid of our own pid namespace; the start times
      // come from the host root's /proc. Both number pids alike when that
      // /proc shows us under our own pid.
      char self[32] = {};
      auto n
        = ::readlink((root_ + "/proc/self").c_str(), self, sizeof(self) - 1);
      pidfd_usable_ = n > 0
                      && std::string(self, static_cast<size_t>(n))
                           == std::to_string(::getpid());
      if (!pidfd_usable_)
        log::warn("pidfds off: the host root's /proc numbers pids unlike "
                  "our pid namespace; the /proc poller alone sees exits",
                  {{"host_root", root_}});
    }
  }

  ~kernel_state() {
    shutdown();
  }

  kernel_state(const kernel_state&) = delete;
  kernel_state& operator=(const kernel_state&) = delete;

  // -- set-up, on the spawning thread ----------------------------------------

  bool open_groups(std::string& error) {
    return exec_group_.open(exec_init_flags, exec_event_flags, error)
           && pidfile_group_.open(pidfile_init_flags, pidfile_event_flags,
                                  error);
  }

  /// FAN_OPEN_EXEC_PERM on every runtime binary that exists under the host
  /// root; false when there is none. Also watches (inotify) the directories
  /// of every candidate path, so that a binary replaced (a package upgrade
  /// renames a new file over it) or installed later gets its mark.
  bool mark_runtimes(std::string& error) {
    auto paths = default_runtime_paths();
    for (auto& p : cfg_.runtime_paths)
      if (std::find(paths.begin(), paths.end(), p) == paths.end())
        paths.push_back(p);
    std::vector<std::string> marked;
    std::vector<std::string> failed;
    for (auto& p : paths) {
      if (p.empty() || p.front() != '/') {
        failed.push_back(p + ": not an absolute path");
        continue;
      }
      auto host = root_ + p;
      watch_binary_dir(host);
      std::string why;
      switch (mark_binary(host, why)) {
        case mark_outcome::marked:
          marked.push_back(host);
          break;
        case mark_outcome::failed:
          failed.push_back(why);
          break;
        case mark_outcome::absent:
        case mark_outcome::unchanged:
          break;
      }
    }
    if (!failed.empty())
      log::warn("some runtime binaries are not watched",
                {{"errors", join(failed, "; ")}});
    if (marked.empty()) {
      error = "no runtime binary to watch: none of " + join(paths, ",")
              + " is a file under the host root '" + root_ + "'";
      if (!failed.empty())
        error += " (" + join(failed, "; ") + ")";
      return false;
    }
    log::info("watching runtime binaries (FAN_OPEN_EXEC_PERM)",
              {{"paths", join(marked, ",")}});
    return true;
  }

  /// bpf/execruntime, or /proc at permission time when it cannot load.
  void load_bpf() {
    if (!cfg_.use_bpf) {
      log::info("BPF argv capture off: runtime argv comes from /proc at "
                "permission time (the caller's argv, not the runtime's)");
      return;
    }
    std::string error;
    bpf_ = kernel::execruntime_reader::load(error);
    if (!bpf_)
      log::warn("BPF argv capture unavailable: runtime argv comes from "
                "/proc at permission time (the caller's argv, not the "
                "runtime's)",
                {{"error", error}});
  }

  /// Watches the runtime state roots for containers appearing (inotify).
  /// Never fails the edge: a root that cannot be watched is logged.
  void watch_state_roots() {
    if (cfg_.state_roots.empty())
      return;
    states_inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!states_inotify_) {
      log::warn("cannot watch the runtime state roots: containers started "
                "without a create (runc run) will not be seen",
                {{"error", errno_text(errno)}});
      return;
    }
    for (auto& root : cfg_.state_roots)
      if (!root.empty() && root.front() == '/')
        watch_state_root(root);
  }

  /// Hands both groups to the loop. The watch ids are stored on the loop
  /// thread, before either watch can fire.
  void start(kernel::event_loop& loop) {
    loop_ = &loop;
    loop.post([this] {
      exec_watch_ = loop_->watch_fd(
        exec_group_.fd(), kernel::fd_event::readable, [this](int, int revents) {
          on_readable(exec_group_, exec_watch_, revents,
                      &kernel_state::on_exec_event);
        });
      pidfile_watch_
        = loop_->watch_fd(pidfile_group_.fd(), kernel::fd_event::readable,
                          [this](int, int revents) {
                            on_readable(pidfile_group_, pidfile_watch_, revents,
                                        &kernel_state::on_pidfile_event);
                          });
      if (binaries_inotify_)
        binaries_watch_ = loop_->watch_fd(
          binaries_inotify_.get(), kernel::fd_event::readable,
          [this](int, int revents) { on_binaries_changed(revents); });
      if (states_inotify_)
        states_watch_ = loop_->watch_fd(
          states_inotify_.get(), kernel::fd_event::readable,
          [this](int, int revents) { on_states_changed(revents); });
    });
  }

  // -- what actors ask, on the loop thread -----------------------------------

  void play(runtime_watcher_actor watcher) {
    watcher_ = std::move(watcher);
  }

  void verdict(uint64_t token) {
    auto i = held_.find(token);
    if (i == held_.end())
      return; // answered already, expired, or never ours
    loop_->cancel_timer(i->second.timer);
    // Time held, per kind: what the agent itself adds to a start.
    auto held_for = std::chrono::steady_clock::now() - i->second.since;
    stats_[std::string("edge_held_us_") + i->second.what]
      += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(held_for)
          .count());
    held_.erase(i); // answers FAN_ALLOW, closes the fd
    ++stats_["edge_allowed"];
  }

  void watch(const std::string& path, pidfile_watcher_actor watcher) {
    if (auto i = watches_.find(path); i != watches_.end()) {
      // A later create of the same id took the path over.
      i->second.watcher = std::move(watcher);
      if (auto d = dirs_.find(i->second.dir); d != dirs_.end())
        refresh_config_ignore(d->second);
      return;
    }
    if (path.empty() || path.front() != '/') {
      log::warn("pidfile watch refused: not an absolute path",
                {{"path", path}});
      return;
    }
    if (!pidfile_group_.is_open()) {
      log::error("pidfile watch refused: the pidfile group is closed",
                 {{"path", path}});
      return;
    }
    auto host_path = root_ + path;
    std::string error;
    auto key = acquire_dir(parent_dir(host_path), error);
    if (!key) {
      log::warn("cannot watch the pidfile's directory; its read will not "
                "be seen",
                {{"path", path}, {"error", error}});
      return;
    }
    watches_.emplace(path, pidfile_watch{std::move(watcher), host_path, *key});
  }

  void unwatch(const std::string& path, const caf::actor_addr& sender) {
    auto i = watches_.find(path);
    if (i == watches_.end())
      return;
    // Only the watcher that holds the watch may drop it: a later create of
    // the same id may have taken the path over.
    if (i->second.watcher.address() != sender) {
      ++stats_["edge_unwatch_refused"];
      return;
    }
    drop_watch(i);
  }

  /// Drops the watches of a watcher that is gone without unwatching.
  void forget_watcher(const caf::actor_addr& who) {
    for (auto i = watches_.begin(); i != watches_.end();) {
      if (i->second.watcher.address() == who)
        i = drop_watch(i);
      else
        ++i;
    }
  }

  /// Watches the exit of `pid` (started at `start_time`) with a pidfd, and
  /// holds its namespace fds open until ns_grace after the exit. True if
  /// the exit is reported to `watcher` (now, if the process is gone or the
  /// pid was reused), false if the caller's poller must cover it.
  bool watch_exit(uint32_t pid, uint64_t start_time,
                  exit_watcher_actor watcher) {
    exit_key key{pid, start_time};
    if (pid == 0 || pid > max_pid)
      return false; // no process of ours; nothing a pidfd could name
    if (auto i = exits_.find(key); i != exits_.end()) {
      i->second.watcher = std::move(watcher);
      return i->second.pidfd.get() >= 0;
    }
    exit_watch w;
    w.watcher = std::move(watcher);
    int fd = -1;
    if (pidfd_usable_) {
      fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (fd < 0 && errno == ESRCH) {
        ++stats_["edge_pidfd_gone"];
        caf::anon_send(w.watcher, process_exited{pid, start_time});
        return true;
      }
      if (fd < 0) {
        ++stats_["edge_pidfd_failed"];
        if (!pidfd_failure_logged_) {
          pidfd_failure_logged_ = true;
          log::warn(
            "cannot open a pidfd; the /proc poller alone sees this "
            "container's exit (said once; edge_pidfd_failed counts)",
            {{"pid", std::to_string(pid)}, {"error", errno_text(errno)}});
        }
      }
      w.pidfd.reset(fd);
    }
    // The namespaces, held until the grace after the exit. Opened by path,
    // so checked below with the pidfd: the start time still matching after
    // both opens means the pid was ours all along (it has been since it
    // started), so both fds name our process's namespaces.
    auto ns = root_ + "/proc/" + std::to_string(pid) + "/ns/";
    w.mntns.reset(::open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC));
    w.netns.reset(::open((ns + "net").c_str(), O_RDONLY | O_CLOEXEC));
    proc_status now;
    std::string error;
    bool read = host_->proc(pid, now, error);
    if ((read && now.start_time != start_time)
        || (!read && pidfd_usable_ && gone(pid, w.pidfd.get()))) {
      // The pid is another process's already, or nobody's: either way ours
      // has exited. Nothing is held for it.
      ++stats_[read ? "edge_pidfd_reused" : "edge_pidfd_gone"];
      caf::anon_send(w.watcher, process_exited{pid, start_time});
      return true;
    }
    if (!read) {
      // Alive, but not ours to be sure of (an fd limit, say): nothing held.
      ++stats_["edge_pidfd_failed"];
      log::warn("cannot check a watched process's start time; the /proc "
                "poller alone sees its exit",
                {{"pid", std::to_string(pid)}, {"error", error}});
      return false;
    }
    if (w.pidfd.get() >= 0) {
      w.watch = loop_->watch_fd(
        w.pidfd.get(), kernel::fd_event::readable,
        [this, key](int, int revents) { on_exit_readable(key, revents); });
      if (w.watch == kernel::no_id)
        w.pidfd.reset();
      else
        ++stats_["edge_pidfd_watched"];
    }
    bool watched = w.pidfd.get() >= 0;
    exits_.emplace(key, std::move(w));
    return watched;
  }

  /// The process is known to be gone: its watch goes, its namespaces stay
  /// held for the grace period.
  void unwatch_exit(uint32_t pid, uint64_t start_time) {
    auto i = exits_.find(exit_key{pid, start_time});
    if (i == exits_.end())
      return;
    ++stats_["edge_exit_unwatched"];
    release_exit(i);
  }

  counters snapshot() const {
    auto out = stats_;
    // Gauges: what is in flight right now.
    out["edge_holding"] = held_.size();
    out["edge_pidfile_watches"] = watches_.size();
    out["edge_pidfile_dirs_marked"] = dirs_.size();
    out["edge_bpf_argv"] = bpf_ ? 1 : 0;
    out["edge_played"] = watcher_ ? 1 : 0;
    out["edge_exit_watches"] = exits_.size();
    out["edge_ns_held_after_exit"] = ns_grace_.size();
    return out;
  }

  /// Answers everything, closes everything. Idempotent. Runs on the loop
  /// thread (posted before the stop), or on the stopping thread once the
  /// loop thread has been joined.
  void shutdown() {
    if (down_)
      return;
    down_ = true;
    if (loop_ != nullptr) {
      // Before the fds close: epoll keys on the open file.
      loop_->unwatch(exec_watch_);
      loop_->unwatch(pidfile_watch_);
      loop_->unwatch(binaries_watch_);
      loop_->unwatch(states_watch_);
    }
    // What the kernel queued and we have not read yet is answered too: a
    // process forked from ours that has not exec'd yet holds a copy of the
    // group fd, and then our close() alone would not release it.
    auto drained = drain(exec_group_) + drain(pidfile_group_);
    auto n = held_.size();
    if (loop_ != nullptr)
      for (auto& entry : held_)
        loop_->cancel_timer(entry.second.timer);
    held_.clear(); // answers FAN_ALLOW to each
    stats_["edge_allowed_at_shutdown"] += n + drained;
    if (n + drained > 0)
      log::info(
        "kernel edge stopping: allowed every held event",
        {{"held", std::to_string(n)}, {"queued", std::to_string(drained)}});
    close_dirs();
    watches_.clear();
    if (loop_ != nullptr) {
      for (auto& entry : exits_)
        loop_->unwatch(entry.second.watch);
      for (auto& entry : ns_grace_)
        loop_->cancel_timer(entry.second.timer);
    }
    exits_.clear();
    ns_grace_.clear();
    exec_group_.close();
    pidfile_group_.close();
    binaries_inotify_.reset();
    states_inotify_.reset();
    state_roles_.clear();
    bpf_.reset(); // detaches the programs
    watcher_ = nullptr;
  }

private:
  struct hold_entry {
    kernel::held_event ev;
    kernel::timer_id timer;
    const char* what;
    std::chrono::steady_clock::time_point since;
  };

  struct dir_key {
    dev_t dev;
    ino_t ino;
    bool operator<(const dir_key& other) const {
      return dev != other.dev ? dev < other.dev : ino < other.ino;
    }
  };

  /// A marked pidfile directory, shared by the watches of its pidfiles.
  struct dir_entry {
    std::string path;
    /// O_PATH fds: the objects we marked, whatever happens to their names.
    int fd = -1;
    int config_fd = -1;
    size_t refs = 0;
  };

  struct pidfile_watch {
    pidfile_watcher_actor watcher;
    /// The path under the host root.
    std::string host_path;
    dir_key dir;
  };

  using watch_map = std::map<std::string, pidfile_watch>;

  // -- runtime state roots

  /// What an inotify watch on a state directory stands for.
  struct state_role {
    enum kind_t {
      /// An existing ancestor of a root that does not exist yet.
      ancestor,
      /// A state root: its subdirectories are containers or namespaces.
      root_dir,
      /// A subdirectory of a root: a container (a state file appears in it)
      /// or a containerd namespace (subdirectories appear in it).
      child,
      /// A container directory in a namespace.
      grandchild,
    } kind;
    /// The watched directory (a host path, without the host root).
    std::string dir;
    /// The state root it belongs to.
    std::string state_root;
  };

  void add_state_watch(const std::string& dir, state_role::kind_t kind,
                       const std::string& root) {
    int wd = ::inotify_add_watch(states_inotify_.get(), (root_ + dir).c_str(),
                                 IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE
                                   | IN_ONLYDIR);
    if (wd < 0) {
      if (errno != ENOENT && errno != ENOTDIR) {
        ++stats_["edge_state_watch_errors"];
        if (!state_watch_error_logged_) {
          state_watch_error_logged_ = true;
          log::warn("cannot watch a runtime state directory (said once; "
                    "edge_state_watch_errors counts)",
                    {{"dir", root_ + dir}, {"error", errno_text(errno)}});
        }
      }
      return;
    }
    auto& roles = state_roles_[wd];
    for (auto& r : roles)
      if (r.kind == kind && r.dir == dir)
        return;
    roles.push_back(state_role{kind, dir, root});
  }

  /// Watches `root`, or its nearest existing ancestor until it exists. An
  /// existing subdirectory with no state file is taken for a namespace
  /// (containerd) and watched too; existing containers are the start-up
  /// scan's.
  void watch_state_root(const std::string& root) {
    struct stat st {};
    if (::stat((root_ + root).c_str(), &st) != 0) {
      auto dir = parent_dir(root);
      while (dir != "/" && ::stat((root_ + dir).c_str(), &st) != 0)
        dir = parent_dir(dir);
      add_state_watch(dir, state_role::ancestor, root);
      return;
    }
    add_state_watch(root, state_role::root_dir, root);
    if (auto* d = ::opendir((root_ + root).c_str())) {
      size_t n = 0;
      while (auto* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == ".." || ++n > max_state_dir_entries)
          continue;
        auto child = root + "/" + name;
        if (!has_state_file(child))
          add_state_watch(child, state_role::child, root);
      }
      ::closedir(d);
    }
  }

  bool has_state_file(const std::string& dir) const {
    struct stat st {};
    return ::stat((root_ + dir + "/state.json").c_str(), &st) == 0
           || ::stat((root_ + dir + "/status").c_str(), &st) == 0;
  }

  static bool is_state_file(const std::string& name) {
    return name == "state.json" || name == "status";
  }

  void report_state(const std::string& dir) {
    if (!reported_states_.insert(dir).second)
      return;
    ++stats_["edge_states_appeared"];
    if (watcher_) {
      auto slash = dir.find_last_of('/');
      caf::anon_send(watcher_, state_appeared{dir, dir.substr(slash + 1)});
    }
  }

  void on_states_changed(int revents) {
    if (readable_or_dropped(revents, states_watch_, "state roots"))
      drain_inotify(states_inotify_.get(),
                    [this](const inotify_event& ev) { on_state_event(ev); });
  }

  void on_state_event(const inotify_event& ev) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) {
      ++stats_["edge_state_watch_errors"];
      log::warn("the state roots' inotify queue overflowed: containers "
                "started without a create may be missed");
      return;
    }
    auto i = state_roles_.find(ev.wd);
    if (i == state_roles_.end())
      return;
    if ((ev.mask & IN_IGNORED) != 0) { // the directory is gone
      for (auto& r : i->second)
        reported_states_.erase(r.dir);
      state_roles_.erase(i);
      return;
    }
    if (ev.len == 0)
      return;
    std::string name = ev.name;
    bool is_dir = (ev.mask & IN_ISDIR) != 0;
    bool file_done = (ev.mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) != 0 && !is_dir;
    // Copied: a new watch may land in the same map.
    auto roles = i->second;
    for (auto& r : roles) {
      auto path = (r.dir == "/" ? "" : r.dir) + "/" + name;
      switch (r.kind) {
        case state_role::ancestor:
          if (is_dir
              && (r.state_root == path
                  || r.state_root.rfind(path + "/", 0) == 0))
            watch_state_root(r.state_root);
          break;
        case state_role::root_dir:
          if (is_dir)
            add_state_watch(path, state_role::child, r.state_root);
          break;
        case state_role::child:
          if (is_dir)
            add_state_watch(path, state_role::grandchild, r.state_root);
          else if (file_done && is_state_file(name))
            report_state(r.dir);
          break;
        case state_role::grandchild:
          if (file_done && is_state_file(name))
            report_state(r.dir);
          break;
      }
    }
  }

  // -- exits
  // -------------------------------------------------------------------

  using exit_key = std::pair<uint32_t, uint64_t>;

  struct exit_watch {
    exit_watcher_actor watcher;
    kernel::unique_fd pidfd;
    kernel::watch_id watch = kernel::no_id;
    kernel::unique_fd mntns;
    kernel::unique_fd netns;
  };

  struct ns_hold {
    kernel::unique_fd mntns;
    kernel::unique_fd netns;
    kernel::timer_id timer = kernel::no_id;
  };

  /// Whether `pid` has exited: its pidfd (if any) is readable, or no
  /// process has the pid.
  static bool gone(uint32_t pid, int pidfd) {
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      return ::poll(&p, 1, 0) == 1;
    }
    return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
  }

  void on_exit_readable(const exit_key& key, int revents) {
    auto i = exits_.find(key);
    if (i == exits_.end())
      return;
    if (revents < 0) {
      // Cannot tell; the poller still covers it.
      ++stats_["edge_pidfd_errors"];
      log::warn("a pidfd reported an error; the /proc poller covers its "
                "process",
                {{"pid", std::to_string(key.first)},
                 {"error", std::to_string(revents)}});
      loop_->unwatch(i->second.watch);
      i->second.watch = kernel::no_id;
      i->second.pidfd.reset();
      return;
    }
    ++stats_["edge_pidfd_exits"];
    caf::anon_send(i->second.watcher, process_exited{key.first, key.second});
    release_exit(i);
  }

  /// Drops an exit watch; its namespace fds are closed after the grace.
  void release_exit(std::map<exit_key, exit_watch>::iterator i) {
    auto& w = i->second;
    loop_->unwatch(w.watch);
    if (w.mntns.get() >= 0 || w.netns.get() >= 0) {
      auto id = next_ns_hold_++;
      ns_hold hold;
      hold.mntns = std::move(w.mntns);
      hold.netns = std::move(w.netns);
      hold.timer = loop_->add_timer(cfg_.ns_grace, 0ms,
                                    [this, id] { ns_grace_.erase(id); });
      if (hold.timer != kernel::no_id)
        ns_grace_.emplace(id, std::move(hold));
    }
    exits_.erase(i);
  }

  using event_handler = void (kernel_state::*)(const fanotify_event_metadata&);

  // -- inotify, for the runtime binaries and the state roots

  /// False (and the watch forgotten, logged) when the loop dropped it.
  static bool readable_or_dropped(int revents, kernel::watch_id& id,
                                  const char* what) {
    if (revents >= 0)
      return true;
    log::warn(std::string{"the event loop dropped the inotify watch of the "}
                + what,
              {{"error", std::to_string(revents)}});
    id = kernel::no_id;
    return false;
  }

  /// Reads every queued event of inotify `fd` and hands each to `fn`.
  template <class F>
  static void drain_inotify(int fd, F fn) {
    alignas(inotify_event) char buf[8192];
    for (;;) {
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0)
        return;
      for (ssize_t off = 0; off < n;) {
        auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        fn(*ev);
      }
    }
  }

  // -- runtime binaries that change under us ---------------------------------

  enum class mark_outcome { marked, unchanged, absent, failed };

  struct file_id {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const file_id& other) const {
      return dev == other.dev && ino == other.ino;
    }
  };

  /// Marks what `host_path` names now (following symlinks, as exec does),
  /// unless that inode is marked already.
  mark_outcome mark_binary(const std::string& host_path, std::string& why) {
    struct stat st {};
    if (::stat(host_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return mark_outcome::absent;
    file_id id{st.st_dev, st.st_ino};
    auto i = binaries_.find(host_path);
    if (i != binaries_.end() && i->second == id)
      return mark_outcome::unchanged;
    // The mark goes on the inode: a replaced binary's old inode keeps its
    // mark until it is freed, and execs of it are still seen meanwhile.
    if (!exec_group_.mark(FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, host_path, why))
      return mark_outcome::failed;
    binaries_[host_path] = id;
    return mark_outcome::marked;
  }

  /// An inotify watch on the directory of `host_path` (and, if it is a
  /// symlink, on its target's directory) for names created or renamed in.
  void watch_binary_dir(const std::string& host_path) {
    if (!binaries_inotify_) {
      binaries_inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
      if (!binaries_inotify_) {
        log::warn("cannot watch the runtime binaries' directories: a "
                  "runtime replaced or installed while the agent runs will "
                  "not be seen",
                  {{"error", errno_text(errno)}});
        return;
      }
    }
    auto add = [&](const std::string& path) {
      auto slash = path.find_last_of('/');
      auto dir = slash == 0 ? std::string{"/"} : path.substr(0, slash);
      auto name = path.substr(slash + 1);
      int wd = ::inotify_add_watch(binaries_inotify_.get(), dir.c_str(),
                                   IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
      if (wd < 0)
        return; // no such directory: nothing can appear in it
      binary_names_[wd].emplace(std::move(name), host_path);
    };
    add(host_path);
    char target[PATH_MAX];
    if (::realpath(host_path.c_str(), target) != nullptr && host_path != target)
      add(target);
  }

  void on_binaries_changed(int revents) {
    if (!readable_or_dropped(revents, binaries_watch_, "runtime binaries"))
      return;
    std::set<std::string> changed;
    drain_inotify(binaries_inotify_.get(), [&](const inotify_event& ev) {
      if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        for (auto& [wd, names] : binary_names_)
          for (auto& entry : names)
            changed.insert(entry.second);
        return;
      }
      auto w = binary_names_.find(ev.wd);
      if (w == binary_names_.end() || ev.len == 0)
        return;
      auto range = w->second.equal_range(std::string{ev.name});
      for (auto i = range.first; i != range.second; ++i)
        changed.insert(i->second);
    });
    for (auto& path : changed) {
      std::string why;
      switch (mark_binary(path, why)) {
        case mark_outcome::marked:
          ++stats_["edge_runtime_binaries_remarked"];
          log::info("runtime binary replaced or installed; watching it",
                    {{"path", path}});
          break;
        case mark_outcome::failed:
          log::warn("runtime binary replaced or installed, but cannot be "
                    "watched",
                    {{"path", path}, {"error", why}});
          break;
        case mark_outcome::absent:
        case mark_outcome::unchanged:
          break;
      }
    }
  }

  void on_readable(kernel::fanotify_group& group, kernel::watch_id& id,
                   int revents, event_handler handle) {
    if (revents < 0) {
      fail_group(group, id,
                 "the event loop dropped the watch (libuv error "
                   + std::to_string(revents) + ")");
      return;
    }
    for (int i = 0; i < events_per_wakeup && group.is_open(); ++i) {
      fanotify_event_metadata meta{};
      int err = 0;
      switch (group.read_one(meta, err)) {
        case kernel::fanotify_group::read_result::empty:
          return;
        case kernel::fanotify_group::read_result::lost:
          ++stats_["edge_read_errors"];
          log::error("fanotify could not hand an event over (the kernel "
                     "denied it if it was a permission event)",
                     {{"group", group.name()}, {"error", errno_text(err)}});
          continue;
        case kernel::fanotify_group::read_result::fatal:
          fail_group(group, id,
                     err == EPROTO ? "unexpected event layout (version "
                                       + std::to_string(meta.vers) + ")"
                                   : errno_text(err));
          return;
        case kernel::fanotify_group::read_result::event:
          break;
      }
      if ((meta.mask & FAN_Q_OVERFLOW) != 0) {
        // Never with FAN_UNLIMITED_QUEUE; a permission event lost to an
        // overflow is allowed by the kernel without an answer.
        ++stats_["edge_overflows"];
        log::error("fanotify queue overflowed: events were lost",
                   {{"group", group.name()}});
        if (meta.fd >= 0)
          ::close(meta.fd);
        continue;
      }
      if (meta.fd < 0) { // FAN_NOFD: nothing to answer
        ++stats_["edge_unknown_events"];
        continue;
      }
      if (!kernel::is_permission_mask(meta.mask)) {
        ++stats_["edge_unknown_events"];
        ::close(meta.fd);
        continue;
      }
      (this->*handle)(meta);
    }
  }

  void on_exec_event(const fanotify_event_metadata& meta) {
    // Answered FAN_ALLOW on every path out of here but a hold.
    kernel::held_event ev{&exec_group_, meta.fd};
    if ((meta.mask & FAN_OPEN_EXEC_PERM) == 0) {
      ++stats_["edge_unknown_events"];
      return;
    }
    if (!watcher_) {
      ++stats_["edge_allowed_before_play"];
      return;
    }
    runtime_exec msg;
    // FAN_REPORT_TID: the exec'ing thread, the key of execruntime's map.
    msg.tid = static_cast<uint32_t>(meta.pid);
    // The argv first: once the event is answered, the exec completes and
    // its entry is gone.
    if (!read_argv(msg)) {
      log::warn("runtime exec without an argv; allowed",
                {{"tid", std::to_string(msg.tid)}});
      return;
    }
    ++stats_["edge_runtime_execs"];
    if (!may_be_create(msg.argv)) {
      // Allowed when `ev` goes out of scope; reported without a token.
      ++stats_["edge_allowed_at_read"];
      caf::anon_send(watcher_, std::move(msg));
      return;
    }
    auto token = hold(std::move(ev), "exec");
    if (token == 0)
      return;
    msg.token = token;
    caf::anon_send(watcher_, std::move(msg));
  }

  /// execruntime's entry for the tid, else /proc; false if neither.
  bool read_argv(runtime_exec& msg) {
    if (bpf_) {
      kernel::exec_record rec;
      std::string error;
      if (bpf_->lookup(msg.tid, rec, error)) {
        msg.argv = std::move(rec.argv);
        msg.caller_comm = std::move(rec.comm);
        msg.mntns = rec.mntns;
        msg.euid = rec.euid;
        ++stats_["edge_argv_bpf"];
        if (rec.refetched)
          ++stats_["edge_argv_refetched"];
        return true;
      }
      if (!error.empty())
        log::warn("execruntime lookup failed; trying /proc",
                  {{"tid", std::to_string(msg.tid)}, {"error", error}});
    }
    bool from_syscall = false;
    if (read_proc_exec(root_, msg.tid, msg, from_syscall)) {
      ++stats_[from_syscall ? "edge_argv_syscall" : "edge_argv_proc"];
      return true;
    }
    ++stats_["edge_argv_missing"];
    return false;
  }

  void on_pidfile_event(const fanotify_event_metadata& meta) {
    kernel::held_event ev{&pidfile_group_, meta.fd};
    if ((meta.mask & FAN_ACCESS_PERM) == 0) {
      ++stats_["edge_unknown_events"];
      return;
    }
    struct stat st {};
    if (::fstat(ev.fd(), &st) != 0) {
      ++stats_["edge_read_errors"];
      log::warn("fstat of a pidfile event's fd failed; allowed",
                {{"error", errno_text(errno)}});
      return;
    }
    // By dev+inode, not by name: the runtime may name the pidfile through
    // another path (/var/run -> /run), and it may not have existed when it
    // was watched. Pending pidfiles are few; a stat() each is cheap.
    auto match = watches_.end();
    for (auto i = watches_.begin(); i != watches_.end(); ++i) {
      struct stat ps {};
      if (::stat(i->second.host_path.c_str(), &ps) == 0
          && ps.st_dev == st.st_dev && ps.st_ino == st.st_ino) {
        match = i;
        break;
      }
    }
    if (match == watches_.end()) {
      ++stats_["edge_pidfile_reads_unwatched"];
      ev.allow();
      return;
    }
    const auto& path = match->first;
    auto& w = match->second;
    std::string reason;
    struct stat ls {};
    if (!S_ISREG(st.st_mode))
      reason = "not a regular file";
    else if (::lstat(w.host_path.c_str(), &ls) == 0 && S_ISLNK(ls.st_mode))
      reason = "a symbolic link";
    std::string content;
    if (reason.empty()) {
      // Through the event's own fd, which raises no event: reading by path
      // would raise one on our own group and wait for ourselves.
      char buf[pidfile_read_bytes];
      ssize_t n;
      do {
        n = ::pread(ev.fd(), buf, sizeof(buf), 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0)
        reason = "unreadable through the event's fd: " + errno_text(errno);
      else
        content.assign(buf, static_cast<size_t>(n));
    }
    if (!reason.empty()) {
      // Nothing worth holding for; the watcher still hears of it, with no
      // content and nothing to answer, and fails with its own reason.
      ev.allow();
      ++stats_["edge_pidfile_rejected"];
      log::warn("pidfile read allowed without holding it",
                {{"path", path}, {"reason", reason}});
      caf::anon_send(w.watcher, pidfile_read{0, path, {}});
      return;
    }
    auto token = hold(std::move(ev), "pidfile");
    if (token == 0)
      return;
    ++stats_["edge_pidfile_reads"];
    caf::anon_send(w.watcher, pidfile_read{token, path, std::move(content)});
  }

  /// Keeps `ev` under a new token with the hold deadline as its backstop;
  /// 0 (and `ev` answered) when the loop is stopping.
  uint64_t hold(kernel::held_event ev, const char* what) {
    auto token = next_token_++;
    auto timer = loop_->add_timer(cfg_.hold_deadline, 0ms,
                                  [this, token] { expire(token); });
    if (timer == kernel::no_id)
      return 0;
    held_.emplace(token, hold_entry{std::move(ev), timer, what,
                                    std::chrono::steady_clock::now()});
    ++stats_["edge_held"];
    return token;
  }

  void expire(uint64_t token) {
    auto i = held_.find(token);
    if (i == held_.end())
      return;
    std::string what = i->second.what;
    held_.erase(i);
    ++stats_["edge_hold_deadline_expired"];
    log::warn("hold deadline expired; allowed by the backstop",
              {{"token", std::to_string(token)},
               {"event", what},
               {"deadline_ms", std::to_string(cfg_.hold_deadline.count())}});
  }

  /// Closes a group that cannot be read any more: the kernel then allows
  /// whatever it still holds for it.
  void fail_group(kernel::fanotify_group& group, kernel::watch_id& id,
                  const std::string& why) {
    ++stats_["edge_groups_closed"];
    log::error("fanotify group failed; closed it, so the kernel allows "
               "every event it held",
               {{"group", group.name()}, {"error", why}});
    loop_->unwatch(id);
    id = kernel::no_id;
    group.close();
    // Allowed by the kernel as the group went; only their fds are left.
    for (auto i = held_.begin(); i != held_.end();) {
      if (i->second.ev.group() == &group) {
        loop_->cancel_timer(i->second.timer);
        i = held_.erase(i);
      } else {
        ++i;
      }
    }
    if (&group == &pidfile_group_)
      close_dirs(); // the marks went with the group
  }

  /// Reads and allows whatever is queued; returns how many.
  size_t drain(kernel::fanotify_group& group) {
    size_t n = 0;
    while (group.is_open()) {
      fanotify_event_metadata meta{};
      int err = 0;
      auto r = group.read_one(meta, err);
      if (r == kernel::fanotify_group::read_result::lost)
        continue;
      if (r != kernel::fanotify_group::read_result::event)
        break;
      if (meta.fd < 0)
        continue;
      if (kernel::is_permission_mask(meta.mask)) {
        kernel::held_event{&group, meta.fd}.allow();
        ++n;
      } else {
        ::close(meta.fd);
      }
    }
    return n;
  }

  std::optional<dir_key> acquire_dir(const std::string& dir,
                                     std::string& error) {
    int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      error = dir + ": " + errno_text(errno);
      return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      error = dir + ": " + errno_text(errno);
      ::close(fd);
      return std::nullopt;
    }
    dir_key key{st.st_dev, st.st_ino};
    if (auto i = dirs_.find(key); i != dirs_.end()) {
      ::close(fd);
      ++i->second.refs;
      refresh_config_ignore(i->second);
      return key;
    }
    if (!pidfile_group_.mark(FAN_MARK_ADD, pidfile_dir_mask, fd_path(fd),
                             error)) {
      error = dir + ": " + error;
      ::close(fd);
      return std::nullopt;
    }
    auto& d = dirs_[key];
    d.path = dir;
    d.fd = fd;
    d.refs = 1;
    refresh_config_ignore(d);
    return key;
  }

  /// An ignore mark on `<dir>/config.json` spares the runtime a round trip
  /// through us each time it reads its config in a bundle directory.
  void refresh_config_ignore(dir_entry& d) {
    if (d.config_fd >= 0)
      return;
    // O_NOFOLLOW: a symlink out of the directory is not ours to mark.
    int fd = ::openat(d.fd, "config.json", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return;
    struct stat st {};
    std::string error;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return;
    }
    if (!pidfile_group_.mark(FAN_MARK_ADD | FAN_MARK_IGNORED_MASK
                               | FAN_MARK_IGNORED_SURV_MODIFY,
                             FAN_ACCESS_PERM, fd_path(fd), error)) {
      log::warn("cannot place the ignore mark on config.json",
                {{"dir", d.path}, {"error", error}});
      ::close(fd);
      return;
    }
    d.config_fd = fd;
  }

  void release_dir(const dir_key& key) {
    auto i = dirs_.find(key);
    if (i == dirs_.end() || --i->second.refs > 0)
      return;
    auto& d = i->second;
    std::string error;
    if (d.config_fd >= 0) {
      if (!pidfile_group_.mark(FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK,
                               FAN_ACCESS_PERM, fd_path(d.config_fd), error))
        log::warn("cannot remove the ignore mark on config.json",
                  {{"dir", d.path}, {"error", error}});
      ::close(d.config_fd);
    }
    if (!pidfile_group_.mark(FAN_MARK_REMOVE, pidfile_dir_mask, fd_path(d.fd),
                             error))
      log::warn("cannot remove the pidfile directory's mark",
                {{"dir", d.path}, {"error", error}});
    ::close(d.fd);
    dirs_.erase(i);
  }

  watch_map::iterator drop_watch(watch_map::iterator i) {
    auto key = i->second.dir;
    auto next = watches_.erase(i);
    release_dir(key);
    return next;
  }

  void close_dirs() {
    for (auto& entry : dirs_) {
      if (entry.second.config_fd >= 0)
        ::close(entry.second.config_fd);
      ::close(entry.second.fd);
    }
    dirs_.clear();
  }

  linux_edge_config cfg_;
  /// The host root without trailing slashes ("" for /).
  std::string root_;
  kernel::event_loop* loop_ = nullptr;
  kernel::fanotify_group exec_group_{"exec"};
  kernel::fanotify_group pidfile_group_{"pidfile"};
  kernel::watch_id exec_watch_ = kernel::no_id;
  kernel::watch_id pidfile_watch_ = kernel::no_id;
  std::unique_ptr<kernel::execruntime_reader> bpf_;
  /// Marked runtime binaries: the inode each candidate path named when it
  /// was marked.
  std::map<std::string, file_id> binaries_;
  /// inotify on the candidates' directories: watch descriptor -> the names
  /// in that directory -> the candidate path to re-mark.
  kernel::unique_fd binaries_inotify_;
  std::map<int, std::multimap<std::string, std::string>> binary_names_;
  kernel::watch_id binaries_watch_ = kernel::no_id;
  /// inotify on the runtime state roots: watch descriptor -> roles.
  kernel::unique_fd states_inotify_;
  std::map<int, std::vector<state_role>> state_roles_;
  kernel::watch_id states_watch_ = kernel::no_id;
  /// Container state directories reported (once each, until removed).
  std::set<std::string> reported_states_;
  bool state_watch_error_logged_ = false;
  runtime_watcher_actor watcher_;
  /// /proc under the host root, for start times.
  std::shared_ptr<const host_view> host_;
  /// pidfd_open names pids in our pid namespace: usable when that is the
  /// one the host root's /proc shows (see the constructor).
  bool pidfd_usable_ = false;
  bool pidfd_failure_logged_ = false;
  std::map<exit_key, exit_watch> exits_;
  uint64_t next_ns_hold_ = 1;
  std::map<uint64_t, ns_hold> ns_grace_;
  uint64_t next_token_ = 1;
  /// Held events by token; after the groups, so it goes first.
  std::map<uint64_t, hold_entry> held_;
  watch_map watches_;
  std::map<dir_key, dir_entry> dirs_;
  counters stats_;
  bool down_ = false;
};

// -- the actor ----------------------------------------------------------------

/// The kernel state and the loop thread it lives on. Dropping it answers
/// every held event and closes every fd.
struct edge_core {
  std::unique_ptr<kernel_state> k;
  std::unique_ptr<kernel::event_loop> loop;

  edge_core() = default;
  edge_core(const edge_core&) = delete;
  edge_core& operator=(const edge_core&) = delete;

  ~edge_core() {
    if (loop) {
      auto* ks = k.get();
      // On the loop thread, where the state lives; stop() runs what was
      // posted before it, closes the watches and timers, joins the thread.
      loop->post([ks] { ks->shutdown(); });
      loop->stop();
    }
    // A no-op unless the post was refused; the loop thread is gone by now,
    // so this thread is the state's only user.
    if (k)
      k->shutdown();
  }
};

/// Carries the core into the actor: CAF may keep its copy of the spawn
/// arguments, so the actor moves the core out rather than sharing it.
struct core_box {
  std::unique_ptr<edge_core> core;
};

/// The loop thread's answer to a counters request (see the handler).
using counters_snap_atom = caf::atom_constant<caf::atom("nw_ctrsnap")>;

/// The loop thread's answer to an exit watch.
using exit_watched_atom = caf::atom_constant<caf::atom("nw_exitwd")>;

using edge_impl_actor
  = edge_actor::extend<caf::reacts_to<counters_snap_atom, uint64_t, counters>,
                       caf::reacts_to<exit_watched_atom, uint64_t, bool>>;

struct edge_state {
  std::unique_ptr<edge_core> core;
  kernel_state* k = nullptr;
  uint64_t next_request = 1;
  std::map<uint64_t, caf::typed_response_promise<counters>> pending;
  std::map<uint64_t, caf::typed_response_promise<bool>> pending_exits;
  /// Pidfile watchers monitored (their watches go when they do).
  std::set<caf::actor_addr> monitored;
  /// The runtime watcher given by `play` (monitored too).
  caf::actor_addr played;

  /// Runs `fn` on the loop thread; false once the loop is stopping.
  template <class F>
  bool on_loop(F fn) {
    return core && core->loop && core->loop->post(std::move(fn));
  }

  static inline const char* name = "nw.linux_edge";
};

using edge_ptr = edge_impl_actor::stateful_pointer<edge_state>;

edge_impl_actor::behavior_type linux_edge(edge_ptr self,
                                          std::shared_ptr<core_box> box) {
  auto& st = self->state;
  st.core = std::move(box->core);
  st.k = st.core->k.get();
  // The state (and with it the core) is destroyed when the actor
  // terminates: held events are allowed, the loop stopped, fds closed.
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.played) {
      // Nobody would answer: execs go on at once, as before `play`,
      // rather than each waiting out the hold deadline.
      log::warn("the runtime watcher is gone; runtime execs are allowed "
                "at once");
      st.played = nullptr;
      st.on_loop([k = st.k] { k->play(runtime_watcher_actor{}); });
    }
    if (st.monitored.erase(dm.source) > 0)
      st.on_loop([k = st.k, who = dm.source] { k->forget_watcher(who); });
  });
  return {
    [self](play_atom, runtime_watcher_actor& watcher) {
      auto& st = self->state;
      if (watcher && watcher.address() != st.played) {
        st.played = watcher.address();
        self->monitor(watcher);
      }
      st.on_loop([k = st.k, w = std::move(watcher)]() mutable {
        k->play(std::move(w));
      });
    },
    [self](verdict_atom, uint64_t token) {
      auto& st = self->state;
      st.on_loop([k = st.k, token] { k->verdict(token); });
    },
    [self](watch_atom, std::string& path, pidfile_watcher_actor& watcher) {
      auto& st = self->state;
      if (!watcher) {
        log::warn("pidfile watch without a watcher ignored", {{"path", path}});
        return;
      }
      if (st.monitored.insert(watcher.address()).second)
        self->monitor(watcher);
      // Posted in mailbox order: a watcher's `watch` followed by its
      // verdict on the create takes effect (the mark is placed) before the
      // create may go on.
      st.on_loop(
        [k = st.k, p = std::move(path), w = std::move(watcher)]() mutable {
          k->watch(p, std::move(w));
        });
    },
    [self](unwatch_atom, std::string& path) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      st.on_loop(
        [k = st.k, p = std::move(path), sender] { k->unwatch(p, sender); });
    },
    [self](watch_atom, uint32_t pid, uint64_t start_time,
           exit_watcher_actor& watcher) -> caf::result<bool> {
      // Placed on the loop thread; the reply comes back through a private
      // message, like the counters' (see below).
      auto& st = self->state;
      auto id = st.next_request++;
      auto me = caf::actor_cast<edge_impl_actor>(self);
      if (!st.on_loop([k = st.k, me, id, pid, start_time,
                       w = std::move(watcher)]() mutable {
            auto watched = k->watch_exit(pid, start_time, std::move(w));
            caf::anon_send(me, exit_watched_atom::value, id, watched);
          }))
        return false; // stopping: the poller covers it
      auto promise = self->make_response_promise<bool>();
      st.pending_exits.emplace(id, promise);
      return promise;
    },
    [self](exit_watched_atom, uint64_t id, bool watched) {
      auto& pending = self->state.pending_exits;
      auto i = pending.find(id);
      if (i == pending.end())
        return;
      i->second.deliver(watched);
      pending.erase(i);
    },
    [self](unwatch_atom, uint32_t pid, uint64_t start_time) {
      auto& st = self->state;
      st.on_loop(
        [k = st.k, pid, start_time] { k->unwatch_exit(pid, start_time); });
    },
    [self](get_atom, counters_atom) -> caf::result<counters> {
      // The counters live on the loop thread. A response promise must be
      // delivered on this actor's own thread in CAF 0.17, so the loop does
      // not deliver it: it sends its snapshot back here in a private
      // message and this actor delivers. (A std::atomic per counter would
      // also be safe but gives no consistent snapshot and puts shared
      // mutable state between threads; the round trip keeps the state
      // loop-only, and the snapshot is ordered after everything this
      // requester sent the edge before — a barrier tests rely on.)
      auto& st = self->state;
      auto id = st.next_request++;
      auto me = caf::actor_cast<edge_impl_actor>(self);
      if (!st.on_loop([k = st.k, me, id] {
            caf::anon_send(me, counters_snap_atom::value, id, k->snapshot());
          }))
        return make_error(errc::shutting_down, "the kernel edge is stopping");
      auto promise = self->make_response_promise<counters>();
      st.pending.emplace(id, promise);
      return promise;
    },
    [self](counters_snap_atom, uint64_t id, counters& snapshot) {
      auto& pending = self->state.pending;
      auto i = pending.find(id);
      if (i == pending.end())
        return;
      i->second.deliver(std::move(snapshot));
      pending.erase(i);
    },
  };
}

} // namespace

caf::expected<edge_actor> spawn_linux_edge(caf::actor_system& sys,
                                           linux_edge_config cfg) {
  auto core = std::make_unique<edge_core>();
  core->k = std::make_unique<kernel_state>(std::move(cfg));
  std::string error;
  if (!core->k->open_groups(error) || !core->k->mark_runtimes(error))
    return make_error(errc::kernel_refused, error);
  core->k->load_bpf();
  core->k->watch_state_roots();
  try {
    core->loop = std::make_unique<kernel::event_loop>();
  } catch (const std::exception& e) {
    return make_error(errc::kernel_refused,
                      std::string{"cannot start the event loop: "} + e.what());
  }
  core->k->start(*core->loop);
  auto box = std::make_shared<core_box>();
  box->core = std::move(core);
  return caf::actor_cast<edge_actor>(sys.spawn(linux_edge, std::move(box)));
}

} // namespace nw
