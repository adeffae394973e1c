// A private containerd for integration tests (DESIGN.md, "Test fixtures
// that work here"): its own config.toml (`version = 2`; root, state, the
// gRPC and ttrpc sockets and the opt plugin's dir under one temp dir; the
// CRI plugin off), a busybox-static image imported from a hand-made OCI
// archive of the runc fixture's rootfs, and containers run with
// `ctr run -d`, which goes containerd → containerd-shim-runc-v2 → runc:
//
//   runc --root R/NS --log B/log.json --log-format json create
//        --bundle B --pid-file B/init.pid ID
//   (the shim reads B/init.pid: the read an agent holds)
//   runc --root R/NS ... start ID
//
// with B = STATE/io.containerd.runtime.v2.task/NS/ID. R is `ctr run
// --runc-root` (the shim appends the namespace); without it the shim uses
// /run/containerd/runc/NS whatever containerd's own state dir is, so the
// fixture always passes its own, runc_root() (and ctr's `--fifo-dir`). Only
// the shims' sockets (/run/containerd/s/HASH, removed as they exit) are
// outside the temp dir.
//
// Cleanup, on failure too: every container it ran is killed and deleted
// through ctr, containerd gets SIGTERM (SIGKILL after 5 s), shims and
// processes still naming the temp dir are killed, runc deletes what is
// left under runc_root(), mounts under the dir are detached and the dir
// removed.
//
//   nw::test::require_containerd();       // exit 77 with a reason if unusable
//   nw::test::containerd_env ctrd;        // starts containerd, imports the
//   image auto id = ctrd.unique_id("nwt-ctr"); ctrd.run(id, {"/bin/sh", "-c",
//   "echo hi"});   // ctr run -d ctrd.init_pid(id); ctrd.bundle(id);
//   ctrd.output(id); ctrd.kill(id); ctrd.remove(id);
//
// Header-only; needs nlohmann_json::nlohmann_json and Threads.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/support/manager_support.hpp"
#include "tests/support/skip.hpp"

namespace nw::test {

/// Skips the test binary (exit 77, with the reason) unless a private
/// containerd can run containers here.
inline void require_containerd() {
  require_runc();
  for (auto tool : {"containerd", "ctr", "containerd-shim-runc-v2"})
    if (find_program(tool).empty()) {
      static std::string reason;
      reason
        = std::string{tool} + " not found (Debian: apt-get install containerd)";
      skip(reason.c_str());
    }
  for (auto tool : {"tar", "sha256sum"})
    if (find_program(tool).empty()) {
      static std::string reason;
      reason = std::string{tool} + " not found: the image is built with it";
      skip(reason.c_str());
    }
}

/// A private containerd with the busybox image imported.
class containerd_env {
public:
  /// The image every container runs.
  static constexpr const char* image = "localhost/nodewatch-busybox:latest";

  /// Starts containerd in namespace `ns` and imports the image; throws (after
  /// cleaning up) if containerd does not answer within 20 s.
  explicit containerd_env(std::string ns = "nwt") : ns_(std::move(ns)) {
    using namespace runc_detail;
    containerd_ = find_program("containerd");
    ctr_ = find_program("ctr");
    runc_ = find_program("runc");
    try {
      for (auto sub :
           {"root", "state", "opt", "plugins", "logs", "runc", "fifo"})
        runc_fs::create_directories(dir() / sub);
      write_config();
      daemon_.emplace(
        std::vector<std::string>{containerd_, "--config",
                                 (dir() / "config.toml").string()},
        (dir() / "logs" / "containerd.log").string());
      wait_ready(runc_clock::now() + std::chrono::seconds{20});
      busybox_image img{dir() / "image", busybox_static_path()};
      auto archive = img.oci_archive(image);
      auto r = ctr({"images", "import", archive.string()});
      if (!r.ok())
        fail("ctr images import: " + describe_status(r.status) + ": "
             + r.output);
    } catch (...) {
      cleanup();
      throw;
    }
  }

  containerd_env(const containerd_env&) = delete;
  containerd_env& operator=(const containerd_env&) = delete;

  ~containerd_env() {
    cleanup();
  }

  /// The temp dir.
  const runc_fs::path& dir() const {
    return dir_.path();
  }

