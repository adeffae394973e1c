// Termination on CAF's deterministic scheduler with virtual time: a real
// registry, a stand-in kernel edge (pidfd or not, replying at once or when
// told) and a host whose /proc the test rewrites. The poller's interval,
// the edge's exit reports, the ack after the watch, pid reuse, exactly one
// `removed`, and the unwatch that follows it.
#define BOOST_TEST_MODULE termination
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/termination/termination.hpp"
#include "tests/support/registry_fixture.hpp"

using namespace nw;
using namespace std::chrono_literals;

namespace {

constexpr auto interval = 1000ms;

// -- a host whose /proc the test writes
// ----------------------------------------

/// /proc/PID/stat texts by pid; anything else is missing.
class fake_host : public host_view {
public:
  /// A process with `pid`, `start_time` and `state`.
  void set(uint32_t pid, uint64_t start_time, char state = 'S') {
    stat_[pid] = std::to_string(pid) + " (sh (x) y) " + state
                 + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
                 + std::to_string(start_time) + " 0 0\n";
  }

  void remove(uint32_t pid) {
    stat_.erase(pid);
  }

  bool read_file(const std::string& path, size_t, std::string& out,
                 std::string& error) const override {
    for (auto& [pid, text] : stat_)
      if (path == "/proc/" + std::to_string(pid) + "/stat") {
        out = text;
        return true;
      }
    error = path + ": missing";
    return false;
  }

  bool exists(const std::string&) const override {
    return false;
  }

  bool proc(uint32_t, proc_status&, std::string& error) const override {
    error = "not used";
    return false;
  }

  bool list_dir(const std::string&, size_t, std::vector<std::string>&, bool&,
                std::string& error) const override {
    error = "not used";
    return false;
  }

private:
  std::map<uint32_t, std::string> stat_;
};

// -- a stand-in kernel edge
// ------------------------------------------------------

using release_atom = caf::atom_constant<caf::atom("t_release")>;

using edge_standin_actor
  = kernel_edge_actor::extend<caf::reacts_to<release_atom>>;

/// What the stand-in edge saw and how it answers.
struct edge_record {
  /// Its reply to an exit watch: true = "watched by a pidfd".
  bool pidfd = false;
  /// Hold replies until `release_atom`.
  bool hold = false;
  std::vector<caf::typed_response_promise<bool>> held;
  std::map<uint32_t, exit_watcher_actor> watchers;
  std::vector<process_key> unwatched;
};

edge_standin_actor::behavior_type
edge_standin(edge_standin_actor::pointer self,
             std::shared_ptr<edge_record> rec) {
  return {
    [](verdict_atom, uint64_t) {},
    [](watch_atom, std::string&, pidfile_watcher_actor&) {},
    [](unwatch_atom, std::string&) {},
    [self, rec](watch_atom, uint32_t pid, uint64_t,
                exit_watcher_actor& w) -> caf::result<bool> {
      rec->watchers[pid] = w;
      if (!rec->hold)
        return rec->pidfd;
      rec->held.push_back(self->make_response_promise<bool>());
      return rec->held.back();
    },
    [rec](unwatch_atom, uint32_t pid, uint64_t start_time) {
      rec->unwatched.emplace_back(pid, start_time);
    },
    [rec](release_atom) {
      for (auto& p : rec->held)
        p.deliver(rec->pidfd);
      rec->held.clear();
    },
  };
}

container_info make(std::string id, uint32_t pid, uint64_t start_time) {
  container_info x;
  x.id = std::move(id);
  x.name = x.id;
  x.pid = pid;
  x.start_time = start_time;
  x.mntns = 4026532000 + pid;
  x.runtime = "runc";
  return x;
}

struct fixture : test::registry_fixture {
  std::shared_ptr<fake_host> host = std::make_shared<fake_host>();
  std::shared_ptr<edge_record> edge_rec = std::make_shared<edge_record>();
  edge_standin_actor edge;
  termination_actor term;
  test::stand_in_subscriber sub;

  /// Spawns the registry, the edge, termination and a subscriber.
  void start(bool pidfd) {
    edge_rec->pidfd = pidfd;
    reg = track(spawn_registry(sys, rcfg));
    edge = track(sys.spawn(edge_standin, edge_rec));
    termination_config tcfg{reg, edge, host, "", interval};
    term = track(spawn_termination(sys, tcfg));
    sub = spawn_subscriber();
    ask<std::vector<container_event>>(reg, subscribe_atom::value, selector{},
                                      sub.as_subscriber());
    run();
  }

