// crun containers for integration tests, driven as a shim drives a runtime
// (create, read the pidfile, start, wait, delete: runc_fixture.hpp's
// runc_container, with crun as the runtime).
//
// crun 1.8.1 refuses this host's hybrid cgroups: /sys/fs/cgroup is a tmpfs
// of v1 hierarchies and /sys/fs/cgroup/unified a cgroup2 with a controller
// (hugetlb), and crun says "cgroups in hybrid mode not supported, drop all
// controllers from cgroupv2" for every create, whatever the bundle (no
// cgroupsPath, no resources, no cgroup namespace: the same). Changing the
// host's cgroups is not a test's business, so on such a host crun runs
// through a wrapper that gives crun alone a private mount namespace with a
// tmpfs over /sys/fs/cgroup/unified:
//
//   unshare --mount --propagation private sh -c
//     'mount -t tmpfs ... /sys/fs/cgroup/unified && exec /usr/bin/crun "$@"'
//
// crun then sees legacy v1 cgroups and runs the bundle as runc would. The
// exec of /usr/bin/crun, its argv (`crun --root R create --bundle B
// --pid-file B/init.pid ID`), the pidfile and the container are all real;
// only crun's own mount namespace is not the host's (the container's is
// new either way). The bundle is runc_fixture's (`runc spec` template).
//
//   nw::test::require_crun();            // exit 77 with a reason if unusable
//   nw::test::crun_env env;              // a runc_env driving crun
//   nw::test::runc_container c{env.env(), {{"/bin/sh", "-c", "echo hi"}}};
//   c.run();
//
// Header-only; needs nlohmann_json::nlohmann_json and Threads.
#pragma once

#include <sys/statfs.h>
#include <sys/vfs.h>

#include <fstream>
#include <memory>
#include <string>

#include "tests/integration/support/manager_support.hpp"
#include "tests/support/skip.hpp"

namespace nw::test {

/// Whether cgroups are hybrid here: a tmpfs at /sys/fs/cgroup (v1) and a
/// cgroup2 at /sys/fs/cgroup/unified with at least one controller (what
/// crun 1.8.1 refuses).
inline bool hybrid_cgroups_with_v2_controllers() {
  constexpr long tmpfs_magic = 0x01021994;
  constexpr long cgroup2_magic = 0x63677270;
  struct statfs st {};
  if (::statfs("/sys/fs/cgroup", &st) != 0
      || static_cast<long>(st.f_type) != tmpfs_magic)
    return false;
  if (::statfs("/sys/fs/cgroup/unified", &st) != 0
      || static_cast<long>(st.f_type) != cgroup2_magic)
    return false;
  auto controllers
    = runc_detail::slurp("/sys/fs/cgroup/unified/cgroup.controllers");
  return controllers.find_first_not_of(" \n") != std::string::npos;
}

/// Skips the test binary (exit 77, with the reason) unless crun containers
/// can be tried here: root, crun, runc (for `runc spec`) and a static
/// busybox; on hybrid cgroups also unshare and mount (the wrapper).
inline void require_crun() {
  require_runc();
  if (find_program("crun").empty())
    skip("crun not found (Debian: apt-get install crun)");
  if (hybrid_cgroups_with_v2_controllers()
      && (find_program("unshare").empty() || find_program("mount").empty()))
    skip("crun 1.8.1 refuses hybrid cgroups (a cgroup2 with controllers at "
         "/sys/fs/cgroup/unified beside v1), and the wrapper that hides it "
         "from crun needs unshare and mount (util-linux, mount)");
}

/// A runc_env whose runtime is crun (through the wrapper on hybrid
/// cgroups), and whose leftovers crun deletes.
class crun_env {
public:
  crun_env() : dir_("/tmp/nw-crun-") {
    crun_ = find_program("crun");
    if (crun_.empty())
      runc_detail::fail("crun not found (call require_crun() first)");
    runtime_ = crun_;
    if (hybrid_cgroups_with_v2_controllers()) {
      wrapped_ = true;
      runtime_ = (dir_.path() / "crun").string();
      std::ofstream out{runtime_};
      out << "#!/bin/sh\n"
             "# nodewatch test: crun in a mount namespace of its own, where\n"
             "# a tmpfs hides the hybrid cgroup2 it refuses.\n"
             "exec "
          << find_program("unshare")
          << " --mount --propagation private /bin/sh -c '"
          << find_program("mount")
          << " -t tmpfs -o size=4k,mode=0755 nw-no-cgroup2 "
             "/sys/fs/cgroup/unified && exec "
          << crun_ << " \"$@\"' crun \"$@\"\n";
      out.close();
      runc_fs::permissions(runtime_, runc_fs::perms::owner_all);
    }
    env_ = std::make_unique<runc_env>(runtime_, runtime_);
  }

  crun_env(const crun_env&) = delete;
  crun_env& operator=(const crun_env&) = delete;

  ~crun_env() {
    // The containers first (the wrapper lives in dir_).
    env_.reset();
  }

  /// The environment to drive containers with (runc_container).
  runc_env& env() {
    return *env_;
  }

  /// /usr/bin/crun (what the agent watches, and what runs `create`).
  const std::string& crun() const {
    return crun_;
  }

  /// Whether crun runs through the wrapper (hybrid cgroups).
  bool wrapped() const {
    return wrapped_;
  }

  /// What a container's init is called while its start is held: crun's
  /// init is crun itself until it execs the entrypoint.
  static constexpr const char* init_comm = "crun";

private:
  manager_dir dir_;
  std::string crun_;
  std::string runtime_;
  bool wrapped_ = false;
  std::unique_ptr<runc_env> env_;
};

} // namespace nw::test
