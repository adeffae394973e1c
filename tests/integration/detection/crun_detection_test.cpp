// crun detection end to end: the whole agent graph on the real kernel
// (agent_harness.hpp) and real crun containers (crun_fixture.hpp: on this
// host's hybrid cgroups, crun in a mount namespace of its own) driven as a
// shim drives a runtime: `crun --root R create --bundle B --pid-file P ID`,
// read P (the held read), `crun start ID` at once, wait, delete.
//
// crun's init is `crun` until it execs the entrypoint: the subscriber reads
// the init's comm on `added` and again 50 ms later before it acks, and both
// must still say `crun`; the pidfile read must have lasted at least those
// 50 ms and returned after the event arrived.
//
// If crun cannot create a container here at all, the test is skipped (77)
// with crun's own words.
#define BOOST_TEST_MODULE crun_detection
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/detection/agent_harness.hpp"
#include "tests/integration/support/crun_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::ms;
using nw::test::runc_clock;
using nw::test::runc_container;

/// How long an event may take to show up once it is due.
constexpr auto event_deadline = 5s;

/// How long a pidfile watch waits for its read before it fails the
/// detection (runtime_watcher_config::pending_timeout, not configurable
/// through spawn_graph).
constexpr auto pending_timeout = 15s;

/// When the last create was started (the last pidfile watch a create can
/// have spawned is at most this old).
runc_clock::time_point last_create{};

/// What one driven container did.
struct drive_result {
  std::string id;
  std::string bundle;
  pid_t pid = 0;
  nw::test::pidfile_read_result read;
  runc_clock::time_point exited{};
  std::string output;
  std::string error;
};

