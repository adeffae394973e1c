// Container networking as CNI's bridge plugin builds it (DESIGN.md, "Test
// fixtures that work here"): a bridge in the root network namespace with no
// address, N named network namespaces (`ip netns add`), each joined to the
// bridge by a veth pair whose host end is a bridge port and whose other end
// is `eth0` inside the namespace, with the namespace's address (10.231.0.K/24,
// K = 1..N) only there.
//
// Names are unique per fixture (the test's pid and a counter), so test
// binaries running in parallel never collide. Everything is deleted in the
// destructor, on failure too: the namespaces (which takes their veth ends
// and so the pairs), any host end still there, then the bridge. `ip`
// commands run through posix_spawn with argv vectors, never a shell.
//
//   nw::test::require_ip();                 // exit 77 with a reason if
//   unusable nw::test::cni_bridge net{2}; net.host_ifindex(0); // the host end
//   of namespace 0 net.ping(0, 1);                         // namespace 0 pings
//   namespace 1 nw::test::run({"ip", "link"});          // {status, output}
//
// Header-only; root only (skip first).
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/skip.hpp"

extern char** environ;

namespace nw::test {

/// What a command printed (stdout and stderr) and its wait(2) status.
struct command_result {
  int status = -1;
  std::string output;

  bool ok() const {
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
};

/// `name` if it has a slash, else the first executable of that name in the
/// usual directories (ip and tc live in /usr/sbin, which a normal user's
/// PATH may lack), else `name` itself (the spawn then fails with ENOENT).
/// Not runc_fixture.hpp's find_program, which says "" for none: the two
/// headers are included together.
inline std::string tool_path(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    auto path = std::string{dir} + "/" + name;
    if (::access(path.c_str(), X_OK) == 0)
      return path;
  }
  return name;
}

/// Runs `argv` (argv[0] found by tool_path()) with
/// stdin from /dev/null, collecting stdout and stderr.
inline command_result run(const std::vector<std::string>& argv) {
  if (argv.empty())
    throw std::runtime_error("run: empty argv");
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"pipe2: "} + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  pid_t pid = -1;
  auto program = tool_path(argv[0]);
  auto err
    = ::posix_spawn(&pid, program.c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  command_result r;
  if (err != 0) {
    ::close(pipefd[0]);
    r.output = "spawn " + argv[0] + ": " + std::strerror(err);
    return r;
  }
  char buf[4096];
  for (;;) {
    auto n = ::read(pipefd[0], buf, sizeof(buf));
    if (n > 0)
      r.output.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(pipefd[0]);
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

/// `argv` joined with spaces, for messages.
inline std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (auto& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

/// Runs `argv` and throws with its output unless it exits 0.
inline std::string run_ok(const std::vector<std::string>& argv) {
  auto r = run(argv);
  if (!r.ok())
    throw std::runtime_error(joined(argv) + " failed: " + r.output);
  return r.output;
}

/// Skips (exit 77) unless root with a working `ip netns`.
inline void require_ip() {
  require_root();
  if (!run({"ip", "netns", "list"}).ok())
    skip("`ip netns` does not work here (iproute2 missing?)");
}

/// The bridge, the namespaces and the veth pairs; see the file comment.
class cni_bridge {
public:
  explicit cni_bridge(int count) {
    static std::atomic<int> counter{0};
    // ≤ 15 bytes for every interface name: "nwb" + tag, "nwh"/"nwp" + tag +
    // "x" + index.
    tag_ = std::to_string(::getpid() % 100000)
           + static_cast<char>('a' + counter++ % 26);
    bridge_ = "nwb" + tag_;
    try {
      run_ok({"ip", "link", "add", bridge_, "type", "bridge"});
      bridge_made_ = true;
      run_ok({"ip", "link", "set", bridge_, "up"});
      for (int i = 0; i < count; ++i)
        add_namespace(i);
    } catch (...) {
      cleanup();
      throw;
    }
  }

  cni_bridge(const cni_bridge&) = delete;
  cni_bridge& operator=(const cni_bridge&) = delete;

  ~cni_bridge() {
    cleanup();
  }

  int size() const {
    return static_cast<int>(namespaces_.size());
  }

  const std::string& bridge() const {
    return bridge_;
  }

  /// The name of namespace `i` (`ip netns`; /var/run/netns/NAME).
  const std::string& netns(int i) const {
    return namespaces_.at(i);
  }

  /// The host end of namespace `i`'s veth pair (a bridge port).
  const std::string& host_veth(int i) const {
    return hosts_.at(i);
  }

  /// Its ifindex in the root namespace.
  int host_ifindex(int i) const {
    auto index = ::if_nametoindex(hosts_.at(i).c_str());
    if (index == 0)
      throw std::runtime_error("no interface " + hosts_.at(i));
    return static_cast<int>(index);
  }

  /// Namespace `i`'s address, without the prefix length.
  static std::string address(int i) {
    return "10.231.0." + std::to_string(i + 1);
  }

  /// Whether namespace `from` gets an answer to a ping of namespace `to`
  /// (busybox-static's ping, up to `tries` one-second attempts).
  bool ping(int from, int to, int tries = 5) const {
    for (int t = 0; t < tries; ++t)
      if (run({"ip", "netns", "exec", netns(from), "/bin/busybox", "ping", "-c",
               "1", "-W", "1", address(to)})
            .ok())
        return true;
    return false;
  }

private:
  void add_namespace(int i) {
    auto ns = "nw-" + tag_ + "-" + std::to_string(i);
    auto host = "nwh" + tag_ + "x" + std::to_string(i);
    auto peer = "nwp" + tag_ + "x" + std::to_string(i);
    run_ok({"ip", "netns", "add", ns});
    namespaces_.push_back(ns);
    run_ok({"ip", "link", "add", host, "type", "veth", "peer", "name", peer});
    hosts_.push_back(host);
    run_ok({"ip", "link", "set", peer, "netns", ns});
    run_ok({"ip", "link", "set", host, "master", bridge_});
    run_ok({"ip", "link", "set", host, "up"});
    run_ok({"ip", "-n", ns, "link", "set", peer, "name", "eth0"});
    run_ok({"ip", "-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0"});
    run_ok({"ip", "-n", ns, "link", "set", "eth0", "up"});
    run_ok({"ip", "-n", ns, "link", "set", "lo", "up"});
  }

  /// Best effort: every step runs whatever failed before.
  void cleanup() noexcept {
    try {
      for (auto& ns : namespaces_)
        run({"ip", "netns", "del", ns});
      for (auto& host : hosts_)
        if (::if_nametoindex(host.c_str()) != 0)
          run({"ip", "link", "del", host});
      if (bridge_made_)
        run({"ip", "link", "del", bridge_});
    } catch (...) {
    }
    namespaces_.clear();
    hosts_.clear();
    bridge_made_ = false;
  }

  std::string tag_;
  std::string bridge_;
  bool bridge_made_ = false;
  std::vector<std::string> namespaces_;
  std::vector<std::string> hosts_;
};

} // namespace nw::test
