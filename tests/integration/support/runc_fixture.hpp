// Real runc containers for integration tests and benchmarks, driven as
// containerd's shim drives runc (DESIGN.md, "Lessons from the anchor": only
// create → pidfile read → start can be held; `runc run` cannot):
//
//   runc --root R create --bundle B --pid-file B/init.pid ID   (waits for 0)
//   read B/init.pid                     (the read an agent holds)
//   runc --root R start ID              (at once after the read returns)
//   wait for the container's init to exit (we are its subreaper, like a shim)
//   runc --root R delete --force ID
//
// Everything lives under one temp dir (bundles, each with a busybox-static
// rootfs hard-linked from one copy, runc's private `--root`, logs) and is
// cleaned up by destructors, on failure too: `delete --force` for every
// container still known to runc, SIGKILL for an init still alive, then
// `rm -rf`. Processes are started with posix_spawn and argv vectors, never
// through a shell. config.json is `runc spec`'s (run once per runc_env) with
// process.terminal=false, process.args, root.readonly=false and a hostname.
// A runc_env makes the whole process a child subreaper (as a shim is).
// Container ids are `PREFIX-PID-N`: runc names the cgroups (/ID in every
// hierarchy here) after them, so concurrent test binaries never collide.
//
// fake_runc is a shell script named `runc` that writes a chosen pidfile on
// `create`: bad input for an agent watching it as an extra runtime path.
//
//   nw::test::require_runc();            // exit 77 with a reason if unusable
//   nw::test::runc_env env;              // temp dir, spec template, --root
//   nw::test::runc_container c{env, {{"/bin/sh", "-c", "echo hi"}}};
//   c.create();
//   auto pid = c.read_pid();             // c.last_read() has the timings
//   c.start();
//   auto status = c.wait_exit();         // wait(2) status of the init
//   c.remove();
//   // c.output() == "hi\n"
//
// Header-only; needs nlohmann_json::nlohmann_json and Threads.
#pragma once

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/kernel/unique_fd.hpp"
#include "tests/support/skip.hpp"

extern char** environ;

namespace nw::test {

namespace runc_fs = std::filesystem;
using runc_clock = std::chrono::steady_clock;

/// A step of the fixture failed; the message says which and why (with the
/// runtime's output when there is one).
struct runc_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace runc_detail {

inline std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err)
         + ")";
}

[[noreturn]] inline void fail(const std::string& what) {
  throw runc_error{what};
}

inline int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

inline int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(
    ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

/// Milliseconds from now until `deadline` (0 if past), for poll(2).
inline int ms_until(runc_clock::time_point deadline) {
  auto now = runc_clock::now();
  if (deadline <= now)
    return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return static_cast<int>(std::min<int64_t>(ms.count(), 60'000));
}

/// Waits until the process behind `pidfd` has exited or `deadline` passed.
inline bool wait_pidfd(int pidfd, runc_clock::time_point deadline) {
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    auto n = ::poll(&p, 1, ms_until(deadline));
    if (n > 0)
      return true;
    if (n < 0 && errno != EINTR)
      fail("poll on a pidfd: " + errno_text(errno));
    if (n == 0 && runc_clock::now() >= deadline)
      return false;
  }
}

/// Reaps `pid` if it is our child and has exited (waits for it unless
/// `nohang`); nullopt if it is not our child (ECHILD) or still running.
inline std::optional<int> reap(pid_t pid, bool nohang = false) {
  int status = 0;
  for (;;) {
    auto r = ::waitpid(pid, &status, nohang ? WNOHANG : 0);
    if (r == pid)
      return status;
    if (r < 0 && errno == EINTR)
      continue;
    return std::nullopt;
  }
}

/// A human reading of a wait(2) status.
inline std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string{"signal "} + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

/// The whole of a small file, or "" if it cannot be read.
inline std::string slurp(const runc_fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Whether `path` is an executable regular file.
inline bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

/// Whether `path` is an ELF executable without a program interpreter
/// (statically linked): only such a busybox runs in an empty rootfs.
inline bool is_static_elf(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  Elf64_Ehdr eh{};
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof(eh))
      || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0
      || eh.e_ident[EI_CLASS] != ELFCLASS64
      || eh.e_phentsize != sizeof(Elf64_Phdr))
    return false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    in.seekg(static_cast<std::streamoff>(eh.e_phoff + i * sizeof(ph)));
    if (!in.read(reinterpret_cast<char*>(&ph), sizeof(ph)))
      return false;
    if (ph.p_type == PT_INTERP)
      return false;
  }
  return true;
}

} // namespace runc_detail

