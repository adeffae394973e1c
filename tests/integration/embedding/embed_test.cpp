// include/nodewatch/embed.hpp on CAF's normal scheduler, as a host program
// uses it: a scenario graph started paused plays only when told; the facade
// answers typed requests; stop() is synchronous (the facade is gone when it
// returns), idempotent and done by the destructor and by a move; options the
// agent would refuse are `bad_input`; a real kernel with no runtime binary
// under the host root is `kernel_refused` with nothing left running.
#define BOOST_TEST_MODULE embed
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "nodewatch/embed.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

const std::string nginx_id
  = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc";

/// Why `start` failed; Boost builds a message even when the check passes,
/// and an engaged `expected` has no error to render.
std::string why(const caf::expected<nw::embed::agent>& x) {
  return x ? std::string{} : nw::render(x.error());
}

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  fixture() {
    nw::embed::configure(cfg);
    cfg.set("scheduler.policy", caf::atom("sharing"));
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  nw::embed::options demo() const {
    nw::embed::options opts;
    opts.scenario = NW_DEMO_SCENARIO;
    return opts;
  }

  /// The facade's listing, sandboxes included; an error as a failed check.
  std::vector<nw::container_event> list(const nw::node_actor& node) {
    caf::scoped_actor self{*sys};
    std::vector<nw::container_event> out;
    self->request(node, 5s, nw::list_atom::value, nw::selector{}, true)
      .receive([&](std::vector<nw::container_event>& xs) { out = xs; },
               [&](caf::error& err) {
                 BOOST_FAIL("list failed: " << nw::render(err));
               });
    return out;
  }

  /// Whether the facade answers at all (false once it has quit).
  bool answers(const nw::node_actor& node) {
    caf::scoped_actor self{*sys};
    bool ok = false;
    self->request(node, 2s, nw::status_atom::value)
      .receive([&](nw::node_status&) { ok = true; }, [](caf::error&) {});
    return ok;
  }

  /// Polls the listing until it has `id` (deadline 5 s).
  bool wait_listed(const nw::node_actor& node, const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& ev : list(node))
        if (ev.info->id == id)
          return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// Starts with `opts`, expecting an error of code `code`; its text.
  std::string refused(const nw::embed::options& opts, nw::errc code) {
    auto x = nw::embed::start(*sys, opts);
    BOOST_REQUIRE_MESSAGE(!x, "start succeeded, want an error");
    BOOST_CHECK(x.error().category() == nw::error_category);
    BOOST_CHECK_EQUAL(x.error().code(), static_cast<uint8_t>(code));
    return nw::render(x.error());
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(embed, fixture)

BOOST_AUTO_TEST_CASE(a_paused_graph_plays_when_told) {
  auto opts = demo();
  opts.paused = true;
  auto agent = nw::embed::start(*sys, opts);
  BOOST_REQUIRE_MESSAGE(agent, why(agent));
  BOOST_REQUIRE(agent->node());
  // The demo's first container is registered at 24 ms once playing.
  std::this_thread::sleep_for(300ms);
  BOOST_CHECK(list(agent->node()).empty());
  agent->play();
  agent->play(); // a second play does nothing
  BOOST_CHECK(wait_listed(agent->node(), nginx_id));
  caf::scoped_actor self{*sys};
  self->request(agent->node(), 5s, nw::status_atom::value)
    .receive(
      [&](nw::node_status& st) {
        BOOST_CHECK(st.features["scenario"]);
        BOOST_CHECK(!st.features["real_kernel"]);
        BOOST_CHECK(!st.features["tc"]);
        BOOST_CHECK(!st.features["traceloop"]);
        BOOST_CHECK(!st.features["containers_map"]);
      },
      [&](caf::error& err) { BOOST_FAIL(nw::render(err)); });
  self->request(agent->node(), 5s, nw::get_atom::value, std::string{"nginx"})
    .receive(
      [&](nw::container_info& info) { BOOST_CHECK_EQUAL(info.pid, 4102u); },
      [&](caf::error& err) { BOOST_FAIL(nw::render(err)); });
  BOOST_CHECK(agent->stop());
}

BOOST_AUTO_TEST_CASE(the_scenario_end_is_reported) {
  std::promise<void> ended;
  auto opts = demo();
  opts.on_scenario_end = [&ended] { ended.set_value(); };
  auto agent = nw::embed::start(*sys, opts);
  BOOST_REQUIRE_MESSAGE(agent, why(agent));
  BOOST_CHECK(ended.get_future().wait_for(10s) == std::future_status::ready);
}

BOOST_AUTO_TEST_CASE(stop_is_synchronous_and_idempotent) {
  auto agent = nw::embed::start(*sys, demo());
  BOOST_REQUIRE_MESSAGE(agent, why(agent));
  auto node = agent->node();
  BOOST_CHECK(answers(node));
  BOOST_CHECK(agent->running());
  BOOST_CHECK(agent->stop(5s));
  BOOST_CHECK(!agent->running());
  BOOST_CHECK(!agent->node());
  BOOST_CHECK(!answers(node)); // gone when stop() returned
  BOOST_CHECK(agent->stop());
  agent->play(); // nothing to play
}

BOOST_AUTO_TEST_CASE(the_destructor_and_a_move_stop_the_graph) {
  nw::node_actor first;
  nw::node_actor second;
  {
    auto a = nw::embed::start(*sys, demo());
    BOOST_REQUIRE_MESSAGE(a, why(a));
    first = a->node();
    auto moved = std::move(*a);
    BOOST_CHECK(!a->running());
    BOOST_CHECK(!a->node());
    BOOST_CHECK(moved.running());
    BOOST_CHECK(moved.node() == first);
    auto b = nw::embed::start(*sys, demo());
    BOOST_REQUIRE_MESSAGE(b, why(b));
    second = b->node();
    moved = std::move(*b); // stops the first graph
    BOOST_CHECK(!answers(first));
    BOOST_CHECK(answers(second));
  }
  BOOST_CHECK(!answers(second));
}

BOOST_AUTO_TEST_CASE(options_the_agent_refuses_are_bad_input) {
  using nw::errc;
  auto opts = demo();
  opts.hold_deadline = 100ms;
  BOOST_CHECK_NE(refused(opts, errc::bad_input).find("hold_deadline"),
                 std::string::npos);
  opts = demo();
  opts.traceloop = "";
  refused(opts, errc::bad_input);
  opts.traceloop = "color=blue";
  BOOST_CHECK_NE(refused(opts, errc::bad_input).find("traceloop"),
                 std::string::npos);
  opts = demo();
  opts.traceloop_memory_mib = 0;
  refused(opts, errc::bad_input);
  opts = demo();
  opts.pin_path = "relative/dir";
  refused(opts, errc::bad_input);
  opts = demo();
  opts.state_roots = std::vector<std::string>{"run/runc"};
  refused(opts, errc::bad_input);
  opts = demo();
  opts.scenario = "/nonexistent/scenario.jsonl";
  BOOST_CHECK_NE(refused(opts, errc::bad_input).find("scenario"),
                 std::string::npos);
  // Selectors and empty state roots that the agent takes are fine.
  opts = demo();
  opts.traceloop = "namespace=shop;container=!nginx";
  opts.state_roots = std::vector<std::string>{""};
  auto ok = nw::embed::start(*sys, opts);
  BOOST_CHECK_MESSAGE(ok, why(ok));
}

BOOST_AUTO_TEST_CASE(a_real_kernel_without_runtimes_is_refused) {
  // Root: the fanotify groups open, then no runtime binary is found under
  // an empty host root. Not root: fanotify refuses. Either way nothing is
  // marked and nothing is left running.
  nw::test::temp_dir root{"nw-embed-root"};
  nw::embed::options opts;
  opts.host_root = root.path().string();
  opts.tc = false;
  opts.traceloop = "none";
  opts.pin_path = "";
  opts.state_roots = std::vector<std::string>{};
  auto text = refused(opts, nw::errc::kernel_refused);
  BOOST_TEST_MESSAGE("refused: " << text);
}

BOOST_AUTO_TEST_SUITE_END()
