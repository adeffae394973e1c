// linux_host: directory listings (the start-up scan's reads of state
// roots): sorted, without "." and "..", bounded, under the host root, and
// a clear error for a missing path or a file. /proc of real processes: the
// namespaces (inode and 64-bit mount namespace id), the cgroup v2 id, the
// host's network namespace; a reaped pid is an error, a zombie has no
// namespaces. The cgroup2 mount found from mountinfo under a host root.
#define BOOST_TEST_MODULE linux_host
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/kernel/host_view.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

namespace {

struct tree {
  nw::test::temp_dir root{"nw-linux-host"};

  tree() {
    std::filesystem::create_directories(root.path() / "run/runc/c2");
    std::filesystem::create_directories(root.path() / "run/runc/c1");
    std::filesystem::create_directories(root.path() / "run/runc/a0");
    std::ofstream{root.path() / "run/runc/file"} << "x";
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(lists_sorted_under_the_host_root, tree) {
  auto host = nw::make_linux_host(root.path().string() + "/");
  std::vector<std::string> names;
  bool truncated = true;
  std::string error;
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 100, names, truncated, error),
                     error);
  BOOST_TEST(names == (std::vector<std::string>{"a0", "c1", "c2", "file"}),
             boost::test_tools::per_element());
  BOOST_TEST(!truncated);
  BOOST_TEST(host->exists("/run/runc/c1"));
}

BOOST_FIXTURE_TEST_CASE(bounded, tree) {
  auto host = nw::make_linux_host(root.path().string());
  std::vector<std::string> names;
  bool truncated = false;
  std::string error;
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 2, names, truncated, error),
                     error);
  BOOST_TEST(names.size() == 2u);
  BOOST_TEST(truncated);
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 4, names, truncated, error),
                     error);
  BOOST_TEST(names.size() == 4u);
  BOOST_TEST(!truncated);
}

BOOST_FIXTURE_TEST_CASE(errors, tree) {
  auto host = nw::make_linux_host(root.path().string());
  std::vector<std::string> names{"stale"};
  bool truncated = false;
  std::string error;
  BOOST_TEST(!host->list_dir("/run/crun", 10, names, truncated, error));
  BOOST_TEST(contains(error, "No such file or directory"));
  BOOST_TEST(!host->list_dir("/run/runc/file", 10, names, truncated, error));
  BOOST_TEST(contains(error, "Not a directory"));
  BOOST_TEST(names == std::vector<std::string>{"stale"}); // untouched
}

// -- /proc of real processes --------------------------------------------------