// -- finding the tools --------------------------------------------------------

/// The first executable `name` on PATH or in the sbin directories (which
/// are not on a normal user's PATH on Debian); "" if none.
inline std::string find_program(const std::string& name) {
  std::vector<std::string> dirs;
  if (auto path = std::getenv("PATH")) {
    std::stringstream in{path};
    for (std::string dir; std::getline(in, dir, ':');)
      if (!dir.empty())
        dirs.push_back(dir);
  }
  for (auto dir : {"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"})
    dirs.emplace_back(dir);
  for (auto& dir : dirs)
    if (auto p = dir + "/" + name; runc_detail::is_executable(p))
      return p;
  return {};
}

/// Where busybox-static lives on Debian.
inline std::string busybox_static_path() {
  for (auto p : {"/bin/busybox", "/usr/bin/busybox"})
    if (runc_detail::is_executable(p) && runc_detail::is_static_elf(p))
      return p;
  return {};
}

/// Skips the test binary (exit 77, with the reason) unless real runc
/// containers can run here: root, runc and a static busybox.
inline void require_runc() {
  if (geteuid() != 0)
    skip("needs root (runc containers, fanotify, BPF)");
  if (find_program("runc").empty())
    skip("runc not found (Debian: apt-get install runc)");
  if (busybox_static_path().empty())
    skip("no statically linked busybox at /bin/busybox (Debian: apt-get "
         "install busybox-static): the container rootfs needs one");
}

// -- /proc --------------------------------------------------------------------

/// What /proc says about one process at one moment (what a subscriber
/// checks on `added` before it acks).
struct proc_probe {
  /// /proc/PID/comm could be read.
  bool ok = false;
  /// /proc/PID/comm without the newline (`runc:[2:INIT]` before the exec).
  std::string comm;
  /// Inodes of /proc/PID/ns/mnt and /proc/PID/ns/net (0 if unreadable).
  uint64_t mntns = 0;
  uint64_t netns = 0;
  /// Field 22 of /proc/PID/stat (clock ticks since boot; 0 if unreadable).
  uint64_t start_time = 0;
  /// Field 3 of /proc/PID/stat (R, S, Z, ...; 0 if unreadable).
  char state = 0;
};

/// Reads comm, the mount and network namespaces and the start time of
/// `pid` ("self" for this process when pid is 0).
inline proc_probe probe_process(pid_t pid) {
  proc_probe p;
  auto dir = std::string{"/proc/"} + (pid == 0 ? "self" : std::to_string(pid));
  {
    std::ifstream in{dir + "/comm"};
    if (std::getline(in, p.comm))
      p.ok = true;
  }
  struct stat st {};
  if (::stat((dir + "/ns/mnt").c_str(), &st) == 0)
    p.mntns = st.st_ino;
  if (::stat((dir + "/ns/net").c_str(), &st) == 0)
    p.netns = st.st_ino;
  auto stat_line = runc_detail::slurp(dir + "/stat");
  if (auto paren = stat_line.rfind(')'); paren != std::string::npos) {
    // After "pid (comm) ": field 3 (state) onwards; start time is field 22.
    std::istringstream in{stat_line.substr(paren + 2)};
    std::string field;
    for (int i = 3; i <= 22 && in >> field; ++i)
      if (i == 3)
        p.state = field.empty() ? 0 : field[0];
      else if (i == 22)
        p.start_time = std::strtoull(field.c_str(), nullptr, 10);
  }
  return p;
}

/// Open file descriptors of this process (/proc/self/fd).
inline size_t count_open_fds() {
  size_t n = 0;
  std::error_code ec;
  for (auto it = runc_fs::directory_iterator{"/proc/self/fd", ec};
       !ec && it != runc_fs::directory_iterator{}; it.increment(ec))
    ++n;
  return n;
}

