// Record and replay end to end with a private containerd (`ctr run -d`:
// containerd → shim → runc; record_session.hpp): one container running
// before the agent starts (found by the start-up scan under the shim's runc
// root), then containers one after another, then the first one killed; the
// recording replayed on the scripted kernel must print the same events.
//
// Skips (77) with the reason when containerd cannot run here.
#define BOOST_TEST_MODULE record_replay_containerd
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/record/record_session.hpp"
#include "tests/integration/support/containerd_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;

/// The containers this test runs (other tests may run theirs meanwhile).
bool ours(const nlohmann::json& ev) {
  return ev["id"].get<std::string>().rfind("nwr-", 0) == 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_recorded_containerd_node_replays_to_the_same_events) {
  nw::test::require_containerd();
  nw::test::containerd_env ctrd;
  auto path = (ctrd.dir() / "record.jsonl").string();
  auto initial = ctrd.unique_id("nwr-ctr-i");
  ctrd.run(initial, {"/bin/sleep", "60"});

  // The shim's runc root holds one directory per containerd namespace.
  nw::test::record_session rec{path, {ctrd.runc_root().parent_path()}};
  BOOST_TEST_REQUIRE(rec.live().wait("added", initial, runc_clock::now() + 10s),
                     "the running container was not found at start");
  BOOST_TEST_REQUIRE(rec.warm_up([&ctrd] {
    auto id = ctrd.unique_id("nwr-ctr-w");
    ctrd.run(id, {"/bin/true"});
    return id;
  }),
                     "no warm-up container was detected");
  for (int i = 0; i < 3; ++i) {
    auto id = ctrd.unique_id("nwr-ctr-c");
    ctrd.run(id, {"/bin/sh", "-c", "echo " + std::to_string(i)});
    BOOST_TEST_REQUIRE(rec.live().wait("removed", id, runc_clock::now() + 10s),
                       id << " was not added and removed");
    ctrd.remove(id);
  }
  ctrd.kill(initial);
  BOOST_TEST_REQUIRE(
    rec.live().wait("removed", initial, runc_clock::now() + 10s),
    "the running container's exit was not seen");
  rec.stop();
  ctrd.remove(initial);

  auto live = rec.live().text();
  BOOST_TEST(nw::test::comparable_events(nw::test::only_ours(live, ours)).size()
             >= 10u);
  nw::test::check_replay(path, live, nw::test::replay_match::exact, ours);
}
