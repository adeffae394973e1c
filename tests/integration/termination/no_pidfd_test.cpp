// `--no-pidfd` on real runc containers: the agent graph with the edge's
// pidfds off sees a killed container's end through the /proc poller alone,
// once, and the edge watches nothing.
#define BOOST_TEST_MODULE no_pidfd
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>

#include "tests/integration/support/live_graph.hpp"
#include "tests/integration/support/runc_fixture.hpp"

using namespace std::chrono_literals;
using nw::test::runc_container;

BOOST_AUTO_TEST_CASE(
  without_pidfds_the_poller_alone_removes_a_killed_container) {
  nw::test::require_runc();
  nw::graph_options opts;
  opts.poll_interval = 100ms;
  opts.edge.use_pidfd = false;
  nw::test::live_graph agent{opts};
  nw::test::runc_env env;
  // The marks may be placed after spawn_graph returned: run containers
  // until one is detected (bounded).
  std::unique_ptr<runc_container> c;
  auto deadline = nw::test::runc_clock::now() + 20s;
  while (nw::test::runc_clock::now() < deadline) {
    c = std::make_unique<runc_container>(
      env, nw::test::bundle_options{{"/bin/sleep", "30"}},
      env.unique_id("nwt-nopidfd"));
    c->create();
    c->read_pid();
    c->start();
    if (agent.seen().wait(nw::event_kind::added, c->id(), 2000ms))
      break;
    c.reset();
  }
  BOOST_TEST_REQUIRE(static_cast<bool>(c), "no container was detected");
  ::kill(c->init_pid(), SIGKILL);
  c->wait_exit();
  BOOST_TEST(
    agent.seen().wait(nw::event_kind::removed, c->id(), 5000ms).has_value(),
    "not removed by the poller");
  auto counters = agent.edge_counters();
  BOOST_TEST(counters["edge_pidfd_watched"] == 0u);
  BOOST_TEST(counters["edge_pidfd_exits"] == 0u);
  c->remove();
  BOOST_TEST(agent.seen().count(c->id()) == 2u, "one `added`, one `removed`");
}