// -- processes ----------------------------------------------------------------

/// A child started with posix_spawn: stdin from /dev/null, stdout and stderr
/// appended to `log` ("" = /dev/null). Killed and reaped if still running
/// when destroyed.
class child_process {
public:
  child_process(const std::vector<std::string>& argv, const std::string& log) {
    using namespace runc_detail;
    if (argv.empty())
      fail("spawn: empty argv");
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    auto out = log.empty() ? std::string{"/dev/null"} : log;
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    auto err
      = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
      fail("spawn " + argv[0] + ": " + errno_text(err));
    // Not reaped yet, so the pid cannot have been reused.
    pidfd_.reset(pidfd_open(pid_));
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      runc_detail::reap(pid_);
    }
  }

  pid_t pid() const {
    return pid_;
  }

  /// The wait(2) status once exited; nullopt if `deadline` passed first.
  std::optional<int> wait_until(runc_clock::time_point deadline) {
    if (status_)
      return status_;
    if (pidfd_) {
      if (!runc_detail::wait_pidfd(pidfd_.get(), deadline))
        return std::nullopt;
    } else {
      // No pidfd (older kernel): poll waitpid.
      for (;;) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_)
          return status_ = st;
        if (runc_clock::now() >= deadline)
          return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
      }
    }
    status_ = runc_detail::reap(pid_);
    return status_;
  }

private:
  pid_t pid_ = -1;
  nw::kernel::unique_fd pidfd_;
  std::optional<int> status_;
};

/// Runs `argv` to completion within `timeout`; the wait(2) status. Throws
/// (after killing it) if it does not finish in time.
inline int run_process(const std::vector<std::string>& argv,
                       const std::string& log,
                       std::chrono::milliseconds timeout) {
  child_process child{argv, log};
  auto st = child.wait_until(runc_clock::now() + timeout);
  if (!st)
    runc_detail::fail(argv[0] + " did not finish within "
                      + std::to_string(timeout.count()) + " ms");
  return *st;
}

/// What run_output() saw.
struct process_output {
  /// The wait(2) status.
  int status = 0;
  /// stdout and stderr, interleaved.
  std::string output;

  bool ok() const {
    return status == 0;
  }
};

/// Runs `argv` to completion within `timeout`, its output going to `log`
/// (truncated first), and returns the status and that output. Throws (after
/// killing it) if it does not finish in time.
inline process_output run_output(const std::vector<std::string>& argv,
                                 const runc_fs::path& log,
                                 std::chrono::milliseconds timeout) {
  std::error_code ec;
  runc_fs::remove(log, ec);
  process_output r;
  r.status = run_process(argv, log.string(), timeout);
  r.output = runc_detail::slurp(log);
  return r;
}

// -- the busybox rootfs -------------------------------------------------------

/// Busybox applets the test rootfs links by default.
inline std::vector<std::string> default_applets() {
  return {"sh", "cat", "echo", "ls", "sleep", "true"};
}

/// Makes a busybox-static rootfs at `rootfs` (DESIGN.md, "Test fixtures that
/// work here"): bin/busybox hard-linked from `busybox` (copied if the link
/// fails), a symlink per applet, and empty etc/ tmp/ proc/ sys/ dev/.
inline void make_busybox_rootfs(const runc_fs::path& rootfs,
                                const runc_fs::path& busybox,
                                const std::vector<std::string>& applets) {
  for (auto sub : {"bin", "etc", "tmp", "proc", "sys", "dev"})
    runc_fs::create_directories(rootfs / sub);
  std::error_code ec;
  runc_fs::create_hard_link(busybox, rootfs / "bin" / "busybox", ec);
  if (ec)
    runc_fs::copy_file(busybox, rootfs / "bin" / "busybox");
  for (auto& applet : applets)
    runc_fs::create_symlink("busybox", rootfs / "bin" / applet);
}

// -- the environment ----------------------------------------------------------

