// The manager fixtures themselves, without an agent: a private containerd,
// podman with private storage and crun each run a busybox container, and
// leave nothing behind when the fixture goes with the container still
// running, as after a test that failed half-way: no process naming the temp
// dir (containerd, shims, conmons, inits), no mount under it, no temp dir,
// no runc state, no cgroup of the container.
#define BOOST_TEST_MODULE manager_fixture
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/integration/support/containerd_fixture.hpp"
#include "tests/integration/support/crun_fixture.hpp"
#include "tests/integration/support/podman_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nw::test::runc_clock;

/// Whether `pid` still runs (not gone, not a zombie).
bool running(pid_t pid) {
  auto p = nw::test::probe_process(pid);
  return p.ok && p.state != 'Z' && p.state != 'X';
}

/// Everything the fixture could leave behind, once it is gone.
void require_nothing_left(const fs::path& dir, pid_t init,
                          const fs::path& cgroup) {
  BOOST_TEST(!fs::exists(dir), dir << " left");
  BOOST_TEST(nw::test::mounts_under(dir).empty(), "mounts under " << dir);
  BOOST_TEST(nw::test::pids_mentioning(dir.string()).empty(),
             "processes naming " << dir << " left");
  if (init > 0)
    BOOST_TEST(!running(init), "the container's init " << init << " runs on");
  for (auto ctl : {"pids", "memory", "unified"})
    BOOST_TEST(!fs::exists(fs::path{"/sys/fs/cgroup"} / ctl / cgroup),
               "cgroup " << ctl << "/" << cgroup.string() << " left");
}

} // namespace

BOOST_AUTO_TEST_CASE(containerd_runs_a_container_and_cleans_up_after_it) {
  nw::test::require_containerd();
  fs::path dir;
  pid_t init = 0;
  std::string id;
  {
    nw::test::containerd_env ctrd;
    dir = ctrd.dir();
    id = ctrd.unique_id("nwt-ctrd-fx");
    ctrd.run(id, {"/bin/sh", "-c", "echo hi; exec sleep 60"});
    init = ctrd.init_pid(id);
    BOOST_TEST(init > 0);
    BOOST_TEST(ctrd.status(id) == "RUNNING");
    BOOST_TEST(fs::exists(ctrd.runc_root() / id),
               "runc state not at " << ctrd.runc_root());
    BOOST_TEST(fs::exists(ctrd.bundle(id) / "config.json"));
    // containerd and the shim name the dir: what the check below looks for.
    BOOST_TEST(nw::test::pids_mentioning(dir.string()).size() >= 2u);
    BOOST_TEST(nw::test::poll_until(runc_clock::now() + 5s, 10ms,
                                    [&] { return ctrd.output(id) == "hi\n"; }));
    // Gone with the container still running.
  }
  require_nothing_left(dir, init, fs::path{"nwt"} / id);
}

BOOST_AUTO_TEST_CASE(podman_runs_a_container_and_cleans_up_after_it) {
  nw::test::require_podman();
  fs::path dir;
  pid_t init = 0;
  std::string id;
  {
    nw::test::podman_env pm;
    dir = pm.dir();
    auto name = pm.unique_name("nwt-pod-fx");
    id = pm.run(name, {"/bin/sh", "-c", "echo hi; exec sleep 60"});
    init = pm.init_pid(id);
    BOOST_TEST(init > 0);
    BOOST_TEST(pm.inspect(name, "{{.State.Status}}") == "running");
    BOOST_TEST(fs::exists(pm.bundle(id) / "config.json"));
    // conmon names the dir: what the check below looks for.
    BOOST_TEST(!nw::test::pids_mentioning(dir.string()).empty());
    BOOST_TEST(nw::test::poll_until(runc_clock::now() + 5s, 10ms,
                                    [&] { return pm.logs(name) == "hi\n"; }));
  }
  require_nothing_left(dir, init, fs::path{"libpod_parent"} / ("libpod-" + id));
  BOOST_TEST(!fs::exists(fs::path{"/run/runc"} / id), "runc state left");
}

BOOST_AUTO_TEST_CASE(crun_runs_a_container_and_cleans_up_after_it) {
  nw::test::require_crun();
  fs::path dir;
  pid_t init = 0;
  std::string id;
  {
    nw::test::crun_env crun;
    dir = crun.env().dir();
    nw::test::runc_container c{crun.env(), {{"/bin/sh", "-c", "sleep 60"}}};
    id = c.id();
    c.create();
    init = c.read_pid();
    BOOST_TEST(nw::test::probe_process(init).comm
               == nw::test::crun_env::init_comm);
    c.start();
    BOOST_TEST(nw::test::poll_until(runc_clock::now() + 5s, 10ms, [&] {
      return nw::test::probe_process(init).comm == "sleep";
    }));
  }
  require_nothing_left(dir, init, id);
}