  /// containerd's gRPC socket (`ctr --address`).
  runc_fs::path socket() const {
    return dir() / "containerd.sock";
  }

  /// The containerd namespace the containers run in.
  const std::string& ns() const {
    return ns_;
  }

  /// containerd's state dir.
  runc_fs::path state() const {
    return dir() / "state";
  }

  /// The runc `--root` the shim passes: `ctr run --runc-root` + "/" + ns.
  runc_fs::path runc_root() const {
    return dir() / "runc" / ns_;
  }

  /// The bundle the shim gives runc (`--bundle`); its pidfile is
  /// `init.pid` in it.
  runc_fs::path bundle(const std::string& id) const {
    return state() / "io.containerd.runtime.v2.task" / ns_ / id;
  }

  /// A container id unique in this process and among concurrent tests:
  /// `PREFIX-PID-N` (runc names cgroups /NS/ID after it).
  std::string unique_id(const std::string& prefix = "nwt-ctr") {
    std::lock_guard<std::mutex> guard{mx_};
    return prefix + "-" + std::to_string(::getpid()) + "-"
           + std::to_string(++counter_);
  }

  /// `ctr --address S --namespace NS ARGS...`, within 30 s.
  process_output ctr(const std::vector<std::string>& args) {
    std::vector<std::string> argv{ctr_, "--address", socket().string(),
                                  "--namespace", ns_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log;
    {
      std::lock_guard<std::mutex> guard{mx_};
      log = (dir() / "logs" / ("ctr-" + std::to_string(++counter_) + ".log"))
              .string();
    }
    return run_output(argv, log, std::chrono::seconds{30});
  }

  /// `ctr run -d --runc-binary RUNC --runc-root R --fifo-dir F --log-uri
  /// file://LOG IMAGE ID ARGS...` (RUNC is runc's full path: the shim needs
  /// no sbin on its PATH). The container has started (its start was held,
  /// if an agent holds it) when this returns. Throws if ctr fails.
  void run(const std::string& id, const std::vector<std::string>& args) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      ran_.insert(id);
    }
    std::vector<std::string> argv{
      "run",           "-d",
      "--runc-binary", runc_,
      "--runc-root",   (dir() / "runc").string(),
      "--fifo-dir",    (dir() / "fifo").string(),
      "--log-uri",     "file://" + output_path(id).string(),
      image,           id};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = ctr(argv);
    if (!r.ok())
      runc_detail::fail("ctr run " + id + ": "
                        + runc_detail::describe_status(r.status) + ": "
                        + r.output);
  }

  /// The init's pid, from the pidfile the shim had runc write (0 if it
  /// cannot be read: the task is gone).
  pid_t init_pid(const std::string& id) const {
    auto text = runc_detail::slurp(bundle(id) / "init.pid");
    return static_cast<pid_t>(std::strtol(text.c_str(), nullptr, 10));
  }

  /// The task's status as `ctr task ls` shows it (RUNNING, STOPPED, ...;
  /// "" if there is no task).
  std::string status(const std::string& id) {
    auto r = ctr({"task", "ls"});
    std::istringstream in{r.output};
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields{line};
      std::string task, pid, st;
      if (fields >> task >> pid >> st && task == id)
        return st;
    }
    return {};
  }

  /// Waits (polling `ctr task ls`) until the task is STOPPED; whether it
  /// was by `deadline`.
  bool wait_stopped(const std::string& id, runc_clock::time_point deadline) {
    return poll_until(deadline, std::chrono::milliseconds{20},
                      [&] { return status(id) == "STOPPED"; });
  }

  /// The container's stdout and stderr so far.
  std::string output(const std::string& id) const {
    return runc_detail::slurp(output_path(id));
  }

  /// `ctr task kill -s SIG ID`; throws if ctr fails.
  void kill(const std::string& id, const std::string& sig = "SIGKILL") {
    auto r = ctr({"task", "kill", "-s", sig, id});
    if (!r.ok())
      runc_detail::fail("ctr task kill " + id + ": " + r.output);
  }

  /// `ctr task rm -f ID` then `ctr container rm ID`; throws if the latter
  /// fails.
  void remove(const std::string& id) {
    ctr({"task", "rm", "-f", id});
    auto r = ctr({"container", "rm", id});
    if (!r.ok())
      runc_detail::fail("ctr container rm " + id + ": " + r.output);
    std::lock_guard<std::mutex> guard{mx_};
    ran_.erase(id);
  }