/// One temp dir holding every bundle, a spec template from `runc spec` and
/// runc's private state root. Makes this process a child subreaper, as a
/// shim is, so containers' inits become our children and are reaped by us.
class runc_env {
public:
  /// `runtime`: the binary driven (default: runc from PATH); the config
  /// template always comes from the real runc's `runc spec`.
  /// `cleanup_runtime`: what deletes the containers left under root() when
  /// the env goes (default: the real runc; give `runtime` when it is another
  /// real runtime, e.g. crun, whose state runc cannot read).
  explicit runc_env(std::string runtime = {}, std::string cleanup_runtime = {})
      : runtime_(std::move(runtime)),
        cleanup_runtime_(std::move(cleanup_runtime)) {
    using namespace runc_detail;
    real_runc_ = find_program("runc");
    if (real_runc_.empty())
      fail("runc not found (call require_runc() first)");
    if (runtime_.empty())
      runtime_ = real_runc_;
    if (cleanup_runtime_.empty())
      cleanup_runtime_ = real_runc_;
    busybox_ = busybox_static_path();
    if (busybox_.empty())
      fail("no static busybox (call require_runc() first)");
    char tmpl[] = "/tmp/nw-runc-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      fail(std::string{"mkdtemp: "} + errno_text(errno));
    dir_ = tmpl;
    try {
      // A shim is the subreaper of its container: its init is reparented
      // to us once `runc create` exits, and we reap it.
      if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fail("PR_SET_CHILD_SUBREAPER: " + errno_text(errno));
      runc_fs::create_directories(dir_ / "spec");
      runc_fs::create_directories(dir_ / "bundles");
      runc_fs::create_directories(dir_ / "logs");
      auto log = (dir_ / "logs" / "spec.log").string();
      auto st = run_process(
        {real_runc_, "spec", "--bundle", (dir_ / "spec").string()}, log,
        std::chrono::seconds{10});
      if (st != 0)
        fail("runc spec: " + describe_status(st) + ": " + slurp(log));
      std::ifstream in{dir_ / "spec" / "config.json"};
      spec_ = nlohmann::json::parse(in);
      // The one busybox every rootfs hard-links (same file system).
      runc_fs::copy_file(busybox_, dir_ / "busybox");
    } catch (...) {
      std::error_code ec;
      runc_fs::remove_all(dir_, ec);
      throw;
    }
  }

  runc_env(const runc_env&) = delete;
  runc_env& operator=(const runc_env&) = delete;

  /// Deletes every container the cleanup runtime still knows under our
  /// root, then the dir.
  ~runc_env() {
    std::error_code ec;
    auto state = root();
    if (runc_fs::is_directory(state, ec)) {
      for (auto& entry : runc_fs::directory_iterator{state, ec}) {
        auto id = entry.path().filename().string();
        try {
          run_process({cleanup_runtime_, "--root", state.string(), "delete",
                       "--force", id},
                      {}, std::chrono::seconds{10});
        } catch (...) {
        }
      }
    }
    runc_fs::remove_all(dir_, ec);
  }

  /// The temp dir.
  const runc_fs::path& dir() const {
    return dir_;
  }

  /// runc's private `--root` (created by runc on first use).
  runc_fs::path root() const {
    return dir_ / "state";
  }

  /// The runtime binary this env drives.
  const std::string& runtime() const {
    return runtime_;
  }

  /// The real runc (used for cleanup even when `runtime()` is a fake).
  const std::string& real_runc() const {
    return real_runc_;
  }

  /// `runc spec`'s config.json, parsed.
  const nlohmann::json& spec() const {
    return spec_;
  }

  /// The master copy of busybox under dir().
  runc_fs::path busybox() const {
    return dir_ / "busybox";
  }

  /// A container id unique in this process and among concurrent tests:
  /// `PREFIX-PID-N` (runc names cgroups after it).
  std::string unique_id(const std::string& prefix = "nwt") {
    return prefix + "-" + std::to_string(::getpid()) + "-"
           + std::to_string(++counter_);
  }

private:
  std::string runtime_;
  std::string cleanup_runtime_;
  std::string real_runc_;
  std::string busybox_;
  runc_fs::path dir_;
  nlohmann::json spec_;
  std::atomic<uint64_t> counter_{0};
};