/// Drives one crun container up to its exit; deletes it only after the
/// agent removed it (or the removal deadline passed), if `log` is given.
drive_result drive(nw::test::runc_env& env, nw::test::event_log* log,
                   const std::vector<std::string>& args,
                   const std::string& prefix) {
  drive_result r;
  try {
    runc_container c{env, {args, "nw-crun"}, env.unique_id(prefix)};
    r.id = c.id();
    r.bundle = c.bundle().dir().string();
    last_create = runc_clock::now();
    c.create();
    r.pid = c.read_pid();
    r.read = c.last_read();
    c.start();
    c.wait_exit();
    r.exited = c.exited_at();
    r.output = c.output();
    if (log)
      log->wait(nw::event_kind::removed, r.id,
                runc_clock::now() + event_deadline);
    c.remove();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

/// crun (skipped if it cannot run a container here), then the agent.
struct fixture {
  static inline fixture* instance = nullptr;

  fixture() {
    nw::test::require_crun();
    crun = std::make_unique<nw::test::crun_env>();
    // One container without an agent: can crun run here at all?
    auto probe = drive(crun->env(), nullptr, {"/bin/true"}, "nwt-crun-probe");
    if (!probe.error.empty()) {
      static std::string reason;
      reason = "crun cannot run a container here"
               + std::string{crun->wrapped()
                               ? " (even in a mount namespace without the "
                                 "hybrid cgroup2)"
                               : ""}
               + ": " + probe.error;
      crun.reset();
      nw::test::skip(reason.c_str());
    }
    BOOST_TEST_MESSAGE("crun runs "
                       << (crun->wrapped() ? "through the hybrid-cgroup wrapper"
                                           : "directly"));
    agent = std::make_unique<nw::test::agent_harness>(
      std::vector<std::string>{}, [this] {
        auto r = drive(crun->env(), nullptr, {"/bin/true"}, "nwt-crun-warm");
        return r.error.empty() ? r.id : std::string{};
      });
    BOOST_TEST_MESSAGE("agent ready after " << agent->warm_ups()
                                            << " warm-up container(s)");
    instance = this;
  }

  ~fixture() {
    instance = nullptr;
    agent.reset();
    crun.reset();
  }

  std::unique_ptr<nw::test::crun_env> crun;
  std::unique_ptr<nw::test::agent_harness> agent;
};

BOOST_TEST_GLOBAL_FIXTURE(fixture);

fixture& fx() {
  BOOST_TEST_REQUIRE(fixture::instance != nullptr);
  return *fixture::instance;
}

void check_detected(const drive_result& r, const std::string& want_output) {
  BOOST_TEST_CONTEXT("container " << r.id) {
    auto& f = fx();
    BOOST_TEST_REQUIRE(r.error == "");
    auto& log = f.agent->log();
    auto added = log.wait(nw::event_kind::added, r.id,
                          runc_clock::now() + event_deadline);
    BOOST_TEST_REQUIRE(added.has_value(),
                       "no `added` event" << f.agent->diagnose());
    auto& info = *added->ev.info;
    BOOST_TEST(added->proc.comm == nw::test::crun_env::init_comm);
    BOOST_TEST(added->proc_at_ack.comm == nw::test::crun_env::init_comm);
    BOOST_TEST((added->at <= r.read.returned),
               "`added` arrived " << ms(added->at - r.read.returned)
                                  << " ms after the pidfile read returned");
    BOOST_TEST(ms(r.read.duration()) >= ms(nw::test::ack_delay));
    BOOST_TEST(ms(r.read.duration()) < ms(nw::test::harness_hold_deadline));
    BOOST_TEST(info.held);
    BOOST_TEST(info.pid == static_cast<uint32_t>(r.pid));
    BOOST_TEST(info.mntns == added->proc.mntns);
    BOOST_TEST(info.netns == added->proc.netns);
    BOOST_TEST(info.start_time == added->proc.start_time);
    BOOST_TEST(info.mntns != nw::test::probe_process(0).mntns);
    BOOST_TEST(info.runtime == "crun");
    BOOST_TEST(info.id == r.id);
    BOOST_TEST(info.name == r.id);
    BOOST_TEST(info.bundle == r.bundle);
    BOOST_TEST(r.output == want_output);
    auto removed = log.wait(nw::event_kind::removed, r.id,
                            runc_clock::now() + event_deadline);
    BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
    // After the exit: the init had exited when `removed` arrived. (Not
    // compared with `r.exited`: the edge's pidfd report may beat this
    // thread's own wakeup on the init's exit.)
    BOOST_TEST(removed->init_gone(info.start_time),
               "`removed` arrived while the init still ran (state "
                 << removed->proc.state << ")");
    BOOST_TEST_MESSAGE(r.id << ": pidfile read held " << ms(r.read.duration())
                            << " ms; removed " << ms(removed->at - r.exited)
                            << " ms after this thread saw the exit");
    BOOST_TEST(log.of(r.id).size() == 2u);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(a_crun_container_is_added_before_its_entrypoint) {
  auto& f = fx();
  auto r = drive(f.crun->env(), &f.agent->log(), {"/bin/sh", "-c", "echo hi"},
                 "nwt-crun-hi");
  check_detected(r, "hi\n");
}

BOOST_AUTO_TEST_CASE(a_crun_container_that_sleeps_is_removed_after_it_exits) {
  auto& f = fx();
  auto r = drive(f.crun->env(), &f.agent->log(), {"/bin/sleep", "0.2"},
                 "nwt-crun-sl");
  check_detected(r, "");
}

BOOST_AUTO_TEST_CASE(no_crun_container_fails_detection_once_its_watch_expires) {
  // Every crun container above was added. None may be reported failed once
  // the pidfile watches of its create have expired (15 s): a second watch
  // for the same container would be one that never sees a read.
  auto& f = fx();
  auto deadline = last_create + pending_timeout + 1500ms;
  auto failed = f.agent->log().wait_for(
    [](const nw::test::observed& o) {
      return o.ev.kind == nw::event_kind::detection_failed
             && o.ev.info->id.rfind("nwt-crun-", 0) == 0;
    },
    deadline);
  BOOST_TEST_MESSAGE(
    "waited " << ms(runc_clock::now() - last_create)
              << " ms after the last create for a late detection_failed");
  if (failed)
    BOOST_ERROR(
      "`detection_failed` for "
      << failed->ev.info->id
      << " (added before, so detected once): " << failed->ev.reason
      << ". crun re-executes itself: it opens /proc/self/exe (the watched "
         "/usr/bin/crun) and calls execveat(fd, \"\", AT_EMPTY_PATH) with the "
         "same argv. bpf/execruntime hooks only execve, so the edge takes "
         "that exec's argv from /proc (edge_argv_proc), which is the same "
         "`create`; the runtime watcher starts a second pidfile watcher for "
         "the same id and pidfile, which never sees a read and expires."
      << f.agent->diagnose());
}