private:
  runc_fs::path output_path(const std::string& id) const {
    return dir() / "logs" / (id + ".out");
  }

  void write_config() {
    auto d = dir().string();
    std::ofstream out{dir() / "config.toml"};
    out << "version = 2\n"
        << "root = \"" << d << "/root\"\n"
        << "state = \"" << d << "/state\"\n"
        << "plugin_dir = \"" << d << "/plugins\"\n"
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\", "
           "\"io.containerd.snapshotter.v1.aufs\", "
           "\"io.containerd.snapshotter.v1.btrfs\", "
           "\"io.containerd.snapshotter.v1.devmapper\", "
           "\"io.containerd.snapshotter.v1.zfs\"]\n"
        << "[grpc]\n  address = \"" << d << "/containerd.sock\"\n"
        << "[ttrpc]\n  address = \"" << d << "/containerd.sock.ttrpc\"\n"
        << "[debug]\n  address = \"\"\n"
        << "[metrics]\n  address = \"\"\n"
        << "[plugins]\n"
        << "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
        << "    path = \"" << d << "/opt\"\n";
    if (!out)
      runc_detail::fail("cannot write config.toml");
  }

  /// Whether the gRPC socket accepts a connection.
  bool socket_accepts() const {
    nw::kernel::unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd)
      return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    auto path = socket().string();
    if (path.size() >= sizeof(addr.sun_path))
      runc_detail::fail("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
           == 0;
  }

  void wait_ready(runc_clock::time_point deadline) {
    for (;;) {
      if (socket_accepts() && ctr({"version"}).ok())
        return;
      // Doubles as the poll's step: returns early if containerd died.
      if (auto st = daemon_->wait_until(runc_clock::now()
                                        + std::chrono::milliseconds{20}))
        runc_detail::fail(
          "containerd exited (" + runc_detail::describe_status(*st)
          + "): " + runc_detail::slurp(dir() / "logs" / "containerd.log"));
      if (runc_clock::now() >= deadline)
        runc_detail::fail("containerd did not answer on " + socket().string()
                          + " within 20 s");
    }
  }

  /// Best effort, never throws.
  void cleanup() noexcept {
    try {
      std::set<std::string> left;
      {
        std::lock_guard<std::mutex> guard{mx_};
        left = ran_;
      }
      if (daemon_ && !daemon_->wait_until(runc_clock::now())) {
        for (auto& id : left) {
          ctr({"task", "kill", "-s", "SIGKILL", id});
          ctr({"task", "rm", "-f", id});
          ctr({"container", "rm", id});
        }
        ::kill(daemon_->pid(), SIGTERM);
        daemon_->wait_until(runc_clock::now() + std::chrono::seconds{5});
      }
      daemon_.reset(); // SIGKILL if still running
      // Shims (their argv names our socket) and anything else left.
      kill_processes_mentioning(dir().string());
      std::error_code ec;
      if (runc_fs::is_directory(runc_root(), ec))
        for (auto& entry : runc_fs::directory_iterator{runc_root(), ec})
          run_process({runc_, "--root", runc_root().string(), "delete",
                       "--force", entry.path().filename().string()},
                      {}, std::chrono::seconds{10});
      // runc removes each container's cgroup (/NS/ID in every hierarchy);
      // the /NS parents are left to us: rmdir only succeeds when empty, so
      // a concurrent user of the namespace keeps them.
      for (auto& h : runc_fs::directory_iterator{"/sys/fs/cgroup", ec})
        ::rmdir((h.path() / ns_).c_str());
      ::rmdir(("/sys/fs/cgroup/" + ns_).c_str());
    } catch (...) {
    }
  }

  std::string ns_;
  manager_dir dir_{"/tmp/nw-ctrd-"};
  std::string containerd_;
  std::string ctr_;
  std::string runc_;
  std::optional<child_process> daemon_;
  std::mutex mx_;
  uint64_t counter_ = 0;
  std::set<std::string> ran_;
};

} // namespace nw::test