// -- a fake runtime -----------------------------------------------------------

/// A shell script named `runc` in a temp dir of its own, for bad input: on
/// `create ... --pid-file P ...` it writes the bytes set by
/// pidfile_content() to P and exits 0; every other command exits 0. Watch
/// it with the agent's extra runtime paths; drive it with
/// `runc_env env{fake.path()}`.
class fake_runc {
public:
  fake_runc() {
    char tmpl[] = "/tmp/nw-fake-runc-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      runc_detail::fail(std::string{"mkdtemp: "}
                        + runc_detail::errno_text(errno));
    dir_ = tmpl;
    {
      std::ofstream out{path()};
      out << "#!/bin/sh\n"
             "# nodewatch test fake: create writes the chosen pidfile.\n"
             "cmd=\n"
             "pidfile=\n"
             "while [ $# -gt 0 ]; do\n"
             "  case $1 in\n"
             "    --pid-file) pidfile=$2; shift ;;\n"
             "    --root|--bundle|-b|--log|--log-format) shift ;;\n"
             "    -*) ;;\n"
             "    *) if [ -z \"$cmd\" ]; then cmd=$1; fi ;;\n"
             "  esac\n"
             "  shift\n"
             "done\n"
             "if [ \"$cmd\" = create ] && [ -n \"$pidfile\" ]; then\n"
             "  cat \"${0%/*}/pidfile-content\" >\"$pidfile\" || exit 1\n"
             "fi\n"
             "exit 0\n";
    }
    runc_fs::permissions(
      path(), runc_fs::perms::owner_all | runc_fs::perms::group_read
                | runc_fs::perms::group_exec | runc_fs::perms::others_read
                | runc_fs::perms::others_exec);
    pidfile_content("");
  }

  fake_runc(const fake_runc&) = delete;
  fake_runc& operator=(const fake_runc&) = delete;

  ~fake_runc() {
    std::error_code ec;
    runc_fs::remove_all(dir_, ec);
  }

  /// The script (its basename is `runc`).
  std::string path() const {
    return (dir_ / "runc").string();
  }

  /// What the next `create` writes to its pidfile.
  void pidfile_content(const std::string& bytes) const {
    std::ofstream out{dir_ / "pidfile-content", std::ios::binary};
    out << bytes;
  }

private:
  runc_fs::path dir_;
};

// -- bundles ------------------------------------------------------------------

/// How to make a bundle.
struct bundle_options {
  /// process.args.
  std::vector<std::string> args = {"/bin/true"};
  /// A distinctive hostname, to tell our containers apart.
  std::string hostname = "nodewatch-test";
  /// Busybox applets linked into rootfs/bin.
  std::vector<std::string> applets = default_applets();
};

/// An OCI bundle under env.dir()/bundles/ID: config.json from the spec
/// template (process.terminal=false, process.args, root.readonly=false, the
/// hostname) and a busybox rootfs. Removed by the destructor.
class runc_bundle {
public:
  runc_bundle(runc_env& env, const std::string& id, const bundle_options& opts)
      : dir_(env.dir() / "bundles" / id) {
    using namespace runc_detail;
    if (id.empty() || id.find('/') != std::string::npos || id == "."
        || id == "..")
      dir_ = env.dir() / "bundles" / ("odd-" + env.unique_id("bundle"));
    std::error_code ec;
    if (runc_fs::exists(dir_, ec))
      fail("bundle " + dir_.string() + " exists already");
    make_busybox_rootfs(dir_ / "rootfs", env.busybox(), opts.applets);
    config = env.spec();
    config["process"]["terminal"] = false;
    config["process"]["args"] = opts.args;
    config["root"]["path"] = "rootfs";
    config["root"]["readonly"] = false;
    config["hostname"] = opts.hostname;
    write_config();
  }

  runc_bundle(const runc_bundle&) = delete;
  runc_bundle& operator=(const runc_bundle&) = delete;

  ~runc_bundle() {
    std::error_code ec;
    runc_fs::remove_all(dir_, ec);
  }

