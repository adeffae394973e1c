// Podman for integration tests (DESIGN.md, "Test fixtures that work here"),
// with its own storage: `--root`, `--runroot` and `--tmpdir` under one temp
// dir, so tests never touch the machine's podman storage. The image is
// `podman import` of the runc fixture's busybox rootfs. Containers run with
// `--runtime runc --network none --ulimit nofile=1024:1024 --ulimit
// nproc=1024:1024` (cgroups are hybrid v1/v2 here) and go podman → conmon →
// runc:
//
//   conmon --api-version 1 -c ID -u ID -r /usr/bin/runc -b B -p P -n NAME ...
//   runc --log-format=json --log RR/.../userdata/oci-log create
//        --bundle B --pid-file P ID      (no --root: runc's /run/runc)
//   (conmon reads P: the read an agent holds)
//   runc start ID
//
// with B = ROOT/overlay-containers/ID/userdata (config.json in it) and
// P = RUNROOT/overlay-containers/ID/userdata/pidfile.
//
// Cleanup, on failure too: `podman rm -f -t 0` of every container in its
// storage, conmons and inits still naming the temp dir killed, mounts under
// the dir detached, the dir removed.
//
//   nw::test::require_podman();           // exit 77 with a reason if unusable
//   nw::test::podman_env pm;              // storage, the imported image
//   auto name = pm.unique_name("nwt-pod");
//   auto id = pm.run(name, {"/bin/sh", "-c", "echo hi"});   // podman run -d
//   pm.bundle(id); pm.pid_file(id); pm.logs(name); pm.remove(name);
//
// Header-only; needs nlohmann_json::nlohmann_json and Threads.
#pragma once

#include <chrono>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/support/manager_support.hpp"
#include "tests/support/skip.hpp"

namespace nw::test {

/// Skips the test binary (exit 77, with the reason) unless podman can run
/// runc containers here.
inline void require_podman() {
  require_runc();
  for (auto tool : {"podman", "conmon", "tar"})
    if (find_program(tool).empty()) {
      static std::string reason;
      reason = std::string{tool}
               + " not found (Debian: apt-get install podman conmon)";
      skip(reason.c_str());
    }
}

/// Podman with private storage and the busybox image imported.
class podman_env {
public:
  /// The image every container runs.
  static constexpr const char* image = "localhost/nodewatch-busybox:latest";

  /// Imports the image; throws (after cleaning up) if podman fails.
  podman_env() {
    podman_ = find_program("podman");
    try {
      for (auto sub : {"root", "runroot", "tmp", "logs"})
        runc_fs::create_directories(dir() / sub);
      busybox_image img{dir() / "image", busybox_static_path()};
      auto r = podman({"import", img.rootfs_tar().string(), image});
      if (!r.ok())
        runc_detail::fail("podman import: "
                          + runc_detail::describe_status(r.status) + ": "
                          + r.output);
    } catch (...) {
      cleanup();
      throw;
    }
  }

  podman_env(const podman_env&) = delete;
  podman_env& operator=(const podman_env&) = delete;

  ~podman_env() {
    cleanup();
  }

  /// The temp dir.
  const runc_fs::path& dir() const {
    return dir_.path();
  }

  /// `--root`: the image store, and each container's bundle.
  runc_fs::path root() const {
    return dir() / "root";
  }

  /// `--runroot`: each container's pidfile.
  runc_fs::path runroot() const {
    return dir() / "runroot";
  }

  /// The bundle conmon passes runc (`-b`): config.json is in it.
  runc_fs::path bundle(const std::string& id) const {
    return root() / "overlay-containers" / id / "userdata";
  }

  /// The pidfile runc writes and conmon reads (`-p`, runc's `--pid-file`).
  runc_fs::path pid_file(const std::string& id) const {
    return runroot() / "overlay-containers" / id / "userdata" / "pidfile";
  }

  /// The init's pid from pid_file() (0 if unreadable).
  pid_t init_pid(const std::string& id) const {
    auto text = runc_detail::slurp(pid_file(id));
    return static_cast<pid_t>(std::strtol(text.c_str(), nullptr, 10));
  }

