// Record and replay end to end with podman (private storage; podman →
// conmon → runc; record_session.hpp): one container running before the
// agent starts (found by the start-up scan in runc's default root, where
// podman leaves runc's state, and named by its id), then containers one
// after another (named by conmon's -n), then the first one killed; the
// recording replayed on the scripted kernel must print the same events.
//
// Skips (77) with the reason when podman cannot run here.
#define BOOST_TEST_MODULE record_replay_podman
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/record/record_session.hpp"
#include "tests/integration/support/podman_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;

} // namespace

BOOST_AUTO_TEST_CASE(a_recorded_podman_node_replays_to_the_same_events) {
  nw::test::require_podman();
  nw::test::podman_env pm;
  auto path = (pm.dir() / "record.jsonl").string();
  auto initial_name = pm.unique_name("nwr-pod-i");
  auto initial = pm.run(initial_name, {"/bin/sleep", "60"});
  // The containers this test runs (other tests may run theirs meanwhile).
  std::set<std::string> ids{initial};
  auto ours = [&ids](const nlohmann::json& ev) {
    return ids.count(ev["id"].get<std::string>()) > 0;
  };

  nw::test::record_session rec{path, {"/run/runc"}};
  BOOST_TEST_REQUIRE(rec.live().wait("added", initial, runc_clock::now() + 10s),
                     "the running container was not found at start");
  BOOST_TEST_REQUIRE(rec.warm_up([&pm, &ids] {
    return *ids.insert(pm.run(pm.unique_name("nwr-pod-w"), {"/bin/true"}))
              .first;
  }),
                     "no warm-up container was detected");
  for (int i = 0; i < 3; ++i) {
    auto name = pm.unique_name("nwr-pod-c");
    auto id = pm.run(name, {"/bin/sh", "-c", "echo " + std::to_string(i)});
    ids.insert(id);
    BOOST_TEST_REQUIRE(rec.live().wait("removed", id, runc_clock::now() + 10s),
                       name << " was not added and removed");
    pm.remove(name);
  }
  pm.kill(initial_name);
  BOOST_TEST_REQUIRE(
    rec.live().wait("removed", initial, runc_clock::now() + 10s),
    "the running container's exit was not seen");
  rec.stop();
  pm.remove(initial_name);

  auto live = rec.live().text();
  BOOST_TEST(nw::test::comparable_events(nw::test::only_ours(live, ours)).size()
             >= 10u);
  BOOST_TEST(live.find("\"name\":\"nwr-pod-c-") != std::string::npos);
  nw::test::check_replay(path, live, nw::test::replay_match::exact, ours);
}
