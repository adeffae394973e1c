// Beyond the anchor: a container started with a bare `runc run` (no
// `create`, no pidfile read to hold) is still seen, from its runtime's
// state root, with held=false; and removed when it ends. The state root
// does not exist when the agent starts (runc makes it on first use), so
// the edge watches for it from its nearest existing ancestor.
#define BOOST_TEST_MODULE bare_run
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

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

/// The events seen, by kind and id.
class seen_events {
public:
  void push(const nw::container_event& ev) {
    std::lock_guard<std::mutex> guard{mx_};
    events_.emplace(std::make_pair(ev.kind, ev.info->id), ev);
    cv_.notify_all();
  }

  std::optional<nw::container_event> wait(nw::event_kind kind,
                                          const std::string& id,
                                          std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mx_};
    auto key = std::make_pair(kind, id);
    cv_.wait_for(lock, limit, [&] { return events_.count(key) != 0; });
    auto i = events_.find(key);
    if (i == events_.end())
      return std::nullopt;
    return i->second;
  }

  size_t count(const std::string& id) {
    std::lock_guard<std::mutex> guard{mx_};
    size_t n = 0;
    for (auto& entry : events_)
      n += entry.first.second == id ? 1 : 0;
    return n;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::multimap<std::pair<nw::event_kind, std::string>, nw::container_event>
    events_;
};

nw::subscriber_actor::behavior_type recorder(std::shared_ptr<seen_events> s) {
  return {
    [s](nw::event_atom, const nw::container_event& ev) {
      s->push(ev);
      return nw::ack_atom::value;
    },
  };
}

caf::actor_system_config& quiet(caf::actor_system_config& cfg) {
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  nw::add_nodewatch_types(cfg);
  return cfg;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_bare_runc_run_is_seen_unheld_and_removed) {
  nw::test::require_runc();
  nw::test::runc_env env;
  BOOST_TEST_REQUIRE(!std::filesystem::exists(env.root()));
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  nw::graph_options opts;
  opts.real_kernel = true;
  opts.poll_interval = 100ms;
  opts.state_roots = {env.root().string()};
  auto g = nw::spawn_graph(sys, opts);
  BOOST_TEST_REQUIRE(static_cast<bool>(g), "the graph did not start");
  auto seen = std::make_shared<seen_events>();
  auto sub = caf::actor_cast<nw::subscriber_actor>(sys.spawn(recorder, seen));
  caf::scoped_actor self{sys};
  self
    ->request(g->registry, 10s, nw::subscribe_atom::value, nw::selector{}, sub)
    .receive(
      [](const std::vector<nw::container_event>&) {},
      [](caf::error& err) { BOOST_FAIL("subscribe: " << nw::render(err)); });
  g->play();
  // Answered once `play` is in effect on the edge's loop.
  self->request(g->edge, 10s, nw::get_atom::value, nw::counters_atom::value)
    .receive([](nw::counters&) {},
             [](caf::error& err) { BOOST_FAIL("edge: " << nw::render(err)); });
  auto id = env.unique_id("nwt-bare");
  nw::test::runc_bundle bundle{env, id, {{"/bin/sleep", "30"}}};
  auto runc = env.runtime();
  auto root = env.root().string();
  std::optional<nw::test::child_process> run;
  run.emplace(std::vector<std::string>{runc, "--root", root, "run", "--bundle",
                                       bundle.dir().string(), id},
              (env.dir() / "bare-run.log").string());
  auto added = seen->wait(nw::event_kind::added, id, 10000ms);
  BOOST_TEST_REQUIRE(added.has_value(), "a bare runc run was not seen");
  auto& info = *added->info;
  BOOST_TEST(!info.held, "nothing was held");
  BOOST_TEST(!info.initial);
  BOOST_TEST(info.pid > 0u);
  BOOST_TEST(info.bundle == bundle.dir().string());
  BOOST_TEST(info.runtime == "runc");
  nw::test::run_process({runc, "--root", root, "kill", id, "KILL"}, "", 10s);
  BOOST_TEST(seen->wait(nw::event_kind::removed, id, 10000ms).has_value(),
             "not removed");
  run->wait_until(runc_clock::now() + 10s);
  run.reset();
  nw::test::run_process({runc, "--root", root, "delete", "--force", id}, "",
                        10s);
  BOOST_TEST(seen->count(id) == 2u, "one `added`, one `removed`");
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
  g->shutdown();
}