  const runc_fs::path& dir() const {
    return dir_;
  }

  runc_fs::path config_path() const {
    return dir_ / "config.json";
  }

  /// Where the shim asks runc to write the pid (containerd: B/init.pid).
  runc_fs::path pid_file() const {
    return dir_ / "init.pid";
  }

  /// Writes `config` to config.json.
  void write_config() const {
    std::ofstream out{config_path(), std::ios::trunc};
    out << config.dump(2);
    if (!out)
      runc_detail::fail("cannot write " + config_path().string());
  }

  /// config.json's content; change it, then write_config().
  nlohmann::json config;

private:
  runc_fs::path dir_;
};

// -- one container, driven as a shim does -------------------------------------

/// What reading the pidfile looked like.
struct pidfile_read_result {
  /// The bytes read (at most 4 KiB).
  std::string content;
  /// open(2) returned an error (e.g. ENOENT): errno, else 0.
  int error = 0;
  runc_clock::time_point began;
  /// When the read returned (the shim would start the container now).
  runc_clock::time_point returned;

  std::chrono::nanoseconds duration() const {
    return returned - began;
  }
};

/// One container: its bundle, and the shim's steps. The destructor deletes
/// it (`delete --force`), kills an init still alive and removes the bundle.
class runc_container {
public:
  /// Steps a container may be at.
  enum class stage { bundled, created, started, exited, deleted };

  runc_container(runc_env& env, const bundle_options& opts, std::string id = {},
                 std::chrono::milliseconds step_timeout
                 = std::chrono::seconds{20})
      : env_(env), id_(id.empty() ? env.unique_id() : std::move(id)),
        bundle_(env, id_, opts),
        log_((env.dir() / "logs" / (bundle_.dir().filename().string() + ".log"))
               .string()),
        timeout_(step_timeout) {}

  runc_container(const runc_container&) = delete;
  runc_container& operator=(const runc_container&) = delete;

  ~runc_container() {
    cleanup();
  }

  const std::string& id() const {
    return id_;
  }

  runc_bundle& bundle() {
    return bundle_;
  }

  const runc_bundle& bundle() const {
    return bundle_;
  }

  stage at() const {
    return stage_;
  }

  /// The runtime's and the container's output so far (stdout and stderr).
  std::string output() const {
    return runc_detail::slurp(log_);
  }

  /// `RUNTIME --root R create --bundle B --pid-file P ID`, waited for; throws
  /// unless it exits 0 within the step timeout.
  void create() {
    // From here on the destructor runs `delete --force`, even if create
    // fails or times out half-way.
    stage_ = stage::created;
    auto st = run_step({env_.runtime(), "--root", env_.root().string(),
                        "create", "--bundle", bundle_.dir().string(),
                        "--pid-file", bundle_.pid_file().string(), id_});
    if (st != 0)
      runc_detail::fail("create " + id_ + ": "
                        + runc_detail::describe_status(st) + ": " + output());
  }

  /// Reads the pidfile as a shim does (open, read, close), whatever it
  /// holds; never throws for the content.
  pidfile_read_result read_pidfile() {
    pidfile_read_result r;
    r.began = runc_clock::now();
    nw::kernel::unique_fd fd{
      ::open(bundle_.pid_file().c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) {
      r.error = errno;
    } else {
      char buf[4096];
      while (r.content.size() < sizeof(buf)) {
        auto n = ::read(fd.get(), buf, sizeof(buf) - r.content.size());
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0)
          r.error = errno;
        if (n <= 0)
          break;
        r.content.append(buf, static_cast<size_t>(n));
      }
    }
    fd.reset();
    r.returned = runc_clock::now();
    last_read_ = r;
    return r;
  }

