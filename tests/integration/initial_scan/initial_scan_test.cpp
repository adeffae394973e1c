// The start-up scan end to end: two real runc containers (busybox `sleep`)
// are created and started under a private runc --root before the agent
// graph exists; the graph (real kernel edge, real /proc) is then started
// with that root as its only state root. Both must arrive as `added` with
// initial=true, held=false and the right pid, bundle and mount namespace;
// killing one must bring its `removed` (the /proc poller), and only its.
//
// Every wait blocks on the event log with a deadline; no sleep stands in
// for synchronisation.
#define BOOST_TEST_MODULE initial_scan_integration
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;
using nw::test::runc_container;
using nw::test::runc_env;

/// How long an event may take once it is due (the poller runs every 100 ms).
constexpr auto event_deadline = 10s;

/// Every event the subscriber saw, and the scan's counters once it is done.
class event_log {
public:
  void push(nw::container_event ev) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      events_.push_back(std::move(ev));
    }
    cv_.notify_all();
  }

  void scan_done(nw::counters c) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      scanned_ = std::move(c);
    }
    cv_.notify_all();
  }

  /// The first event of `kind` for `id`, waiting until `deadline`.
  std::optional<nw::container_event> wait(nw::event_kind kind,
                                          const std::string& id,
                                          runc_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    std::optional<nw::container_event> found;
    cv_.wait_until(lock, deadline, [&] {
      for (auto& ev : events_)
        if (ev.kind == kind && ev.info->id == id) {
          found = ev;
          return true;
        }
      return false;
    });
    return found;
  }

  /// The scan's counters, waiting until `deadline`.
  std::optional<nw::counters> wait_scan(runc_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    cv_.wait_until(lock, deadline, [&] { return scanned_.has_value(); });
    return scanned_;
  }

  /// Every event for `id` so far.
  std::vector<nw::container_event> of(const std::string& id) {
    std::lock_guard<std::mutex> guard{mx_};
    std::vector<nw::container_event> result;
    for (auto& ev : events_)
      if (ev.info->id == id)
        result.push_back(ev);
    return result;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::vector<nw::container_event> events_;
  std::optional<nw::counters> scanned_;
};

nw::subscriber_actor::behavior_type recorder(std::shared_ptr<event_log> log) {
  return {
    [log](nw::event_atom, const nw::container_event& ev) {
      log->push(ev);
      return nw::ack_atom::value;
    },
  };
}

caf::actor_system_config& agent_config(caf::actor_system_config& cfg) {
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  nw::add_nodewatch_types(cfg);
  return cfg;
}

/// Two sleeping containers, then the agent graph scanning their root.
struct scan_fixture {
  scan_fixture() {
    nw::test::require_runc();
  }

  ~scan_fixture() {
    caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
    g.shutdown();
  }

  /// Creates and starts a container as a shim would (its pidfile read is
  /// not held: no agent runs yet).
  std::unique_ptr<runc_container> start_sleeper() {
    auto c = std::make_unique<runc_container>(
      env, nw::test::bundle_options{{"/bin/sleep", "1000"}},
      env.unique_id("nwt-scan"));
    c->create();
    c->read_pid();
    c->start();
    return c;
  }

  void start_agent() {
    nw::graph_options opts;
    opts.real_kernel = true;
    opts.poll_interval = 100ms;
    // Our own root only: never what the machine's /run/runc holds.
    opts.state_roots = {env.root().string()};
    opts.on_scan_done
      = [log = events](const nw::counters& c) { log->scan_done(c); };
    auto spawned = nw::spawn_graph(sys, opts);
    if (!spawned)
      BOOST_FAIL(
        "the agent graph did not start: " << nw::render(spawned.error()));
    g = *spawned;
    sub = caf::actor_cast<nw::subscriber_actor>(sys.spawn(recorder, events));
    caf::scoped_actor self{sys};
    std::string error;
    self
      ->request(g.registry, 10s, nw::subscribe_atom::value, nw::selector{}, sub)
      .receive([](const std::vector<nw::container_event>&) {},
               [&](caf::error& err) { error = nw::render(err); });
    BOOST_TEST_REQUIRE(error.empty(), "cannot subscribe: " << error);
    g.play();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{agent_config(cfg)};
  runc_env env;
  nw::graph g;
  nw::subscriber_actor sub;
  std::shared_ptr<event_log> events = std::make_shared<event_log>();
};

} // namespace

BOOST_FIXTURE_TEST_CASE(running_containers_are_found_at_start, scan_fixture) {
  auto a = start_sleeper();
  auto b = start_sleeper();
  start_agent();
  auto deadline = runc_clock::now() + event_deadline;
  for (auto* c : {a.get(), b.get()}) {
    BOOST_TEST_CONTEXT("container " << c->id()) {
      auto added = events->wait(nw::event_kind::added, c->id(), deadline);
      BOOST_TEST_REQUIRE(added.has_value(), "no `added` within 10 s");
      auto& info = *added->info;
      BOOST_TEST(info.initial);
      BOOST_TEST(!info.held);
      BOOST_TEST(info.pid == static_cast<uint32_t>(c->init_pid()));
      BOOST_TEST(info.bundle == c->bundle().dir().string());
      BOOST_TEST(info.runtime == "runc");
      BOOST_TEST(info.name == c->id());
      auto proc = nw::test::probe_process(c->init_pid());
      BOOST_TEST(info.mntns == proc.mntns);
      BOOST_TEST(info.netns == proc.netns);
      BOOST_TEST(info.start_time == proc.start_time);
      BOOST_TEST(info.mntns != nw::test::probe_process(0).mntns);
    }
  }
  auto scanned = events->wait_scan(deadline);
  BOOST_TEST_REQUIRE(scanned.has_value(), "the scan did not finish");
  BOOST_TEST(scanned->at("scan_added") == 2u);
  BOOST_TEST(scanned->at("scan_bad_state") == 0u);

  // Kill one: its init exits, the poller sees it, `removed` follows.
  auto st = nw::test::run_process(
    {env.real_runc(), "--root", env.root().string(), "kill", a->id(), "KILL"},
    {}, 10s);
  BOOST_TEST_REQUIRE(st == 0, "runc kill failed");
  a->wait_exit();
  auto removed = events->wait(nw::event_kind::removed, a->id(),
                              runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` within 10 s");
  BOOST_TEST(removed->info->initial);
  BOOST_TEST(events->of(a->id()).size() == 2u);
  BOOST_TEST(events->of(b->id()).size() == 1u); // still running: added only
}

BOOST_FIXTURE_TEST_CASE(a_stopped_container_is_not_added, scan_fixture) {
  // runc keeps the state of a container whose init exited until `delete`:
  // its pid is gone (or reused), so the scan must pass it over.
  auto a = start_sleeper();
  auto st = nw::test::run_process(
    {env.real_runc(), "--root", env.root().string(), "kill", a->id(), "KILL"},
    {}, 10s);
  BOOST_TEST_REQUIRE(st == 0, "runc kill failed");
  a->wait_exit();
  auto b = start_sleeper();
  start_agent();
  auto deadline = runc_clock::now() + event_deadline;
  BOOST_TEST_REQUIRE(
    events->wait(nw::event_kind::added, b->id(), deadline).has_value());
  auto scanned = events->wait_scan(deadline);
  BOOST_TEST_REQUIRE(scanned.has_value(), "the scan did not finish");
  BOOST_TEST(scanned->at("scan_added") == 1u);
  BOOST_TEST(scanned->at("scan_not_running") + scanned->at("scan_pid_reused")
             == 1u);
  BOOST_TEST(events->of(a->id()).empty());
}
