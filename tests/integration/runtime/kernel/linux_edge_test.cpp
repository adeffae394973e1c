// The real kernel edge (runtime/kernel/linux_edge) on a real actor system and
// the real kernel: fanotify permission events on a fake runtime binary (a
// copy of /bin/true passed as a runtime path) and on pidfile directories,
// argv from bpf/execruntime, verdicts by token, the hold deadline as the
// backstop, shutdown allowing what is held, and no fd left behind.
//
// Stand-ins replace the runtime watcher and the pidfile watcher: they record
// what the edge sends into inboxes the test thread waits on (with deadlines;
// no sleep is used as synchronisation). Boost.Test is used only on the test
// thread.
//
// tracefs is not mounted on every host: where it is not, the test moves to a
// private mount namespace first, so the mount the edge makes (it mounts
// tracefs itself when absent) stays out of the host's.
#define BOOST_TEST_MODULE linux_edge
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/kernel_edge.hpp"
#include "messages/type_ids.hpp"
#include "runtime/kernel/event_loop.hpp"
#include "runtime/kernel/linux_edge.hpp"
#include "runtime/kernel/unique_fd.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using nw::kernel::unique_fd;

/// This test's temporary directories.
struct temp_dir : nw::test::temp_dir {
  temp_dir() : nw::test::temp_dir("nw-linux-edge") {}
};

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// How long any single wait may take before the test fails.
constexpr auto wait_limit = 10s;
/// The hold deadline where a test does not exercise it: far above anything
/// "at once" may take, so a wait on it shows.
constexpr auto long_hold = 5000ms;

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err)
         + ")";
}

long ms_since(clock_type::time_point t0) {
  return static_cast<long>(
    std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now()
                                                          - t0)
      .count());
}

// -- the host -----------------------------------------------------------------

struct host_setup {
  host_setup() {
    nw::test::require_root();
    private_mounts_if_no_tracefs();
    // libuv opens a process-wide pipe (its signal lock) with the first loop
    // and keeps it: open it now, so the fd counts compare the edge's fds.
    nw::kernel::event_loop warm_up;
  }

  static void private_mounts_if_no_tracefs() {
    if (::access("/sys/kernel/tracing/events", F_OK) == 0
        || ::access("/sys/kernel/debug/tracing/events", F_OK) == 0)
      return;
    // Before any thread exists: unshare(CLONE_NEWNS) refuses threaded
    // processes.
    if (::unshare(CLONE_NEWNS) != 0
        || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      nw::test::skip(("tracefs is not mounted and a private mount namespace "
                      "for the edge to mount it in failed: "
                      + errno_text(errno))
                       .c_str());
    BOOST_TEST_MESSAGE("tracefs is not mounted: the edge mounts it in this "
                       "test's own mount namespace");
  }
};
BOOST_TEST_GLOBAL_FIXTURE(host_setup);

/// Open fds of this process.
size_t count_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr)
    throw std::runtime_error("opendir /proc/self/fd: " + errno_text(errno));
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n - 1; // the DIR's own
}

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\0', start);
    if (end == std::string::npos)
      end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return std::string{std::istreambuf_iterator<char>{in},
                     std::istreambuf_iterator<char>{}};
}

std::string self_comm() {
  auto comm = slurp("/proc/self/comm");
  while (!comm.empty() && comm.back() == '\n')
    comm.pop_back();
  return comm;
}

uint64_t self_mntns() {
  struct stat st {};
  if (::stat("/proc/self/ns/mnt", &st) != 0)
    throw std::runtime_error("stat /proc/self/ns/mnt: " + errno_text(errno));
  return st.st_ino;
}

/// The parent of `tid` (of its thread group), 0 if it is gone.
pid_t parent_of(uint32_t tid) {
  std::ifstream in{"/proc/" + std::to_string(tid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("PPid:", 0) == 0)
      return static_cast<pid_t>(std::stol(line.substr(5)));
  return 0;
}

// -- RAII ---------------------------------------------------------------------

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << content;
  BOOST_REQUIRE_MESSAGE(out.good(), "writing " << path);
}

/// Polls `fd` for input for at most `limit`; false on timeout.
bool wait_readable(int fd, std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    pollfd p{fd, POLLIN, 0};
    auto n
      = ::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0);
    if (n > 0)
      return true;
    if (n == 0)
      return false;
    if (errno != EINTR)
      throw std::runtime_error("poll: " + errno_text(errno));
  }
}