namespace {

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

/// NS_GET_MNTNS_ID, asked here without linux_host.
uint64_t mntns_id_of(const std::string& ns_path) {
  int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  uint64_t id = 0;
  if (::ioctl(fd, _IOR(0xb7, 0x5, uint64_t), &id) != 0)
    id = 0;
  ::close(fd);
  return id;
}

/// The cgroup v2 directory of `cgroup` on this host: under whichever of the
/// usual mount points is a cgroup2 file system ("" when none is).
std::string cgroup2_dir(const std::string& cgroup) {
  for (const char* mount : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    struct statfs fs {};
    if (::statfs(mount, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
      return std::string{mount} + (cgroup == "/" ? "" : cgroup);
  }
  return {};
}

nw::proc_status proc_of(pid_t pid) {
  nw::proc_status p;
  std::string error;
  auto host = nw::make_linux_host("");
  BOOST_TEST_REQUIRE(host->proc(static_cast<uint32_t>(pid), p, error), error);
  BOOST_TEST(p.pid == static_cast<uint32_t>(pid));
  return p;
}

/// A forked child that first unshares `flags` (0: none), tells the parent,
/// and then waits until the parent lets it go (no sleeps: a pipe each way).
class child {
public:
  explicit child(int flags) {
    int ready[2];
    int release[2];
    BOOST_TEST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    BOOST_TEST_REQUIRE(::pipe2(release, O_CLOEXEC) == 0);
    pid_ = ::fork();
    BOOST_TEST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      char ok = (flags == 0 || ::unshare(flags) == 0) ? 'y' : 'n';
      if (::write(ready[1], &ok, 1) != 1)
        ::_exit(2);
      char x;
      while (::read(release[0], &x, 1) < 0 && errno == EINTR) {
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_ = release[1];
    char ok = 0;
    ssize_t n;
    while ((n = ::read(ready[0], &ok, 1)) < 0 && errno == EINTR) {
    }
    ::close(ready[0]);
    unshared_ = n == 1 && ok == 'y';
  }

  child(const child&) = delete;
  child& operator=(const child&) = delete;

  ~child() {
    ::close(release_); // the child reads EOF and exits
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  pid_t pid() const {
    return pid_;
  }

  bool unshared() const {
    return unshared_;
  }

private:
  pid_t pid_ = -1;
  int release_ = -1;
  bool unshared_ = false;
};

bool is_root(boost::unit_test::test_unit_id) {
  return ::geteuid() == 0;
}

/// Forks a child that exits at once; returns its pid, waited for with
/// WNOWAIT (a zombie) or reaped.
pid_t exited_child(bool reap) {
  auto pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0)
    ::_exit(0);
  siginfo_t info{};
  int options = WEXITED | (reap ? 0 : WNOWAIT);
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, options) < 0
         && errno == EINTR) {
  }
  return pid;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_agents_own_process) {
  auto self = proc_of(::getpid());
  auto self_path = "/proc/" + std::to_string(::getpid());
  BOOST_TEST(self.mntns != 0u);
  BOOST_TEST(self.mntns == inode_of(self_path + "/ns/mnt"));
  BOOST_TEST(self.netns != 0u);
  BOOST_TEST(self.netns == inode_of(self_path + "/ns/net"));
  // This kernel (6.18) has NS_GET_MNTNS_ID.
  BOOST_TEST(self.mntns_id64 != 0u);
  BOOST_TEST(self.mntns_id64 == mntns_id_of(self_path + "/ns/mnt"));
  // pid 1's network namespace, or ours where pid 1's is unreadable.
  auto pid1_netns = inode_of("/proc/1/ns/net");
  BOOST_TEST(self.host_netns
             == (pid1_netns != 0 ? pid1_netns : inode_of("/proc/self/ns/net")));
  auto dir = cgroup2_dir(self.cgroup);
  if (dir.empty()) {
    BOOST_TEST_MESSAGE("no cgroup2 mount here: cgroup_id not checked");
  } else {
    BOOST_TEST_CONTEXT("cgroup " << self.cgroup << " at " << dir) {
      BOOST_TEST(self.cgroup_id != 0u);
      BOOST_TEST(self.cgroup_id == inode_of(dir));
    }
  }
  // The same values twice: nothing read is per call.
  auto again = proc_of(::getpid());
  BOOST_TEST(again.mntns_id64 == self.mntns_id64);
  BOOST_TEST(again.cgroup_id == self.cgroup_id);
  BOOST_TEST(again.host_netns == self.host_netns);
}

BOOST_AUTO_TEST_CASE(a_child_in_the_same_namespaces) {
  auto self = proc_of(::getpid());
  child c{0};
  auto p = proc_of(c.pid());
  BOOST_TEST(p.mntns == self.mntns);
  BOOST_TEST(p.mntns_id64 == self.mntns_id64);
  BOOST_TEST(p.netns == self.netns);
  BOOST_TEST(p.host_netns == self.host_netns);
  BOOST_TEST(p.cgroup == self.cgroup);
  BOOST_TEST(p.cgroup_id == self.cgroup_id);
}

BOOST_AUTO_TEST_CASE(a_child_in_new_mount_and_network_namespaces,
                     *boost::unit_test::precondition(is_root)) {
  auto self = proc_of(::getpid());
  child c{CLONE_NEWNS | CLONE_NEWNET};
  BOOST_TEST_REQUIRE(c.unshared(), "unshare(CLONE_NEWNS | CLONE_NEWNET)");
  auto p = proc_of(c.pid());
  BOOST_TEST(p.mntns != 0u);
  BOOST_TEST(p.mntns != self.mntns);
  BOOST_TEST(p.mntns_id64 != 0u);
  BOOST_TEST(p.mntns_id64 != self.mntns_id64);
  BOOST_TEST(p.mntns_id64
             == mntns_id_of("/proc/" + std::to_string(c.pid()) + "/ns/mnt"));
  BOOST_TEST(p.netns != 0u);
  BOOST_TEST(p.netns != self.netns);
  // The host's network namespace is the host's, whoever is asked about.
  BOOST_TEST(p.host_netns == self.host_netns);
  BOOST_TEST(p.netns != p.host_netns);
  // Same cgroup: namespaces do not move a process between cgroups.
  BOOST_TEST(p.cgroup_id == self.cgroup_id);
}

BOOST_AUTO_TEST_CASE(a_reaped_pid_is_an_error) {
  auto pid = exited_child(true);
  auto host = nw::make_linux_host("");
  nw::proc_status p;
  p.pid = 7; // untouched on failure
  std::string error;
  BOOST_TEST(!host->proc(static_cast<uint32_t>(pid), p, error));
  BOOST_TEST(contains(error, "/proc/" + std::to_string(pid)), error);
  BOOST_TEST(p.pid == 7u);
  BOOST_TEST(p.mntns == 0u);
}

BOOST_AUTO_TEST_CASE(a_zombie_has_no_namespaces) {
  auto pid = exited_child(false);
  nw::proc_status p;
  {
    auto host = nw::make_linux_host("");
    std::string error;
    BOOST_TEST(host->proc(static_cast<uint32_t>(pid), p, error), error);
  }
  siginfo_t info{};
  ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED); // reap it
  BOOST_TEST(p.state == 'Z');
  BOOST_TEST(p.mntns == 0u);
  BOOST_TEST(p.mntns_id64 == 0u);
  BOOST_TEST(p.netns == 0u);
}

// -- the cgroup2 mount, from mountinfo under the host root --------------------

namespace {

/// A host root with /proc/1/mountinfo, and /proc/4242/{stat,cgroup} of a
/// process in the cgroup v2 `cgroup`.
struct fake_proc {
  nw::test::temp_dir root{"nw-linux-host-proc"};

