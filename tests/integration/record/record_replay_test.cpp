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

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/record/record_session.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;
using nw::test::runc_container;
using strings = std::vector<std::string>;

/// The containers these tests run (other tests may run theirs meanwhile).
bool ours(const nlohmann::json& ev) {
  return ev["id"].get<std::string>().rfind("nwr-", 0) == 0;
}

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
  BOOST_TEST(nw::test::comparable_events(nw::test::only_ours(live, ours)).size()
             == 12u);
  nw::test::check_replay(path, live, nw::test::replay_match::exact, ours);
}

namespace {

/// Median of how long the shim's pidfile read was held, over `n` runc
/// containers run one after another under an agent recording to `path`
/// ("": not recording).
double median_hold_ms(nw::test::runc_env& env, const std::string& path, int n) {
  nw::test::record_session rec{path, {}};
  BOOST_TEST_REQUIRE(rec.warm_up([&env] {
    runc_container c{env, {{"/bin/true"}}, env.unique_id("nwr-w")};
    c.run();
    return c.id();
  }),
                     "no warm-up container was detected");
  std::vector<double> holds;
  for (int i = 0; i < n; ++i) {
    runc_container c{env, {{"/bin/true"}}, env.unique_id("nwr-m")};
    c.create();
    c.read_pid();
    holds.push_back(
      std::chrono::duration<double, std::milli>(c.last_read().duration())
        .count());
    c.start();
    c.wait_exit();
    c.remove();
    BOOST_TEST_REQUIRE(
      rec.live().wait("removed", c.id(), runc_clock::now() + 10s),
      c.id() << " was not added and removed");
  }
  std::sort(holds.begin(), holds.end());
  return holds[holds.size() / 2];
}

} // namespace

// What recording costs a container's start: the held pidfile read (the
// agent's add, the subscribers' acks, the recorder's hops and writes),
// with and without recording, same process, same runc.
BOOST_AUTO_TEST_CASE(recording_adds_little_to_the_hold) {
  nw::test::require_runc();
  nw::test::runc_env env;
  constexpr int n = 15;
  auto plain = median_hold_ms(env, "", n);
  auto recorded = median_hold_ms(env, (env.dir() / "m.jsonl").string(), n);
  BOOST_TEST_MESSAGE("held pidfile read, median of "
                     << n << ": " << plain << " ms without recording, "
                     << recorded << " ms recording");
  // Generous: a few actor hops and flushed writes, not a round trip to disk
  // per hold.
  BOOST_TEST(recorded < plain + 20.0);
}

// Containers started at the same time: the replay follows the order in
// which the recorder saw the kernel's events, but pidfile reads closer
// together than the agent takes to add a container (~1 ms) may be added
// live in another order (the pidfile watchers run in parallel; seen here
// in about one run in four). So each container's events must replay alike,
// and the stream as a whole up to the interleaving of such containers.
BOOST_AUTO_TEST_CASE(concurrent_containers_replay_to_the_same_events) {
  nw::test::require_runc();
  nw::test::runc_env env;
  auto path = (env.dir() / "concurrent.jsonl").string();
  nw::test::record_session rec{path, {env.root()}};
  BOOST_TEST_REQUIRE(rec.warm_up([&env] {
    runc_container c{env, {{"/bin/true"}}, env.unique_id("nwr-w")};
    c.run();
    return c.id();
  }),
                     "no warm-up container was detected");
  constexpr int rounds = 3;
  constexpr int width = 4;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::string> ids;
    for (int i = 0; i < width; ++i)
      ids.push_back(env.unique_id("nwr-p"));
    std::vector<std::string> errors(width);
    std::vector<std::thread> threads;
    for (int i = 0; i < width; ++i)
      threads.emplace_back([&, i] {
        try {
          runc_container c{env, {{"/bin/true"}}, ids[i]};
          c.run();
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    for (auto& t : threads)
      t.join();
    for (int i = 0; i < width; ++i) {
      BOOST_TEST_REQUIRE(errors[i].empty(), errors[i]);
      BOOST_TEST_REQUIRE(
        rec.live().wait("removed", ids[i], runc_clock::now() + 10s),
        ids[i] << " was not added and removed");
    }
  }
  rec.stop();
  auto live = rec.live().text();
  // Every container added and removed (and at least one warm-up).
  BOOST_TEST(nw::test::comparable_events(nw::test::only_ours(live, ours)).size()
             >= 2u * (rounds * width + 1));
  nw::test::check_replay(path, live, nw::test::replay_match::per_container,
                         ours);
}
