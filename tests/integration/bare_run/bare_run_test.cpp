// Beyond the anchor: a container started with a bare `runc run` (no
// `create`, no pidfile read to hold) is still seen, from its runtime's
// state root, with held=false; and removed when it ends. The state root
// does not exist when the agent starts (runc makes it on first use), so
// the edge watches for it from its nearest existing ancestor.
#define BOOST_TEST_MODULE bare_run
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "tests/integration/support/live_graph.hpp"
#include "tests/integration/support/runc_fixture.hpp"

using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(a_bare_runc_run_is_seen_unheld_and_removed) {
  nw::test::require_runc();
  nw::test::runc_env env;
  BOOST_TEST_REQUIRE(!std::filesystem::exists(env.root()));
  nw::graph_options opts;
  opts.poll_interval = 100ms;
  opts.state_roots = {env.root().string()};
  nw::test::live_graph agent{opts};
  auto id = env.unique_id("nwt-bare");
  nw::test::runc_bundle bundle{env, id, {{"/bin/sleep", "30"}}};
  auto runc = env.runtime();
  auto root = env.root().string();
  std::optional<nw::test::child_process> run;
  run.emplace(std::vector<std::string>{runc, "--root", root, "run", "--bundle",
                                       bundle.dir().string(), id},
              (env.dir() / "bare-run.log").string());
  auto added = agent.seen().wait(nw::event_kind::added, id, 10000ms);
  BOOST_TEST_REQUIRE(added.has_value(), "a bare runc run was not seen");
  auto& info = *added->info;
  BOOST_TEST(!info.held, "nothing was held");
  BOOST_TEST(!info.initial);
  BOOST_TEST(info.pid > 0u);
  BOOST_TEST(info.bundle == bundle.dir().string());
  BOOST_TEST(info.runtime == "runc");
  BOOST_TEST(agent.edge_counters()["edge_states_appeared"] >= 1u);
  nw::test::run_process({runc, "--root", root, "kill", id, "KILL"}, "", 10s);
  BOOST_TEST(
    agent.seen().wait(nw::event_kind::removed, id, 10000ms).has_value(),
    "not removed");
  run->wait_until(nw::test::runc_clock::now() + 10s);
  run.reset();
  nw::test::run_process({runc, "--root", root, "delete", "--force", id}, "",
                        10s);
  BOOST_TEST(agent.seen().count(id) == 2u, "one `added`, one `removed`");
}