/// A child process that execs `path` with `args` (stdout to a pipe we
/// read); killed and reaped when dropped.
class child_process {
public:
  child_process(const std::string& path, std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2: " + errno_text(errno));
    unique_fd out_r{out[0]}, out_w{out[1]};
    // Everything the child touches is ready before the fork: the parent
    // has threads, so the child may only make async-signal-safe calls.
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    started_ = clock_type::now();
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork: " + errno_text(errno));
    if (pid_ == 0) {
      ::dup2(out_w.get(), STDOUT_FILENO);
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    out_ = std::move(out_r);
    pidfd_ = unique_fd{static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0))};
    if (pidfd_.get() < 0) {
      auto err = errno;
      reap(true);
      throw std::runtime_error("pidfd_open: " + errno_text(err));
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0)
      reap(true);
  }

  pid_t pid() const {
    return pid_;
  }
  clock_type::time_point started() const {
    return started_;
  }

  /// Kills and reaps it now: its pid is free for reuse.
  void kill_now() {
    if (pid_ > 0)
      reap(true);
  }

  /// Kills and reaps it, and closes its fds.
  void close() {
    kill_now();
    pidfd_.reset();
    out_.reset();
  }

  /// Whether it exits within `limit`; it is not reaped.
  bool exits_within(std::chrono::milliseconds limit) const {
    return wait_readable(pidfd_.get(), limit);
  }

  /// Whether its stdout has anything (or EOF) within `limit`.
  bool output_within(std::chrono::milliseconds limit) const {
    return wait_readable(out_.get(), limit);
  }

  /// Waits (bounded) for the exit; returns the exit code (-1 if signalled).
  int wait() {
    BOOST_REQUIRE_MESSAGE(exits_within(wait_limit),
                          "child " << pid_ << " did not exit in time");
    int status = reap(false);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  /// Its whole stdout; call after wait().
  std::string output() {
    std::string text;
    char buf[256];
    for (;;) {
      auto n = ::read(out_.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text;
  }

private:
  int reap(bool kill_first) {
    if (kill_first)
      ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  pid_t pid_ = -1;
  unique_fd pidfd_;
  unique_fd out_;
  clock_type::time_point started_;
};

// -- inboxes the stand-ins fill -----------------------------------------------

template <class T>
class inbox {
public:
  void push(T x) {
    std::lock_guard<std::mutex> guard{mtx_};
    items_.push_back(std::move(x));
    cv_.notify_all();
  }

  /// Takes the first item matching `pred`, waiting at most `limit`.
  std::optional<T> take(const std::function<bool(const T&)>& pred,
                        std::chrono::milliseconds limit = wait_limit) {
    std::unique_lock<std::mutex> guard{mtx_};
    std::optional<T> out;
    cv_.wait_for(guard, limit, [&] {
      for (auto i = items_.begin(); i != items_.end(); ++i) {
        if (pred(*i)) {
          out = std::move(*i);
          items_.erase(i);
          return true;
        }
      }
      return false;
    });
    return out;
  }

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx_};
    return items_.size();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

// -- stand-in for the runtime watcher -----------------------------------------

struct exec_recorder_state {
  static inline const char* name = "nw.test.exec_recorder";
};

/// Records the execs of this test's children; answers any other exec at
/// once (a real runc run by someone else on the host is none of ours).
nw::runtime_watcher_actor::behavior_type exec_recorder(
  nw::runtime_watcher_actor::stateful_pointer<exec_recorder_state> self,
  std::shared_ptr<inbox<nw::runtime_exec>> box, nw::edge_actor edge) {
  return {
    [self, box, edge](nw::runtime_exec& ev) {
      if (parent_of(ev.tid) != ::getpid()) {
        self->send(edge, nw::verdict_atom::value, ev.token);
        return;
      }
      box->push(std::move(ev));
    },
    [](nw::state_appeared&) {},
  };
}

// -- stand-in for a pidfile watcher -------------------------------------------

/// A pidfile read as the stand-in got it; `held` if the test must answer.
struct recorded_read {
  nw::pidfile_read ev;
  bool held = false;
};

using pidfile_standin_actor = nw::pidfile_watcher_actor::extend<
  caf::replies_to<nw::watch_atom, std::string>::with<nw::counters>,
  caf::replies_to<nw::unwatch_atom, std::string>::with<nw::counters>>;

struct pidfile_standin_state {
  static inline const char* name = "nw.test.pidfile_standin";
};

/// Watches and unwatches as a pidfile watcher does (so the edge sees it as
/// the sender), and replies with the edge's counters once the edge has
/// taken the request in: the edge handles a sender's messages in order, so
/// the counters come after the watch is in place on the loop thread.
///
/// The first `*hold_budget` reads it leaves to the test to answer; later
/// ones it answers at once (cat reads twice: once for the data, once for
/// the end of the file, and each read is a permission event).
pidfile_standin_actor::behavior_type pidfile_standin(
  pidfile_standin_actor::stateful_pointer<pidfile_standin_state> self,
  std::shared_ptr<inbox<recorded_read>> box,
  std::shared_ptr<std::atomic<int>> hold_budget, nw::edge_actor edge) {
  auto barrier = [self, edge] {
    auto promise = self->make_response_promise<nw::counters>();
    self
      ->request(edge, caf::infinite, nw::get_atom::value,
                nw::counters_atom::value)
      .then(
        [promise](nw::counters& c) mutable { promise.deliver(std::move(c)); },
        [promise](caf::error& err) mutable {
          promise.deliver(std::move(err));
        });
    return promise;
  };
  return {
    [self, box, hold_budget, edge](nw::pidfile_read& ev) {
      bool held = false;
      if (ev.token != 0) {
        held = hold_budget->fetch_sub(1) > 0;
        if (!held)
          self->send(edge, nw::verdict_atom::value, ev.token);
      }
      box->push(recorded_read{std::move(ev), held});
    },
    [](nw::state_appeared&) {},
    [self, edge, barrier](nw::watch_atom,
                          std::string& path) -> caf::result<nw::counters> {
      self->send(edge, nw::watch_atom::value, std::move(path),
                 caf::actor_cast<nw::pidfile_watcher_actor>(self));
      return barrier();
    },
    [self, edge, barrier](nw::unwatch_atom,
                          std::string& path) -> caf::result<nw::counters> {
      self->send(edge, nw::unwatch_atom::value, std::move(path));
      return barrier();
    },
  };
}

// -- the fixture --------------------------------------------------------------

caf::actor_system_config& quiet_config(caf::actor_system_config& cfg) {
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  cfg.add_message_types<caf::id_block::nodewatch>();
  return cfg;
}

struct watcher_standin {
  pidfile_standin_actor handle;
  std::shared_ptr<inbox<recorded_read>> reads
    = std::make_shared<inbox<recorded_read>>();
  std::shared_ptr<std::atomic<int>> hold_budget
    = std::make_shared<std::atomic<int>>(0);
};

// -- stand-in for termination
// ---------------------------------------------------

nw::exit_watcher_actor::behavior_type
exit_recorder(std::shared_ptr<inbox<nw::process_exited>> box) {
  return {
    [box](nw::process_exited& ex) { box->push(ex); },
  };
}

/// Field 22 of /proc/PID/stat (0 if unreadable).
uint64_t start_time_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream fields{stat.substr(close + 2)};
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i)
    if (i == 22)
      return std::strtoull(field.c_str(), nullptr, 10);
  return 0;
}

struct edge_fixture {
  edge_fixture() {
    fake = tmp.path() / "nw-fake-runc";
    fs::copy_file("/bin/true", fake);
    fs::permissions(fake, fs::perms::owner_all | fs::perms::group_read
                            | fs::perms::group_exec | fs::perms::others_read
                            | fs::perms::others_exec);
    dir = tmp.path() / "d";
    fs::create_directory(dir);
  }

  ~edge_fixture() {
    for (auto& s : standins)
      caf::anon_send_exit(s->handle, caf::exit_reason::user_shutdown);
    if (recorder)
      caf::anon_send_exit(recorder, caf::exit_reason::user_shutdown);
    if (exit_recorder_handle)
      caf::anon_send_exit(exit_recorder_handle,
                          caf::exit_reason::user_shutdown);
    if (edge)
      caf::anon_send_exit(edge, caf::exit_reason::user_shutdown);
  }

  /// Spawns the edge (fds counted just before) and, if `play`, plays it to
  /// the exec recorder.
  void start(std::chrono::milliseconds hold = long_hold, bool use_bpf = true,
             bool play = true) {
    fds_before = count_fds();
    nw::linux_edge_config cfg;
    cfg.runtime_paths = {fake.string()};
    for (auto& p : extra_runtime_paths)
      cfg.runtime_paths.push_back(p.string());
    cfg.hold_deadline = hold;
    cfg.use_bpf = use_bpf;
    cfg.ns_grace = ns_grace;
    cfg.use_pidfd = use_pidfd;
    auto spawned = nw::spawn_linux_edge(sys, cfg);
    BOOST_REQUIRE_MESSAGE(
      spawned, "the edge did not start: "
                 << (spawned ? std::string{} : nw::render(spawned.error())));
    edge = *spawned;
    recorder = sys.spawn(exec_recorder, execs, edge);
    if (play) {
      // Played before anything execs: the counters come back only after
      // the edge has passed `play` to its loop.
      caf::scoped_actor self{sys};
      self->send(edge, nw::play_atom::value, recorder);
      self
        ->request(edge, wait_limit, nw::get_atom::value,
                  nw::counters_atom::value)
        .receive([](nw::counters&) {},
                 [&](caf::error& err) {
                   BOOST_FAIL("play barrier: " << nw::render(err));
                 });
    }
  }

  /// Has the edge watch the exit of (pid, start time); its reply.
  bool watch_exit(pid_t pid, uint64_t start_time) {
    if (!exit_recorder_handle)
      exit_recorder_handle = sys.spawn(exit_recorder, exits);
    caf::scoped_actor self{sys};
    bool out = false;
    self
      ->request(edge, wait_limit, nw::watch_atom::value,
                static_cast<uint32_t>(pid), start_time, exit_recorder_handle)
      .receive([&](bool watched) { out = watched; },
               [&](caf::error& err) {
                 BOOST_FAIL("exit watch: " << nw::render(err));
               });
    return out;
  }

  /// The exit reported for `pid`, if one comes within `limit`.
  std::optional<nw::process_exited>
  exit_of(pid_t pid, std::chrono::milliseconds limit = wait_limit) {
    return exits->take(
      [pid](const nw::process_exited& e) {
        return e.pid == static_cast<uint32_t>(pid);
      },
      limit);
  }

  /// The edge's counters, once it has handled what this thread sent it.
  nw::counters counters() {
    caf::scoped_actor self{sys};
    nw::counters out;
    self
      ->request(edge, wait_limit, nw::get_atom::value, nw::counters_atom::value)
      .receive(
        [&](nw::counters& c) { out = std::move(c); },
        [&](caf::error& err) { BOOST_FAIL("counters: " << nw::render(err)); });
    return out;
  }

  /// Answers `token`, then waits until the edge has taken it in.
  void verdict(uint64_t token) {
    caf::scoped_actor self{sys};
    self->send(edge, nw::verdict_atom::value, token);
    self
      ->request(edge, wait_limit, nw::get_atom::value, nw::counters_atom::value)
      .receive([](nw::counters&) {},
               [&](caf::error& err) {
                 BOOST_FAIL("verdict barrier: " << nw::render(err));
               });
  }

  watcher_standin& standin() {
    auto s = std::make_unique<watcher_standin>();
    s->handle = sys.spawn(pidfile_standin, s->reads, s->hold_budget, edge);
    standins.push_back(std::move(s));
    return *standins.back();
  }

  /// Has `s` watch (or unwatch) `path`; returns the edge's counters after.
  nw::counters watch(watcher_standin& s, const fs::path& path,
                     bool unwatch = false) {
    caf::scoped_actor self{sys};
    nw::counters out;
    auto ok = [&](nw::counters& c) { out = std::move(c); };
    auto fail = [&](caf::error& err) {
      BOOST_FAIL("(un)watch " << path << ": " << nw::render(err));
    };
    if (unwatch)
      self
        ->request(s.handle, wait_limit, nw::unwatch_atom::value, path.string())
        .receive(ok, fail);
    else
      self->request(s.handle, wait_limit, nw::watch_atom::value, path.string())
        .receive(ok, fail);
    return out;
  }

  /// Exits the edge and waits until it is gone (its state destroyed).
  void stop_edge() {
    caf::scoped_actor self{sys};
    self->monitor(edge);
    self->send_exit(edge, caf::exit_reason::user_shutdown);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(wait_limit) >> [] {});
    BOOST_REQUIRE_MESSAGE(down, "the edge did not stop in time");
    edge = nullptr;
  }

  /// Stops the edge and checks that it took every fd it opened with it.
  void finish() {
    stop_edge();
    BOOST_TEST(count_fds() == fds_before, "fds after the edge stopped");
  }

  /// The exec of the fake runtime by `child`, as the recorder got it.
  nw::runtime_exec exec_of(const child_process& child) {
    auto tid = static_cast<uint32_t>(child.pid());
    auto ev
      = execs->take([tid](const nw::runtime_exec& e) { return e.tid == tid; });
    BOOST_REQUIRE_MESSAGE(ev, "no runtime_exec for child " << tid);
    return *ev;
  }

  child_process cat(const fs::path& path) {
    return child_process{"/bin/cat", {"cat", path.string()}};
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{quiet_config(cfg)};
  temp_dir tmp;
  fs::path fake;
  bool use_pidfd = true;
  /// How long the edge holds an exited process's namespaces.
  std::chrono::milliseconds ns_grace = 6000ms;
  std::shared_ptr<inbox<nw::process_exited>> exits
    = std::make_shared<inbox<nw::process_exited>>();
  nw::exit_watcher_actor exit_recorder_handle;
  /// More runtime paths to watch (they need not exist).
  std::vector<fs::path> extra_runtime_paths;
  fs::path dir;
  size_t fds_before = 0;
  nw::edge_actor edge;
  std::shared_ptr<inbox<nw::runtime_exec>> execs
    = std::make_shared<inbox<nw::runtime_exec>>();
  nw::runtime_watcher_actor recorder;
  std::vector<std::unique_ptr<watcher_standin>> standins;
};

uint64_t at(const nw::counters& c, const std::string& key) {
  auto i = c.find(key);
  BOOST_REQUIRE_MESSAGE(i != c.end(), "no counter " << key);
  return i->second;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(linux_edge, edge_fixture)

// -- runtime execs ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_exec_is_held_until_the_verdict_with_argv_from_bpf) {
  start();
  bool tracefs = ::access("/sys/kernel/tracing/events", F_OK) == 0
                 || ::access("/sys/kernel/debug/tracing/events", F_OK) == 0;
  BOOST_TEST(tracefs, "tracefs is mounted once the edge runs");
  BOOST_TEST(at(counters(), "edge_bpf_argv") == 1u, "execruntime loaded");
  std::vector<std::string> args{fake.string(),
                                "--root",
                                "/run/nw-edge-test",
                                "create",
                                "--bundle",
                                "/run/nw-edge-test/bundle",
                                "--pid-file",
                                "/run/nw-edge-test/pid",
                                "nw-edge-test-distinctive-id"};
  {
    child_process child{fake.string(), args};
    auto ev = exec_of(child);
    BOOST_TEST(ev.token != 0u);
    BOOST_TEST(ev.argv == args, "argv as the exec was given it");
    BOOST_TEST(ev.caller_comm == self_comm());
    BOOST_TEST(ev.mntns == self_mntns());
    BOOST_TEST(ev.euid == ::geteuid());
    // Held: the exec has not completed (the child still runs the image it
    // forked from) and does not for as long as nobody answers.
    BOOST_TEST(!child.exits_within(200ms), "exited before the verdict");
    bool exec_done
      = split_nul(slurp("/proc/" + std::to_string(child.pid()) + "/cmdline"))
        == args;
    BOOST_TEST(!exec_done, "the exec completed before the verdict");
    auto c = counters();
    BOOST_TEST(at(c, "edge_argv_bpf") >= 1u);
    BOOST_TEST(at(c, "edge_argv_proc") == 0u);
    BOOST_TEST(at(c, "edge_holding") >= 1u);
    verdict(ev.token);
    BOOST_TEST(child.wait() == 0, "the fake runtime ran");
    // Answering again, or a token nobody knows, changes nothing.
    verdict(ev.token);
    verdict(ev.token + 1000000);
    c = counters();
    BOOST_TEST(at(c, "edge_allowed") == at(c, "edge_held"));
    BOOST_TEST(at(c, "edge_hold_deadline_expired") == 0u);
    BOOST_TEST(at(c, "edge_holding") == 0u);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(an_unanswered_exec_is_allowed_by_the_hold_deadline) {
  start(300ms);
  {
    child_process child{fake.string(),
                        {fake.string(), "create", "nw-never-answered"}};
    auto ev = exec_of(child);
    BOOST_TEST(ev.argv.size() == 3u);
    BOOST_TEST(child.wait() == 0);
    auto took = ms_since(child.started());
    BOOST_TEST(took >= 290, "allowed after " << took
                                             << " ms, before the "
                                                "300 ms deadline");
    auto c = counters();
    BOOST_TEST(at(c, "edge_hold_deadline_expired") == 1u);
    BOOST_TEST(at(c, "edge_allowed") == 0u);
    BOOST_TEST(at(c, "edge_holding") == 0u);
    // A late verdict finds nothing to answer.
    verdict(ev.token);
    BOOST_TEST(at(counters(), "edge_allowed") == 0u);
  }
  finish();
}

/// Waits (bounded) until the edge has re-marked `n` runtime binaries.
void wait_remarked(edge_fixture& f, uint64_t n) {
  auto deadline = clock_type::now() + wait_limit;
  while (at(f.counters(), "edge_runtime_binaries_remarked") < n
         && clock_type::now() < deadline) {
  }
  BOOST_REQUIRE_EQUAL(at(f.counters(), "edge_runtime_binaries_remarked"), n);
}

BOOST_AUTO_TEST_CASE(a_runtime_binary_replaced_while_running_is_watched_again) {
  start();
  // As a package upgrade does it: a new file renamed over the old one.
  auto next = tmp.path() / "nw-fake-runc.new";
  fs::copy_file("/bin/true", next);
  fs::permissions(next, fs::perms::owner_all);
  fs::rename(next, fake);
  wait_remarked(*this, 1);
  {
    child_process child{fake.string(),
                        {fake.string(), "create", "nw-after-upgrade"}};
    auto ev = exec_of(child);
    BOOST_TEST(ev.token != 0u, "the new binary's create is held");
    verdict(ev.token);
    BOOST_TEST(child.wait() == 0);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(a_runtime_binary_installed_later_is_watched) {
  auto late = tmp.path() / "nw-late-runc";
  extra_runtime_paths = {late};
  start();
  BOOST_TEST(at(counters(), "edge_runtime_binaries_remarked") == 0u);
  fs::copy_file("/bin/true", late);
  fs::permissions(late, fs::perms::owner_all);
  wait_remarked(*this, 1);
  {
    child_process child{late.string(),
                        {late.string(), "create", "nw-installed-later"}};
    auto ev = exec_of(child);
    BOOST_TEST(ev.token != 0u);
    verdict(ev.token);
    BOOST_TEST(child.wait() == 0);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(execs_before_play_are_allowed_at_once) {
  start(long_hold, true, false);
  {
    child_process child{fake.string(), {fake.string(), "nw-before-play"}};
    BOOST_TEST(child.wait() == 0);
    BOOST_TEST(ms_since(child.started()) < 2000);
    auto c = counters();
    BOOST_TEST(at(c, "edge_allowed_before_play") >= 1u);
    BOOST_TEST(at(c, "edge_held") == 0u);
  }
  BOOST_TEST(execs->size() == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(execs_go_on_at_once_once_the_runtime_watcher_is_gone) {
  start();
  BOOST_TEST(at(counters(), "edge_played") == 1u);
  caf::anon_send_exit(recorder, caf::exit_reason::user_shutdown);
  // The edge learns it from a down message: wait (bounded) until it has.
  auto deadline = clock_type::now() + wait_limit;
  while (at(counters(), "edge_played") != 0 && clock_type::now() < deadline) {
  }
  BOOST_REQUIRE(at(counters(), "edge_played") == 0u);
  {
    child_process child{fake.string(), {fake.string(), "nw-no-watcher"}};
    BOOST_TEST(child.wait() == 0);
    BOOST_TEST(ms_since(child.started()) < 2000, "not held to the deadline");
  }
  auto c = counters();
  BOOST_TEST(at(c, "edge_held") == 0u);
  BOOST_TEST(at(c, "edge_allowed_before_play") >= 1u);
  finish();
}

BOOST_AUTO_TEST_CASE(
  an_exec_that_is_no_create_is_allowed_once_its_argv_is_read) {
  // runc's re-exec, start, delete, conmon...: only a create is held (until
  // its pidfile watch exists); the others are reported without a token.
  start();
  {
    child_process child{fake.string(), {fake.string(), "start", "nw-start"}};
    auto ev = exec_of(child);
    BOOST_TEST(ev.token == 0u);
    BOOST_TEST(ev.argv.size() == 3u);
    BOOST_TEST(child.wait() == 0); // nobody answered, nothing waited
    auto c = counters();
    BOOST_TEST(at(c, "edge_allowed_at_read") == 1u);
    BOOST_TEST(at(c, "edge_held") == 0u);
    BOOST_TEST(at(c, "edge_hold_deadline_expired") == 0u);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(without_bpf_argv_comes_from_the_held_callers_memory) {
  start(long_hold, false);
  {
    child_process child{fake.string(), {fake.string(), "nw-proc-fallback"}};
    auto ev = exec_of(child);
    // The exec is held before the new image exists, but the argv it is
    // exec'ing is in the caller's memory, at the pointer that
    // /proc/TID/syscall shows for the execve it is blocked in.
    BOOST_TEST(
      ev.argv == (std::vector<std::string>{fake.string(), "nw-proc-fallback"}),
      boost::test_tools::per_element());
    BOOST_TEST(ev.mntns == self_mntns());
    BOOST_TEST(ev.token == 0u); // no `create` in it: allowed at once
    BOOST_TEST(child.wait() == 0);
    auto c = counters();
    BOOST_TEST(at(c, "edge_bpf_argv") == 0u);
    BOOST_TEST(at(c, "edge_argv_syscall") >= 1u);
    BOOST_TEST(at(c, "edge_argv_bpf") == 0u);
  }
  finish();
}

// -- pidfiles -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_pidfile_read_is_held_and_its_bytes_handed_over) {
  start();
  write_file(dir / "pid", "12345\n");
  write_file(dir / "other", "not a pidfile\n");
  auto& s = standin();
  auto c = watch(s, dir / "pid");
  BOOST_TEST(at(c, "edge_pidfile_watches") == 1u);
  BOOST_TEST(at(c, "edge_pidfile_dirs_marked") == 1u);
  {
    s.hold_budget->store(1);
    auto reader = cat(dir / "pid");
    auto read = s.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->held);
    BOOST_TEST(read->ev.token != 0u);
    BOOST_TEST(read->ev.path == (dir / "pid").string());
    BOOST_TEST(read->ev.content == "12345\n");
    BOOST_TEST(!reader.output_within(200ms), "cat read before the verdict");
    BOOST_TEST(!reader.exits_within(0ms));
    verdict(read->ev.token);
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(reader.output() == "12345\n");
  }
  {
    // Another file in the same (marked) directory: allowed at once.
    auto before = at(counters(), "edge_pidfile_reads_unwatched");
    auto reader = cat(dir / "other");
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(ms_since(reader.started()) < 2000);
    BOOST_TEST(reader.output() == "not a pidfile\n");
    auto c = counters();
    BOOST_TEST(at(c, "edge_pidfile_reads_unwatched") > before);
    BOOST_TEST(at(c, "edge_hold_deadline_expired") == 0u);
  }
  watch(s, dir / "pid", true);
  finish();
}

BOOST_AUTO_TEST_CASE(a_pidfile_written_after_the_watch_is_matched) {
  start();
  auto& s = standin();
  watch(s, dir / "pid");
  write_file(dir / "pid", "777");
  {
    s.hold_budget->store(1);
    auto reader = cat(dir / "pid");
    auto read = s.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->held);
    BOOST_TEST(read->ev.content == "777");
    BOOST_TEST(!reader.exits_within(100ms));
    verdict(read->ev.token);
    BOOST_TEST(reader.wait() == 0);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(a_watch_through_a_symlinked_directory_matches_by_inode) {
  start();
  auto link = tmp.path() / "link";
  fs::create_directory_symlink(dir, link);
  write_file(dir / "pid", "4242\n");
  auto& s = standin();
  watch(s, link / "pid");
  {
    s.hold_budget->store(1);
    // Read through the real directory, watched through the link.
    auto reader = cat(dir / "pid");
    auto read = s.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->held);
    BOOST_TEST(read->ev.path == (link / "pid").string(), "the watched name");
    BOOST_TEST(read->ev.content == "4242\n");
    BOOST_TEST(!reader.exits_within(100ms));
    verdict(read->ev.token);
    BOOST_TEST(reader.wait() == 0);
  }
  finish();
}

BOOST_AUTO_TEST_CASE(only_the_watcher_unwatches_and_the_last_unwatch_unmarks) {
  start();
  write_file(dir / "pid", "1\n");
  write_file(dir / "pid2", "2\n");
  auto& owner = standin();
  auto& other = standin();
  watch(owner, dir / "pid");
  auto c = watch(owner, dir / "pid2");
  BOOST_TEST(at(c, "edge_pidfile_watches") == 2u);
  BOOST_TEST(at(c, "edge_pidfile_dirs_marked") == 1u, "one mark per dir");

  // Someone else's unwatch is refused: the read is still held.
  c = watch(other, dir / "pid", true);
  BOOST_TEST(at(c, "edge_unwatch_refused") == 1u);
  BOOST_TEST(at(c, "edge_pidfile_watches") == 2u);
  {
    owner.hold_budget->store(1);
    auto reader = cat(dir / "pid");
    auto read = owner.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->held);
    BOOST_TEST(!reader.exits_within(100ms));
    verdict(read->ev.token);
    BOOST_TEST(reader.wait() == 0);
  }
  BOOST_TEST(other.reads->size() == 0u);

  // The owner's unwatch: not held any more, though the directory stays
  // marked for pid2 (the read is an event, allowed as unwatched).
  c = watch(owner, dir / "pid", true);
  BOOST_TEST(at(c, "edge_pidfile_watches") == 1u);
  BOOST_TEST(at(c, "edge_pidfile_dirs_marked") == 1u);
  auto unwatched = at(c, "edge_pidfile_reads_unwatched");
  auto reads = owner.reads->size();
  {
    auto reader = cat(dir / "pid");
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(ms_since(reader.started()) < 2000);
    BOOST_TEST(reader.output() == "1\n");
  }
  c = counters();
  BOOST_TEST(at(c, "edge_pidfile_reads_unwatched") > unwatched);
  BOOST_TEST(owner.reads->size() == reads, "nothing handed over");

  // The last watch of the directory goes: so does its mark (no event at
  // all any more).
  c = watch(owner, dir / "pid2", true);
  BOOST_TEST(at(c, "edge_pidfile_watches") == 0u);
  BOOST_TEST(at(c, "edge_pidfile_dirs_marked") == 0u);
  unwatched = at(c, "edge_pidfile_reads_unwatched");
  {
    auto reader = cat(dir / "pid2");
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(reader.output() == "2\n");
  }
  c = counters();
  BOOST_TEST(at(c, "edge_pidfile_reads_unwatched") == unwatched);
  BOOST_TEST(at(c, "edge_hold_deadline_expired") == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(a_symlink_pidfile_is_handed_over_empty_and_not_held) {
  start();
  write_file(dir / "real", "42\n");
  fs::create_symlink(dir / "real", dir / "pid");
  auto& s = standin();
  s.hold_budget->store(1);
  watch(s, dir / "pid");
  {
    auto reader = cat(dir / "pid");
    auto read = s.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->ev.token == 0u, "nothing to answer");
    BOOST_TEST(read->ev.content.empty());
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(ms_since(reader.started()) < 2000);
  }
  auto c = counters();
  BOOST_TEST(at(c, "edge_pidfile_rejected") >= 1u);
  BOOST_TEST(at(c, "edge_held") == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(a_directory_pidfile_is_never_held) {
  start();
  fs::create_directory(dir / "pid");
  auto& s = standin();
  s.hold_budget->store(1);
  watch(s, dir / "pid");
  {
    // A shim's read of it fails at once (EISDIR); a listing is no read of
    // a pidfile either. Neither may wait for the agent.
    auto reader = cat(dir / "pid");
    BOOST_TEST(reader.wait() != 0, "cat of a directory succeeded");
    BOOST_TEST(ms_since(reader.started()) < 2000);
    child_process lister{"/bin/ls", {"ls", (dir / "pid").string()}};
    BOOST_TEST(lister.wait() == 0);
    BOOST_TEST(ms_since(lister.started()) < 2000);
  }
  auto c = counters();
  BOOST_TEST(at(c, "edge_held") == 0u);
  BOOST_TEST(at(c, "edge_hold_deadline_expired") == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(config_json_in_a_watched_directory_raises_no_event) {
  start();
  write_file(dir / "config.json", "{}\n");
  write_file(dir / "other", "x");
  auto& s = standin();
  auto unwatched = at(watch(s, dir / "pid"), "edge_pidfile_reads_unwatched");
  {
    auto reader = cat(dir / "config.json");
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(reader.output() == "{}\n");
  }
  BOOST_TEST(at(counters(), "edge_pidfile_reads_unwatched") == unwatched,
             "the ignore mark spared config.json's reads");
  {
    auto reader = cat(dir / "other");
    BOOST_TEST(reader.wait() == 0);
  }
  BOOST_TEST(at(counters(), "edge_pidfile_reads_unwatched") > unwatched,
             "a sibling's reads are events (the check is not vacuous)");
  finish();
}

// -- shutdown -----------------------------------------------------------------

// -- process exits (pidfd) ----------------------------------------------------

BOOST_AUTO_TEST_CASE(an_exit_is_reported_at_once_and_namespaces_held_a_while) {
  ns_grace = 300ms;
  start();
  child_process child{"/bin/sleep", {"sleep", "30"}};
  auto start_time = start_time_of(child.pid());
  BOOST_REQUIRE(start_time != 0u);
  BOOST_TEST(watch_exit(child.pid(), start_time), "watched by a pidfd");
  auto c = counters();
  BOOST_TEST(at(c, "edge_pidfd_watched") == 1u);
  BOOST_TEST(at(c, "edge_exit_watches") == 1u);
  BOOST_TEST(!exit_of(child.pid(), 100ms), "an exit before the kill");
  auto killed = clock_type::now();
  ::kill(child.pid(), SIGKILL);
  // Reported from the exit on, before anybody reaps the child.
  auto ex = exit_of(child.pid());
  BOOST_REQUIRE(ex);
  BOOST_TEST(ex->start_time == start_time);
  BOOST_TEST_MESSAGE("exit reported " << ms_since(killed)
                                      << " ms after the SIGKILL");
  c = counters();
  BOOST_TEST(at(c, "edge_pidfd_exits") == 1u);
  BOOST_TEST(at(c, "edge_exit_watches") == 0u);
  BOOST_TEST(at(c, "edge_ns_held_after_exit") == 1u, "namespaces held");
  // ... until the grace has passed (bounded wait).
  auto deadline = clock_type::now() + wait_limit;
  while (at(counters(), "edge_ns_held_after_exit") != 0
         && clock_type::now() < deadline) {
  }
  BOOST_TEST(at(counters(), "edge_ns_held_after_exit") == 0u);
  BOOST_TEST(ms_since(killed) >= 290, "released after the grace");
  child.close();
  finish();
}

BOOST_AUTO_TEST_CASE(a_pid_that_is_gone_is_reported_exited_at_once) {
  start();
  pid_t pid = 0;
  uint64_t start_time = 0;
  {
    child_process child{"/bin/true", {"true"}};
    pid = child.pid();
    BOOST_TEST(child.wait() == 0);
    start_time = 1; // reaped: no /proc entry to read any more
  }
  BOOST_TEST(watch_exit(pid, start_time));
  BOOST_TEST(exit_of(pid).has_value(), "no exit for a pid already gone");
  BOOST_TEST(at(counters(), "edge_exit_watches") == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(a_reused_pid_is_never_taken_for_the_watched_process) {
  start();
  // The watched process exits and is reaped; a new one gets its pid (the
  // kernel's ns_last_pid makes it the next one handed out).
  std::optional<child_process> old_one;
  old_one.emplace("/bin/sleep", std::vector<std::string>{"sleep", "30"});
  auto pid = old_one->pid();
  auto old_start = start_time_of(pid);
  BOOST_REQUIRE(old_start != 0u);
  old_one.reset(); // killed and reaped
  // Start times count clock ticks (10 ms): a reuser started in the same
  // tick would be the same process by (pid, start time), so retry until
  // the clock has moved on (bounded).
  std::unique_ptr<child_process> reuser;
  auto deadline = clock_type::now() + wait_limit;
  while (!reuser && clock_type::now() < deadline) {
    std::ofstream{"/proc/sys/kernel/ns_last_pid"} << (pid - 1);
    auto next = std::make_unique<child_process>(
      "/bin/sleep", std::vector<std::string>{"sleep", "30"});
    if (next->pid() == pid && start_time_of(pid) != old_start)
      reuser = std::move(next);
  }
  BOOST_REQUIRE_MESSAGE(reuser, "could not get pid " << pid << " reused");
  // Its start time differs, so the watch reports the old one exited ...
  BOOST_TEST(watch_exit(pid, old_start));
  auto ex = exit_of(pid);
  BOOST_REQUIRE(ex);
  BOOST_TEST(ex->start_time == old_start);
  auto c = counters();
  BOOST_TEST(at(c, "edge_pidfd_reused") == 1u);
  BOOST_TEST(at(c, "edge_exit_watches") == 0u);
  // ... and the new process is not watched: its exit is nobody's.
  reuser->kill_now();
  BOOST_TEST(!exit_of(pid, 300ms), "the reusing process was watched");
  reuser.reset();
  finish();
}

BOOST_AUTO_TEST_CASE(without_fds_to_spare_the_poller_is_left_to_cover_it) {
  start();
  child_process child{"/bin/sleep", {"sleep", "30"}};
  auto start_time = start_time_of(child.pid());
  // Every fd below the limit in use: pidfd_open gets EMFILE.
  rlimit old_limit{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_limit) == 0);
  int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(probe >= 0);
  ::close(probe);
  rlimit low = old_limit;
  low.rlim_cur = static_cast<rlim_t>(probe);
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  bool watched = watch_exit(child.pid(), start_time);
  ::setrlimit(RLIMIT_NOFILE, &old_limit);
  BOOST_TEST(!watched, "watched without a pidfd");
  BOOST_TEST(at(counters(), "edge_pidfd_failed") >= 1u);
  auto pid = child.pid();
  child.close();
  BOOST_TEST(!exit_of(pid, 200ms), "reported without a pidfd");
  finish();
}

BOOST_AUTO_TEST_CASE(pidfds_off_leaves_exits_to_the_poller) {
  use_pidfd = false;
  start();
  child_process child{"/bin/sleep", {"sleep", "30"}};
  BOOST_TEST(!watch_exit(child.pid(), start_time_of(child.pid())));
  auto pid = child.pid();
  child.close();
  BOOST_TEST(!exit_of(pid, 200ms));
  BOOST_TEST(at(counters(), "edge_pidfd_watched") == 0u);
  finish();
}

BOOST_AUTO_TEST_CASE(stopping_the_edge_allows_everything_it_holds) {
  start(30000ms);
  write_file(dir / "pid", "99\n");
  auto& s = standin();
  s.hold_budget->store(1);
  watch(s, dir / "pid");
  {
    child_process exec{fake.string(),
                       {fake.string(), "create", "nw-held-at-stop"}};
    exec_of(exec);
    auto reader = cat(dir / "pid");
    auto read = s.reads->take([](const recorded_read&) { return true; });
    BOOST_REQUIRE(read);
    BOOST_TEST(read->held);
    BOOST_TEST(at(counters(), "edge_holding") == 2u);
    BOOST_TEST(!exec.exits_within(0ms));
    BOOST_TEST(!reader.exits_within(0ms));

    auto t0 = clock_type::now();
    stop_edge();
    BOOST_TEST(exec.wait() == 0);
    BOOST_TEST(reader.wait() == 0);
    BOOST_TEST(reader.output() == "99\n");
    BOOST_TEST(ms_since(t0) < 2000, "held ones went on within "
                                      << ms_since(t0)
                                      << " ms of the stop, not at the "
                                         "30 s deadline");
  }
  // The children's pidfds and pipes are closed again: only the edge's
  // fds could be left.
  BOOST_TEST(count_fds() == fds_before, "fds after the edge stopped");
}

BOOST_AUTO_TEST_CASE(no_runtime_binary_is_an_error) {
  nw::linux_edge_config cfg;
  cfg.host_root = tmp.path().string(); // nothing under it
  cfg.use_bpf = false;
  auto before = count_fds();
  auto spawned = nw::spawn_linux_edge(sys, cfg);
  BOOST_REQUIRE(!spawned);
  BOOST_TEST(nw::render(spawned.error()).find("no runtime binary")
             != std::string::npos);
  BOOST_TEST(count_fds() == before, "the groups closed again");
}

BOOST_AUTO_TEST_SUITE_END()