  size_t removed(const std::string& id) const {
    size_t n = 0;
    for (auto& ev : sub->events)
      if (ev.kind == event_kind::removed && ev.info->id == id)
        ++n;
    return n;
  }

  /// The edge reports the exit of `pid`, as a pidfd would.
  void report_exit(uint32_t pid, uint64_t start_time) {
    send(edge_rec->watchers.at(pid), process_exited{pid, start_time});
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(termination, fixture)

BOOST_AUTO_TEST_CASE(without_a_pidfd_the_poller_removes_at_its_next_tick) {
  start(false);
  host->set(100, 5000);
  add(make("c1", 100, 5000));
  BOOST_TEST(edge_rec->watchers.count(100) == 1u, "the edge was asked");
  host->set(100, 5000, 'Z'); // exited, not reaped yet
  advance(interval - 1ms);
  BOOST_TEST(removed("c1") == 0u, "removed before the tick");
  advance(1ms);
  BOOST_TEST(removed("c1") == 1u, "not removed at the tick");
  BOOST_TEST(edge_rec->unwatched.size() == 1u, "no unwatch after `removed`");
  advance(5 * interval);
  BOOST_TEST(removed("c1") == 1u);
}

BOOST_AUTO_TEST_CASE(an_exit_report_removes_at_once_and_only_once) {
  start(true);
  host->set(100, 5000);
  add(make("c1", 100, 5000));
  report_exit(100, 5000);
  BOOST_TEST(removed("c1") == 1u, "the edge's report did not remove it");
  // The poller's next ticks find it gone too: still one `removed`.
  host->remove(100);
  advance(3 * interval);
  report_exit(100, 5000); // a late duplicate report
  BOOST_TEST(removed("c1") == 1u);
  BOOST_TEST(edge_rec->unwatched.size() == 1u);
  BOOST_TEST((edge_rec->unwatched.at(0) == process_key{100, 5000}));
}

BOOST_AUTO_TEST_CASE(a_reused_pid_is_an_exit_and_the_newcomer_is_not_watched) {
  start(false);
  host->set(100, 5000);
  add(make("c1", 100, 5000));
  host->set(100, 7777); // another process under the same pid
  advance(interval);
  BOOST_TEST(removed("c1") == 1u);
  // A report about the newcomer is no container's exit.
  host->set(200, 9000);
  add(make("c2", 200, 9000));
  report_exit(100, 7777);
  advance(interval);
  BOOST_TEST(removed("c2") == 0u);
  BOOST_TEST(sub->events.size() == 3u); // added c1, removed c1, added c2
}

BOOST_AUTO_TEST_CASE(an_unreadable_stat_counts_as_gone) {
  start(false);
  host->set(100, 5000);
  add(make("c1", 100, 5000));
  advance(interval);
  BOOST_TEST(removed("c1") == 0u, "removed while alive");
  host->remove(100);
  advance(interval);
  BOOST_TEST(removed("c1") == 1u);
}

BOOST_AUTO_TEST_CASE(added_is_acked_only_once_the_edge_has_the_watch) {
  edge_rec->hold = true;
  start(true);
  host->set(100, 5000);
  auto r = add_async(make("c1", 100, 5000));
  run();
  BOOST_TEST(!r->received(), "the add finished before the watch was placed");
  BOOST_TEST(edge_rec->held.size() == 1u);
  send(edge, release_atom::value);
  run();
  BOOST_TEST(r->received());
  BOOST_TEST(r->value().acked == 2u); // the stand-in subscriber, termination
}

BOOST_AUTO_TEST_CASE(a_silent_edge_delays_the_ack_at_most_the_watch_timeout) {
  edge_rec->hold = true;
  start(true);
  host->set(100, 5000);
  auto r = add_async(make("c1", 100, 5000));
  advance(999ms);
  BOOST_TEST(!r->received());
  advance(1ms);
  BOOST_TEST(r->received(), "the ack waited past the watch timeout");
  // The poller covers it.
  host->remove(100);
  advance(interval);
  BOOST_TEST(removed("c1") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