  /// A container name unique in this process and among concurrent tests:
  /// `PREFIX-PID-N`.
  std::string unique_name(const std::string& prefix = "nwt-pod") {
    std::lock_guard<std::mutex> guard{mx_};
    return prefix + "-" + std::to_string(::getpid()) + "-"
           + std::to_string(++counter_);
  }

  /// `podman --root R --runroot RR --tmpdir T --runtime runc ARGS...`,
  /// within 60 s.
  process_output podman(const std::vector<std::string>& args) {
    std::vector<std::string> argv{podman_,
                                  "--root",
                                  root().string(),
                                  "--runroot",
                                  runroot().string(),
                                  "--tmpdir",
                                  (dir() / "tmp").string(),
                                  "--runtime",
                                  "runc",
                                  "--cgroup-manager",
                                  "cgroupfs"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log;
    {
      std::lock_guard<std::mutex> guard{mx_};
      log = (dir() / "logs" / ("podman-" + std::to_string(++counter_) + ".log"))
              .string();
    }
    return run_output(argv, log, std::chrono::seconds{60});
  }

  /// `podman run -d --network none --ulimit ... --name NAME IMAGE ARGS...`;
  /// the container's id (its start was held, if an agent holds it, when
  /// this returns). Throws if podman fails.
  std::string run(const std::string& name,
                  const std::vector<std::string>& args) {
    std::vector<std::string> argv{"run",       "-d",
                                  "--network", "none",
                                  "--ulimit",  "nofile=1024:1024",
                                  "--ulimit",  "nproc=1024:1024",
                                  "--name",    name,
                                  image};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = podman(argv);
    if (!r.ok())
      runc_detail::fail("podman run " + name + ": "
                        + runc_detail::describe_status(r.status) + ": "
                        + r.output);
    // The id is the last line of the output (warnings may come first).
    std::istringstream in{r.output};
    std::string id;
    for (std::string line; std::getline(in, line);)
      if (!line.empty())
        id = line;
    if (id.size() != 64)
      runc_detail::fail("podman run " + name + " printed no id: " + r.output);
    return id;
  }

  /// `podman inspect --format FORMAT NAME`, trimmed ("" on failure).
  std::string inspect(const std::string& name, const std::string& format) {
    auto r = podman({"inspect", "--format", format, name});
    if (!r.ok())
      return {};
    auto text = r.output;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
      text.pop_back();
    return text;
  }

  /// Waits (polling `podman inspect`) until the container has exited;
  /// whether it had by `deadline`.
  bool wait_exited(const std::string& name, runc_clock::time_point deadline) {
    return poll_until(deadline, std::chrono::milliseconds{50}, [&] {
      return inspect(name, "{{.State.Status}}") == "exited";
    });
  }

  /// `podman logs NAME` ("" on failure).
  std::string logs(const std::string& name) {
    auto r = podman({"logs", name});
    return r.ok() ? r.output : std::string{};
  }

  /// `podman kill NAME` (SIGKILL); throws if podman fails.
  void kill(const std::string& name) {
    auto r = podman({"kill", "--signal", "KILL", name});
    if (!r.ok())
      runc_detail::fail("podman kill " + name + ": " + r.output);
  }

  /// `podman rm -f -t 0 NAME`; throws if podman fails.
  void remove(const std::string& name) {
    auto r = podman({"rm", "-f", "-t", "0", name});
    if (!r.ok())
      runc_detail::fail("podman rm " + name + ": " + r.output);
  }

private:
  /// Best effort, never throws.
  void cleanup() noexcept {
    try {
      podman({"rm", "-a", "-f", "-t", "0"});
      kill_processes_mentioning(dir().string());
    } catch (...) {
    }
  }

  manager_dir dir_{"/tmp/nw-podman-"};
  std::string podman_;
  std::mutex mx_;
  uint64_t counter_ = 0;
};

} // namespace nw::test