  fake_proc(const std::string& mountinfo, const std::string& cgroup) {
    std::filesystem::create_directories(root.path() / "proc/1");
    std::filesystem::create_directories(root.path() / "proc/4242");
    std::ofstream{root.path() / "proc/1/mountinfo"} << mountinfo;
    std::ofstream{root.path() / "proc/4242/stat"}
      << "4242 (pause) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 "
         "987654 1000 100\n";
    std::ofstream{root.path() / "proc/4242/cgroup"}
      << "2:cpu:/elsewhere\n1:name=systemd:/x\n0::" << cgroup << "\n";
  }

  std::string dir(const std::string& rel) {
    auto p = root.path() / rel;
    std::filesystem::create_directories(p);
    return p.string();
  }

  nw::proc_status proc() {
    nw::proc_status p;
    std::string error;
    BOOST_TEST_REQUIRE(
      nw::make_linux_host(root.path().string())->proc(4242, p, error), error);
    return p;
  }
};

constexpr const char* hybrid_mountinfo
  = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:9 - cgroup2 "
    "cgroup2 rw\n";

} // namespace

BOOST_AUTO_TEST_CASE(cgroup_id_under_a_hybrid_mount) {
  fake_proc host{hybrid_mountinfo, "/kubepods/pod1/c1"};
  auto dir = host.dir("sys/fs/cgroup/uni fied/kubepods/pod1/c1");
  host.dir("sys/fs/cgroup/cpu/kubepods/pod1/c1"); // v1: not the id
  auto p = host.proc();
  BOOST_TEST(p.comm == "pause");
  BOOST_TEST(p.start_time == 987654u);
  BOOST_TEST(p.cgroup == "/kubepods/pod1/c1");
  BOOST_TEST(p.cgroup_id != 0u);
  BOOST_TEST(p.cgroup_id == inode_of(dir));
  // No namespaces in a plain directory tree: 0, not an error.
  BOOST_TEST(p.mntns == 0u);
  BOOST_TEST(p.mntns_id64 == 0u);
  BOOST_TEST(p.host_netns == 0u);
}

BOOST_AUTO_TEST_CASE(cgroup_id_under_a_mount_of_a_subtree) {
  // The mount shows the cgroup /kubepods at /cg: /kubepods/pod1 is /cg/pod1.
  fake_proc host{"50 1 0:40 /kubepods /cg rw - cgroup2 cgroup2 rw\n",
                 "/kubepods/pod1"};
  auto dir = host.dir("cg/pod1");
  BOOST_TEST(host.proc().cgroup_id == inode_of(dir));
}

BOOST_AUTO_TEST_CASE(no_cgroup_id_without_a_cgroup2_mount_or_outside_it) {
  {
    fake_proc host{"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw\n",
                   "/a"};
    host.dir("sys/fs/cgroup/cpu/a");
    auto p = host.proc();
    BOOST_TEST(p.cgroup == "/a");
    BOOST_TEST(p.cgroup_id == 0u);
  }
  {
    // Outside the reader's cgroup namespace: never a path out of the mount.
    fake_proc host{"50 1 0:40 / /cg rw - cgroup2 cgroup2 rw\n", "/../x"};
    host.dir("cg");
    host.dir("x");
    BOOST_TEST(host.proc().cgroup_id == 0u);
  }
  {
    // Not under the mount's root.
    fake_proc host{"50 1 0:40 /kubepods /cg rw - cgroup2 cgroup2 rw\n",
                   "/kubepodsx/a"};
    host.dir("cg/x/a");
    host.dir("cg/a");
    BOOST_TEST(host.proc().cgroup_id == 0u);
  }
  {
    // A cgroup that is gone.
    fake_proc host{"50 1 0:40 / /cg rw - cgroup2 cgroup2 rw\n", "/gone"};
    host.dir("cg");
    BOOST_TEST(host.proc().cgroup_id == 0u);
  }
}
