// `--no-pidfd` on real runc containers: the agent graph with the edge's
// pidfds off sees a killed container's end through the /proc poller alone,
// once, and the edge watches nothing.
#define BOOST_TEST_MODULE no_pidfd
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
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
using nw::test::runc_container;
using nw::test::runc_env;

/// How many `added` and `removed` each id got.
class tally {
public:
  void saw(const nw::container_event& ev) {
    std::lock_guard<std::mutex> guard{mx_};
    ++counts_[{ev.kind, ev.info->id}];
    cv_.notify_all();
  }

  /// Waits until `id` has a `kind` event or `limit` passed; the count.
  int wait(nw::event_kind kind, const std::string& id,
           std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock{mx_};
    cv_.wait_for(lock, limit, [&] { return counts_.count({kind, id}) != 0; });
    auto i = counts_.find({kind, id});
    return i == counts_.end() ? 0 : i->second;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::map<std::pair<nw::event_kind, std::string>, int> counts_;
};

nw::subscriber_actor::behavior_type counter(std::shared_ptr<tally> t) {
  return {
    [t](nw::event_atom, const nw::container_event& ev) {
      t->saw(ev);
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

BOOST_AUTO_TEST_CASE(
  without_pidfds_the_poller_alone_removes_a_killed_container) {
  nw::test::require_runc();
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  nw::graph_options opts;
  opts.real_kernel = true;
  opts.poll_interval = 100ms;
  opts.edge.use_pidfd = false;
  auto g = nw::spawn_graph(sys, opts);
  BOOST_TEST_REQUIRE(static_cast<bool>(g), "the graph did not start");
  auto seen = std::make_shared<tally>();
  auto sub = caf::actor_cast<nw::subscriber_actor>(sys.spawn(counter, seen));
  {
    caf::scoped_actor self{sys};
    self
      ->request(g->registry, 10s, nw::subscribe_atom::value, nw::selector{},
                sub)
      .receive(
        [](const std::vector<nw::container_event>&) {},
        [](caf::error& err) { BOOST_FAIL("subscribe: " << nw::render(err)); });
  }
  g->play();
  runc_env env;
  // The marks may be placed after spawn_graph returned: run containers
  // until one is detected (bounded).
  std::unique_ptr<runc_container> c;
  auto deadline = runc_clock::now() + 20s;
  while (runc_clock::now() < deadline) {
    c = std::make_unique<runc_container>(
      env, nw::test::bundle_options{{"/bin/sleep", "30"}},
      env.unique_id("nwt-nopidfd"));
    c->create();
    c->read_pid();
    c->start();
    if (seen->wait(nw::event_kind::added, c->id(), 2000ms) == 1)
      break;
    c.reset();
  }
  BOOST_TEST_REQUIRE(static_cast<bool>(c), "no container was detected");
  ::kill(c->init_pid(), SIGKILL);
  c->wait_exit();
  BOOST_TEST(seen->wait(nw::event_kind::removed, c->id(), 5000ms) == 1,
             "not removed once by the poller");
  caf::scoped_actor self{sys};
  self->request(g->edge, 5s, nw::get_atom::value, nw::counters_atom::value)
    .receive(
      [](nw::counters& c) {
        BOOST_TEST(c["edge_pidfd_watched"] == 0u);
        BOOST_TEST(c["edge_pidfd_exits"] == 0u);
      },
      [](caf::error& err) { BOOST_FAIL("counters: " << nw::render(err)); });
  c->remove();
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
  g->shutdown();
}
