// Record and replay end to end with runc (record_session.hpp): real runc
// containers driven as containerd's shim drives runc, one running before
// the agent starts (found by the start-up scan), then containers one after
// another, then the first one killed; the recording replayed on the
// scripted kernel must print the same events (kinds, seq, ids, names,
// pids, flags, namespaces, bundles, order).
//
// Root, runc and a static busybox are needed (exit 77 with the reason
// otherwise). Every wait blocks with a deadline; no sleep stands in for
// synchronisation.
#define BOOST_TEST_MODULE record_replay
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/record/record_session.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;
using nw::test::runc_container;
using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_CASE(a_recorded_runc_node_replays_to_the_same_events) {
  nw::test::require_runc();
  nw::test::runc_env env;
  auto path = (env.dir() / "record.jsonl").string();
  // Running before the agent starts: the start-up scan finds it.
  runc_container initial{env, {{"/bin/sleep", "60"}}, env.unique_id("nwr-i")};
  initial.create();
  initial.read_pid();
  initial.start();

  nw::test::record_session rec{path, {env.root()}};
  BOOST_TEST_REQUIRE(
    rec.live().wait("added", initial.id(), runc_clock::now() + 10s),
    "the running container was not found at start");
  BOOST_TEST_REQUIRE(rec.warm_up([&env] {
    runc_container c{env, {{"/bin/true"}}, env.unique_id("nwr-w")};
    c.run();
    return c.id();
  }),
                     "no warm-up container was detected");
  // One after another: each added and removed before the next.
  for (int i = 0; i < 4; ++i) {
    nw::test::bundle_options bo;
    bo.args
      = i % 2 == 0 ? strings{"/bin/true"} : strings{"/bin/sh", "-c", "echo hi"};
    runc_container c{env, bo, env.unique_id("nwr-c")};
    c.run();
    BOOST_TEST_REQUIRE(
      rec.live().wait("removed", c.id(), runc_clock::now() + 10s),
      c.id() << " was not added and removed");
  }
  // The container found at start, killed.
  ::kill(initial.init_pid(), SIGKILL);
  initial.wait_exit();
  BOOST_TEST_REQUIRE(
    rec.live().wait("removed", initial.id(), runc_clock::now() + 10s),
    "the running container's exit was not seen");
  initial.remove();
  rec.stop();

  auto live = rec.live().text();
  BOOST_TEST(nw::test::comparable_events(live).size() == 12u);
  nw::test::check_replay(path, live);
}
