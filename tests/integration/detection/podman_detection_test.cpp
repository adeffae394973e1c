// podman detection end to end: the whole agent graph on the real kernel
// (agent_harness.hpp) and podman with private storage (podman_fixture.hpp),
// which goes podman → conmon (`-n NAME -c ID`, seen first) → runc create
// (conmon reads the pidfile: the held read) → runc start.
//
// `podman run -d` starts the container only after conmon's pidfile read
// returned, so the subscriber, which reads the init's comm on `added` and
// again 50 ms later before it acks, must see runc's init (`runc:[2:INIT]`)
// both times. The name is conmon's `-n` (CONTRACTS.md), the annotations
// podman's (`io.container.manager=libpod`, never Kubernetes names).
#define BOOST_TEST_MODULE podman_detection
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/detection/agent_harness.hpp"
#include "tests/integration/support/podman_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::ms;
using nw::test::runc_clock;

/// How long an event may take to show up once it is due.
constexpr auto event_deadline = 5s;

/// Podman storage, then the agent (warmed up on podman containers).
struct fixture {
  static inline fixture* instance = nullptr;

  fixture() {
    nw::test::require_podman();
    auto t0 = runc_clock::now();
    pm = std::make_unique<nw::test::podman_env>();
    auto t1 = runc_clock::now();
    agent = std::make_unique<nw::test::agent_harness>(
      std::vector<std::string>{}, [this] {
        return pm->run(pm->unique_name("nwt-pod-warm"), {"/bin/true"});
      });
    BOOST_TEST_MESSAGE("podman image imported in "
                       << ms(t1 - t0) << " ms; agent ready after "
                       << agent->warm_ups() << " warm-up container(s), "
                       << ms(runc_clock::now() - t1) << " ms");
    instance = this;
  }

  ~fixture() {
    instance = nullptr;
    agent.reset();
    pm.reset();
  }

  std::unique_ptr<nw::test::podman_env> pm;
  std::unique_ptr<nw::test::agent_harness> agent;
};

BOOST_TEST_GLOBAL_FIXTURE(fixture);

fixture& fx() {
  BOOST_TEST_REQUIRE(fixture::instance != nullptr);
  return *fixture::instance;
}

/// Checks the `added` of container `id` named `name`: before the
/// entrypoint, held, the right record.
std::optional<nw::test::observed> check_added(const std::string& id,
                                              const std::string& name) {
  auto& f = fx();
  auto added = f.agent->log().wait(nw::event_kind::added, id,
                                   runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(added.has_value(), "no `added` event for "
                                          << name << " (" << id << ")"
                                          << f.agent->diagnose());
  auto& info = *added->ev.info;
  BOOST_TEST(added->proc.comm == "runc:[2:INIT]");
  BOOST_TEST(added->proc_at_ack.comm == "runc:[2:INIT]");
  BOOST_TEST(info.held);
  BOOST_TEST(info.id == id);
  BOOST_TEST(info.pid == static_cast<uint32_t>(f.pm->init_pid(id)));
  BOOST_TEST(info.mntns == added->proc.mntns);
  BOOST_TEST(info.netns == added->proc.netns);
  BOOST_TEST(info.start_time == added->proc.start_time);
  BOOST_TEST(info.mntns != nw::test::probe_process(0).mntns);
  BOOST_TEST(info.runtime == "runc");
  BOOST_TEST(info.bundle == f.pm->bundle(id).string());
  // conmon's -n, seen before the create.
  BOOST_TEST(info.name == name);
  auto manager = info.annotations.find("io.container.manager");
  BOOST_TEST_REQUIRE((manager != info.annotations.end()),
                     "no io.container.manager annotation");
  BOOST_TEST(manager->second == "libpod");
  // Every annotation of the bundle's config.json, as the pidfile watcher
  // read it.
  BOOST_TEST(
    (info.annotations
     == nw::test::config_annotations(f.pm->bundle(id) / "config.json")));
  // Podman never yields Kubernetes names.
  BOOST_TEST(info.k8s.namespace_ == "");
  BOOST_TEST(info.k8s.pod == "");
  BOOST_TEST(!info.sandbox);
  return added;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_podman_container_is_added_before_its_entrypoint) {
  auto& f = fx();
  auto name = f.pm->unique_name("nwt-pod-hi");
  auto id = f.pm->run(name, {"/bin/sh", "-c", "echo hi"});
  auto added = check_added(id, name);
  auto removed = f.agent->log().wait(nw::event_kind::removed, id,
                                     runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
  BOOST_TEST(removed->init_gone(added->ev.info->start_time));
  BOOST_TEST(f.pm->wait_exited(name, runc_clock::now() + event_deadline));
  BOOST_TEST(f.pm->logs(name) == "hi\n");
  BOOST_TEST_MESSAGE(name << ": removed " << ms(removed->at - added->at)
                          << " ms after added");
  f.pm->remove(name);
  BOOST_TEST(f.agent->log().of(id).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_killed_podman_container_is_removed) {
  auto& f = fx();
  auto name = f.pm->unique_name("nwt-pod-kill");
  auto id = f.pm->run(name, {"/bin/sleep", "60"});
  auto added = check_added(id, name);
  nw::test::record_config(f.pm->bundle(id) / "config.json", "podman.json");
  BOOST_TEST(f.agent->log().of(id).size() == 1u);
  auto killed = runc_clock::now();
  f.pm->kill(name);
  auto removed = f.agent->log().wait(nw::event_kind::removed, id,
                                     runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event after the kill");
  BOOST_TEST(removed->init_gone(added->ev.info->start_time));
  BOOST_TEST_MESSAGE(name << ": removed " << ms(removed->at - killed)
                          << " ms after podman kill");
  f.pm->remove(name);
}

BOOST_AUTO_TEST_CASE(three_podman_containers_in_parallel) {
  constexpr int n = 3;
  auto& f = fx();
  std::vector<std::string> names(n), ids(n), errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    names[i] = f.pm->unique_name("nwt-pod-par");
    threads.emplace_back([&, i] {
      try {
        ids[i] = f.pm->run(names[i], {"/bin/sleep", "60"});
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < n; ++i) {
    BOOST_TEST_CONTEXT("container " << names[i]) {
      BOOST_TEST_REQUIRE(errors[i] == "");
      check_added(ids[i], names[i]);
    }
  }
  // All three running and detected; then removed once killed.
  for (int i = 0; i < n; ++i) {
    BOOST_TEST_CONTEXT("container " << names[i]) {
      f.pm->remove(names[i]);
      BOOST_TEST(f.agent->log()
                   .wait(nw::event_kind::removed, ids[i],
                         runc_clock::now() + event_deadline)
                   .has_value());
    }
  }
}