  /// read_pidfile(), then parses a decimal pid (whitespace trimmed) and
  /// opens a pidfd on it, so that wait_exit() cannot miss its exit. Throws
  /// if the pidfile does not name a live process.
  pid_t read_pid() {
    auto r = read_pidfile();
    if (r.error != 0)
      runc_detail::fail("read " + bundle_.pid_file().string() + ": "
                        + runc_detail::errno_text(r.error));
    auto text = r.content;
    while (!text.empty()
           && std::isspace(static_cast<unsigned char>(text.back())))
      text.pop_back();
    char* end = nullptr;
    errno = 0;
    auto v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || v <= 0 || v > INT32_MAX)
      runc_detail::fail("pidfile of " + id_ + " holds '" + r.content + "'");
    init_pid_ = static_cast<pid_t>(v);
    init_pidfd_.reset(runc_detail::pidfd_open(init_pid_));
    if (!init_pidfd_)
      runc_detail::fail("pidfd_open(" + std::to_string(init_pid_)
                        + "): " + runc_detail::errno_text(errno));
    return init_pid_;
  }

  /// The init's pid from read_pid() (0 before).
  pid_t init_pid() const {
    return init_pid_;
  }

  /// The last pidfile read.
  const pidfile_read_result& last_read() const {
    return last_read_;
  }

  /// `RUNTIME --root R start ID`, waited for; throws unless it exits 0.
  void start() {
    auto st = run_step(
      {env_.runtime(), "--root", env_.root().string(), "start", id_});
    if (st != 0)
      runc_detail::fail("start " + id_ + ": " + runc_detail::describe_status(st)
                        + ": " + output());
    stage_ = stage::started;
  }

  /// Waits for the container's init to exit (the step timeout from now) and
  /// reaps it; its wait(2) status, or nullopt if someone else reaped it.
  /// Throws on timeout.
  std::optional<int> wait_exit() {
    if (!init_pidfd_)
      runc_detail::fail("wait_exit before read_pid");
    auto deadline = runc_clock::now() + timeout_;
    if (!runc_detail::wait_pidfd(init_pidfd_.get(), deadline))
      runc_detail::fail("init " + std::to_string(init_pid_) + " of " + id_
                        + " did not exit within "
                        + std::to_string(timeout_.count()) + " ms");
    exited_at_ = runc_clock::now();
    stage_ = stage::exited;
    init_pidfd_.reset();
    init_status_ = runc_detail::reap(init_pid_);
    return init_status_;
  }

  /// When wait_exit() saw the init exit.
  runc_clock::time_point exited_at() const {
    return exited_at_;
  }

  /// `RUNTIME --root R delete --force ID`; throws unless it exits 0.
  void remove() {
    auto st = run_step({env_.runtime(), "--root", env_.root().string(),
                        "delete", "--force", id_});
    if (st != 0)
      runc_detail::fail("delete " + id_ + ": "
                        + runc_detail::describe_status(st) + ": " + output());
    stage_ = stage::deleted;
  }

  /// The whole shim sequence: create, read the pidfile, start at once,
  /// wait for the exit, delete. The init's wait(2) status.
  std::optional<int> run() {
    create();
    read_pid();
    start();
    auto st = wait_exit();
    remove();
    return st;
  }

private:
  int run_step(const std::vector<std::string>& argv) {
    return run_process(argv, log_, timeout_);
  }

  /// Best effort, never throws: delete --force if created, kill and reap an
  /// init still alive, remove the bundle (its destructor).
  void cleanup() noexcept {
    try {
      if (stage_ != stage::bundled && stage_ != stage::deleted)
        run_process({env_.runtime(), "--root", env_.root().string(), "delete",
                     "--force", id_},
                    log_, timeout_);
    } catch (...) {
    }
    if (init_pidfd_) {
      runc_detail::pidfd_send_signal(init_pidfd_.get(), SIGKILL);
      runc_detail::wait_pidfd(init_pidfd_.get(),
                              runc_clock::now() + std::chrono::seconds{5});
      init_pidfd_.reset();
      runc_detail::reap(init_pid_, true);
    }
  }

  runc_env& env_;
  std::string id_;
  runc_bundle bundle_;
  std::string log_;
  std::chrono::milliseconds timeout_;
  stage stage_ = stage::bundled;
  pid_t init_pid_ = 0;
  nw::kernel::unique_fd init_pidfd_;
  std::optional<int> init_status_;
  runc_clock::time_point exited_at_{};
  pidfile_read_result last_read_;
};

} // namespace nw::test
