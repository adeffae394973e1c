// containerd detection end to end: the whole agent graph on the real kernel
// (agent_harness.hpp), a private containerd (containerd_fixture.hpp) and
// `ctr run -d`, which goes containerd → containerd-shim-runc-v2 → runc
// create (the shim reads init.pid: the held read) → runc start.
//
// `ctr run` creates the task and starts it only once the create returned,
// and the create returns only after the shim's pidfile read: so the
// subscriber, which reads the init's comm on `added` and again 50 ms later
// before it acks, must see runc's init (`runc:[2:INIT]`) both times.
#define BOOST_TEST_MODULE containerd_detection
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/detection/agent_harness.hpp"
#include "tests/integration/support/containerd_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::ms;
using nw::test::runc_clock;

/// How long an event may take to show up once it is due.
constexpr auto event_deadline = 5s;

/// A private containerd, then the agent (warmed up on ctr containers).
struct fixture {
  static inline fixture* instance = nullptr;

  fixture() {
    nw::test::require_containerd();
    auto t0 = runc_clock::now();
    ctrd = std::make_unique<nw::test::containerd_env>();
    auto t1 = runc_clock::now();
    agent = std::make_unique<nw::test::agent_harness>(
      std::vector<std::string>{}, [this] {
        auto id = ctrd->unique_id("nwt-ctr-warm");
        ctrd->run(id, {"/bin/true"});
        return id;
      });
    BOOST_TEST_MESSAGE("containerd ready in "
                       << ms(t1 - t0) << " ms; agent ready after "
                       << agent->warm_ups() << " warm-up container(s), "
                       << ms(runc_clock::now() - t1) << " ms");
    instance = this;
  }

  ~fixture() {
    instance = nullptr;
    // The agent first: its holds must not outlive it, and containerd's
    // cleanup runs runc, which an agent would see.
    agent.reset();
    ctrd.reset();
  }

  std::unique_ptr<nw::test::containerd_env> ctrd;
  std::unique_ptr<nw::test::agent_harness> agent;
};

BOOST_TEST_GLOBAL_FIXTURE(fixture);

fixture& fx() {
  BOOST_TEST_REQUIRE(fixture::instance != nullptr);
  return *fixture::instance;
}

/// Checks the `added` of `id` (run with `ctr run -d`): before the
/// entrypoint, held, the right record. Returns it.
std::optional<nw::test::observed> check_added(const std::string& id) {
  auto& f = fx();
  auto added = f.agent->log().wait(nw::event_kind::added, id,
                                   runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(added.has_value(),
                     "no `added` event for " << id << f.agent->diagnose());
  auto& info = *added->ev.info;
  // Before the entrypoint, on arrival and `ack_delay` later.
  BOOST_TEST(added->proc.comm == "runc:[2:INIT]");
  BOOST_TEST(added->proc_at_ack.comm == "runc:[2:INIT]");
  BOOST_TEST(info.held);
  BOOST_TEST(info.id == id);
  BOOST_TEST(info.pid == static_cast<uint32_t>(f.ctrd->init_pid(id)));
  BOOST_TEST(info.mntns == added->proc.mntns);
  BOOST_TEST(info.netns == added->proc.netns);
  BOOST_TEST(info.start_time == added->proc.start_time);
  BOOST_TEST(info.mntns != nw::test::probe_process(0).mntns);
  BOOST_TEST(info.runtime == "runc");
  BOOST_TEST(info.bundle == f.ctrd->bundle(id).string());
  // No conmon, no Kubernetes annotations: the name is the id.
  BOOST_TEST(info.name == id);
  BOOST_TEST(!info.sandbox);
  BOOST_TEST(info.k8s.pod == "");
  // What the pidfile watcher read from the bundle: `ctr` writes none.
  BOOST_TEST(info.annotations.empty());
  BOOST_TEST(
    nw::test::config_annotations(f.ctrd->bundle(id) / "config.json").empty());
  return added;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_ctr_container_is_added_before_its_entrypoint) {
  auto& f = fx();
  auto id = f.ctrd->unique_id("nwt-ctr-hi");
  f.ctrd->run(id, {"/bin/sh", "-c", "echo hi"});
  auto added = check_added(id);
  // It exits by itself: removed after, and the entrypoint did run.
  auto removed = f.agent->log().wait(nw::event_kind::removed, id,
                                     runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
  BOOST_TEST(removed->init_gone(added->ev.info->start_time));
  BOOST_TEST(f.ctrd->wait_stopped(id, runc_clock::now() + event_deadline));
  BOOST_TEST(f.ctrd->output(id) == "hi\n");
  BOOST_TEST_MESSAGE(id << ": removed " << ms(removed->at - added->at)
                        << " ms after added");
  f.ctrd->remove(id);
  BOOST_TEST(f.agent->log().of(id).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_killed_ctr_container_is_removed) {
  auto& f = fx();
  auto id = f.ctrd->unique_id("nwt-ctr-kill");
  f.ctrd->run(id, {"/bin/sleep", "60"});
  auto added = check_added(id);
  BOOST_TEST(f.ctrd->status(id) == "RUNNING");
  nw::test::record_config(f.ctrd->bundle(id) / "config.json",
                          "containerd-ctr.json");
  BOOST_TEST(f.agent->log().of(id).size() == 1u);
  auto killed = runc_clock::now();
  f.ctrd->kill(id);
  auto removed = f.agent->log().wait(nw::event_kind::removed, id,
                                     runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event after the kill");
  BOOST_TEST(removed->init_gone(added->ev.info->start_time));
  BOOST_TEST_MESSAGE(id << ": removed " << ms(removed->at - killed)
                        << " ms after ctr task kill");
  f.ctrd->remove(id);
}

BOOST_AUTO_TEST_CASE(three_ctr_containers_in_a_row) {
  auto& f = fx();
  for (int i = 0; i < 3; ++i) {
    auto id = f.ctrd->unique_id("nwt-ctr-row");
    f.ctrd->run(id, {"/bin/sh", "-c", "echo row-" + std::to_string(i)});
    auto added = check_added(id);
    auto removed = f.agent->log().wait(nw::event_kind::removed, id,
                                       runc_clock::now() + event_deadline);
    BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
    BOOST_TEST(removed->init_gone(added->ev.info->start_time));
    BOOST_TEST(f.ctrd->wait_stopped(id, runc_clock::now() + event_deadline));
    BOOST_TEST(f.ctrd->output(id) == "row-" + std::to_string(i) + "\n");
    f.ctrd->remove(id);
  }
}

BOOST_AUTO_TEST_CASE(four_ctr_containers_in_parallel) {
  constexpr int n = 4;
  auto& f = fx();
  std::vector<std::string> ids(n), errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    ids[i] = f.ctrd->unique_id("nwt-ctr-par");
    threads.emplace_back([&, i] {
      try {
        f.ctrd->run(ids[i], {"/bin/sh", "-c", "echo par-" + std::to_string(i)});
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < n; ++i) {
    BOOST_TEST_CONTEXT("container " << ids[i]) {
      BOOST_TEST_REQUIRE(errors[i] == "");
      auto added = check_added(ids[i]);
      auto removed = f.agent->log().wait(nw::event_kind::removed, ids[i],
                                         runc_clock::now() + event_deadline);
      BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
      BOOST_TEST(removed->init_gone(added->ev.info->start_time));
      BOOST_TEST(
        f.ctrd->wait_stopped(ids[i], runc_clock::now() + event_deadline));
      BOOST_TEST(f.ctrd->output(ids[i]) == "par-" + std::to_string(i) + "\n");
      f.ctrd->remove(ids[i]);
    }
  }
}
