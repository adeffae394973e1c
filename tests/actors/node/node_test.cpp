// The node facade in front of a real registry, on CAF's deterministic
// scheduler with virtual time: list (sandboxes hidden unless `all`, by
// selector), subscribe (snapshot then live events to the sink, in order, the
// count in the reply, sandbox filtering), a stalled sink never holding an
// add, the sink's death ending its forwarder, get and counters delegated to
// the registry, the facade leaving with the registry, and `net`: an error
// without a TC attacher; with one (a stand-in with canned counters), the
// registry's matching containers joined with the attacher's counters by id.
#define BOOST_TEST_MODULE node
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "messages/errors.hpp"
#include "messages/selector.hpp"
#include "tests/support/registry_fixture.hpp"

namespace nw {

inline std::ostream& boost_test_print_type(std::ostream& os,
                                           const net_stats& x) {
  test::detail::print_value(os, x);
  return os;
}

} // namespace nw

using nw::test::code_of;
using nw::test::sel;

using namespace nw;
using namespace std::chrono_literals;

namespace {

using events = std::vector<container_event>;
using strings = std::vector<std::string>;
using stats = std::vector<net_stats>;

constexpr uint64_t wall_start = test::registry_wall_start;

container_info make(std::string id, std::string name, std::string ns = "",
                    bool sandbox = false) {
  static uint64_t next_ns = 4026532200;
  container_info x;
  x.id = std::move(id);
  x.name = std::move(name);
  x.pid = static_cast<uint32_t>(1000 + next_ns % 1000);
  x.start_time = 880000 + next_ns % 1000;
  x.mntns = next_ns++;
  x.netns = next_ns++;
  x.runtime = "runc";
  x.k8s.namespace_ = std::move(ns);
  x.k8s.pod = x.name + "-0";
  x.sandbox = sandbox;
  x.bundle = "/run/containerd/" + x.id;
  return x;
}

strings ids_of(const events& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.info->id);
  return result;
}

// -- a sink that also records who sent each event -----------------------------

/// What a recording sink received, and from whom (the forwarder).
struct sink_log {
  std::vector<container_event> events;
  std::vector<caf::strong_actor_ptr> senders;
};

event_sink_actor::behavior_type recording_sink(event_sink_actor::pointer self,
                                               std::shared_ptr<sink_log> log) {
  return {
    [self, log](event_atom, const container_event& ev) {
      log->events.push_back(ev);
      log->senders.push_back(self->current_sender());
    },
  };
}

struct sink {
  event_sink_actor handle;
  std::shared_ptr<sink_log> log;

  sink_log* operator->() const {
    return log.get();
  }
};

// -- a stand-in TC attacher ---------------------------------------------------

/// What a stand-in TC attacher answers, and how often it was asked.
struct attacher_record {
  stats canned;
  size_t asked = 0;
};

tc_attacher_actor::behavior_type
canned_attacher(tc_attacher_actor::pointer,
                std::shared_ptr<attacher_record> rec) {
  return {
    [](event_atom, const container_event&) { return ack_atom::value; },
    [rec](net_atom) {
      ++rec->asked;
      return rec->canned;
    },
    [](get_atom, counters_atom) { return counters{}; },
  };
}

net_stats counted(std::string id, std::string name, uint64_t base) {
  net_stats x;
  x.id = std::move(id);
  x.name = std::move(name);
  x.netns = base;
  x.rx_packets = base + 1;
  x.rx_bytes = base + 2;
  x.tx_packets = base + 3;
  x.tx_bytes = base + 4;
  x.interfaces = {"veth" + x.id};
  return x;
}

strings ids_of(const stats& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.id);
  return result;
}

// -- observing an actor's end -------------------------------------------------

struct down_record {
  bool down = false;
  caf::error reason;
};

struct fixture : test::registry_fixture {
  node_actor node;

  fixture() {
    reg = track(spawn_registry(sys, rcfg));
    node_config ncfg;
    ncfg.registry = reg;
    ncfg.request_timeout = 5000ms;
    node = track(spawn_node(sys, ncfg));
    run();
  }

  sink spawn_recording_sink() {
    auto log = std::make_shared<sink_log>();
    auto h = track(sys.spawn(recording_sink, log));
    return {h, log};
  }

  /// Records when `h` terminates, and why.
  template <class Handle>
  std::shared_ptr<down_record> watch(const Handle& h) {
    auto rec = std::make_shared<down_record>();
    auto target = caf::actor_cast<caf::actor>(h);
    BOOST_REQUIRE(target);
    track(sys.spawn([rec, target](caf::event_based_actor* self) {
      self->monitor(target);
      self->set_down_handler([rec, self](caf::down_msg& dm) {
        rec->down = true;
        rec->reason = dm.reason;
        self->quit();
      });
      // A behavior keeps the watcher alive until the down message.
      return caf::behavior{[](const std::string&) {}};
    }));
    run();
    return rec;
  }

  /// Runs every job except those of `h`: `h` is stalled, its mailbox fills.
  template <class Handle>
  size_t run_except(const Handle& h) {
    auto stalled
      = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(h));
    BOOST_REQUIRE(stalled != nullptr);
    return sched.run_jobs_filtered(
      [stalled](caf::resumable* job) { return job != stalled; });
  }

  // -- the registry, directly -------------------------------------------------

  // -- the facade -------------------------------------------------------------

  events list(const std::string& text, bool all) {
    return ask<events>(node, list_atom::value, sel(text), all).value();
  }

  std::shared_ptr<test::reply<uint64_t>>
  subscribe_async(const event_sink_actor& s, const std::string& text,
                  bool all) {
    return request<uint64_t>(node, subscribe_atom::value, sel(text), all, s);
  }

  uint64_t subscribe(const event_sink_actor& s, const std::string& text,
                     bool all) {
    return ask<uint64_t>(node, subscribe_atom::value, sel(text), all, s)
      .value();
  }

  test::reply<container_info> get(const std::string& query) {
    return ask<container_info>(node, get_atom::value, query);
  }

  // -- net
  // ----------------------------------------------------------------------

  /// A facade in front of the registry and a stand-in TC attacher.
  node_actor node_with_tc(const tc_attacher_actor& tc) {
    node_config ncfg;
    ncfg.registry = reg;
    ncfg.tc = tc;
    ncfg.request_timeout = 5000ms;
    auto h = track(spawn_node(sys, ncfg));
    run();
    return h;
  }

  std::pair<tc_attacher_actor, std::shared_ptr<attacher_record>>
  spawn_attacher(stats canned) {
    auto rec = std::make_shared<attacher_record>();
    rec->canned = std::move(canned);
    return {track(sys.spawn(canned_attacher, rec)), rec};
  }

  test::reply<stats> net(const node_actor& h, const std::string& text,
                         bool all) {
    return ask<stats>(h, net_atom::value, sel(text), all);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(node_facade, fixture)

// -- list ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(list_hides_sandboxes_unless_all) {
  add(make("d4", "web", "staging"));
  add(make("a1", "web", "prod"));
  add(make("p0", "pause", "prod", true));
  add(make("b2", "db", "prod"));
  add(make("q9", "pause", "staging", true));

  BOOST_TEST(ids_of(list("", false)) == strings({"a1", "b2", "d4"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("", true)) == strings({"a1", "b2", "d4", "p0", "q9"}),
             boost::test_tools::per_element());
  // The registry's own `added` events, unchanged (original seq and ts_ns).
  auto xs = list("", false);
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  BOOST_TEST(xs[0].kind == event_kind::added);
  BOOST_TEST(xs[0].seq == 2u);
  BOOST_TEST(xs[0].ts_ns == wall_start);
  BOOST_TEST(xs[0].info->id == "a1");
  // Removed containers are not listed.
  BOOST_TEST(remove("p0"));
  BOOST_TEST(ids_of(list("", true)) == strings({"a1", "b2", "d4", "q9"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(list_by_selector) {
  add(make("a1", "web", "prod"));
  add(make("p0", "pause", "prod", true));
  add(make("b2", "db", "prod"));
  add(make("c3", "dns", "kube-system"));
  add(make("d4", "web", "staging"));

  BOOST_TEST(ids_of(list("namespace=prod", false)) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=prod", true))
               == strings({"a1", "b2", "p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=!prod", true)) == strings({"c3", "d4"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("container=web", false)) == strings({"a1", "d4"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=prod,staging;container=!web", true))
               == strings({"b2", "p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(list("container=pause", false).empty());
  BOOST_TEST(ids_of(list("container=pause", true)) == strings({"p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(list("namespace=nope", true).empty());
}

// -- subscribe ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(subscribe_streams_the_snapshot_then_live_events) {
  add(make("b2", "db", "prod"));
  add(make("p0", "pause", "prod", true));
  add(make("a1", "web", "prod"));
  auto s = spawn_recording_sink();
  // The snapshot: sandboxes hidden, so the count is 2, not 3.
  BOOST_TEST(subscribe(s.handle, "", false) == 2u);
  BOOST_TEST(ids_of(s->events) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(s->events.size(), 2u);
  for (auto& ev : s->events)
    BOOST_TEST(ev.kind == event_kind::added);
  // Original seq numbers: b2 was added first, a1 third.
  BOOST_TEST(s->events[0].seq == 3u);
  BOOST_TEST(s->events[1].seq == 1u);

  // Live events follow, in the registry's order.
  *wall = wall_start + 100;
  add(make("c3", "api", "prod"));
  BOOST_TEST(remove("a1"));
  auto seq_failed = fail(make("x9", "job", "prod"), "pidfile never read");
  add(make("p1", "pause", "prod", true)); // filtered: a sandbox
  BOOST_TEST(remove("p0"));               // filtered: a sandbox
  BOOST_TEST(remove("b2"));
  run();
  BOOST_TEST(ids_of(s->events) == strings({"a1", "b2", "c3", "a1", "x9", "b2"}),
             boost::test_tools::per_element());
  std::vector<event_kind> kinds;
  for (auto& ev : s->events)
    kinds.push_back(ev.kind);
  using k = event_kind;
  BOOST_TEST(
    kinds
      == std::vector<event_kind>({k::added, k::added, k::added, k::removed,
                                  k::detection_failed, k::removed}),
    boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(s->events.size(), 6u);
  for (size_t i = 3; i < s->events.size(); ++i)
    BOOST_TEST(s->events[i].seq > s->events[i - 1].seq, "event " << i);
  BOOST_TEST(s->events[4].seq == seq_failed);
  BOOST_TEST(s->events[4].reason == "pidfile never read");
  BOOST_TEST(s->events[2].ts_ns == wall_start + 100);
  // Every event came from one sender (the client's forwarder).
  for (auto& from : s->senders)
    BOOST_TEST((from == s->senders.front()));
}

BOOST_AUTO_TEST_CASE(subscribe_with_all_includes_sandboxes) {
  add(make("p0", "pause", "prod", true));
  add(make("a1", "web", "prod"));
  auto plain = spawn_recording_sink();
  auto all = spawn_recording_sink();
  auto prod = spawn_recording_sink();
  BOOST_TEST(subscribe(plain.handle, "", false) == 1u);
  BOOST_TEST(subscribe(all.handle, "", true) == 2u);
  BOOST_TEST(subscribe(prod.handle, "namespace=prod", true) == 2u);
  auto r = add(make("p1", "pause", "staging", true));
  // Both unfiltered forwarders acked the sandbox, forwarded or not (the
  // prod one does not match staging: the registry sent it nothing).
  BOOST_TEST(r == (add_result{3, false, 2, 0}));
  add(make("b2", "db", "staging"));
  BOOST_TEST(remove("p0"));
  BOOST_TEST(ids_of(plain->events) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(all->events) == strings({"a1", "p0", "p1", "b2", "p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(prod->events) == strings({"a1", "p0", "p0"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(all->events.size(), 5u);
  BOOST_TEST(all->events[4].kind == event_kind::removed);
  BOOST_TEST(all->events[4].info->sandbox);
}

BOOST_AUTO_TEST_CASE(subscribe_around_adds_in_shuffled_orders) {
  // Adds and a subscribe in flight together, run in many orders: the sink
  // sees each container once, the snapshot first (as many as the reply
  // says, in id order), then live events in seq order, none older than the
  // snapshot.
  constexpr int n = 5;
  int mixed = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      std::mt19937_64 rng{seed};
      auto s = spawn_recording_sink();
      auto base = "s" + std::to_string(seed) + "-";
      int subscribe_at = static_cast<int>(rng() % (n + 1));
      std::shared_ptr<test::reply<uint64_t>> count;
      for (int i = 0; i <= n; ++i) {
        if (i == subscribe_at)
          count = subscribe_async(s.handle, "namespace=" + base, false);
        if (i < n) {
          auto id = base + std::to_string(i);
          add_async(make(id, id, base));
        }
      }
      run_shuffled(rng);
      BOOST_REQUIRE(count->ok());
      auto k = static_cast<size_t>(count->value());
      auto& evs = s->events;
      BOOST_REQUIRE_GE(evs.size(), k);
      std::multiset<std::string> seen;
      for (auto& ev : evs) {
        seen.insert(ev.info->id);
        BOOST_TEST(ev.kind == event_kind::added);
      }
      BOOST_TEST(seen.size() == static_cast<size_t>(n));
      for (int i = 0; i < n; ++i)
        BOOST_TEST(seen.count(base + std::to_string(i)) == 1u);
      uint64_t max_snapshot_seq = 0;
      for (size_t i = 0; i < k; ++i) {
        max_snapshot_seq = std::max(max_snapshot_seq, evs[i].seq);
        if (i > 0)
          BOOST_TEST(evs[i - 1].info->id < evs[i].info->id);
      }
      for (size_t i = k; i < evs.size(); ++i) {
        BOOST_TEST(evs[i].seq > max_snapshot_seq);
        if (i > k)
          BOOST_TEST(evs[i].seq > evs[i - 1].seq);
      }
      if (k > 0 && k < evs.size())
        ++mixed;
      kill(s.handle);
    }
  }
  BOOST_TEST_MESSAGE(mixed << " of 100 runs mixed snapshot and live events");
  BOOST_TEST(mixed >= 20);
}

BOOST_AUTO_TEST_CASE(subscribe_without_a_sink_is_bad_input) {
  auto r = ask<uint64_t>(node, subscribe_atom::value, selector{}, false,
                         event_sink_actor{});
  BOOST_TEST(code_of(r.err) == errc::bad_input);
}

// -- a slow client never holds a container's start ----------------------------

BOOST_AUTO_TEST_CASE(a_stalled_sink_never_holds_the_add) {
  auto s = spawn_recording_sink();
  BOOST_TEST(subscribe(s.handle, "", true) == 0u);
  auto t0 = now();
  auto r = add_async(make("a1", "web", "prod"));
  auto r2 = add_async(make("p0", "pause", "prod", true));
  // The sink does nothing at all; its forwarder acks on its behalf.
  run_except(s.handle);
  BOOST_REQUIRE_MESSAGE(r->received(), "the add waits on the sink");
  BOOST_TEST(r->value() == (add_result{1, false, 1, 0}));
  BOOST_TEST((r->at == t0));
  BOOST_REQUIRE(r2->received());
  BOOST_TEST(r2->value() == (add_result{2, false, 1, 0}));
  BOOST_TEST(s->events.empty());
  BOOST_TEST(stat("registry_late_acks") == 0u);
  // The sink, once it runs, has everything, in order.
  run();
  BOOST_TEST(ids_of(s->events) == strings({"a1", "p0"}),
             boost::test_tools::per_element());
  // Stalled again: the next add is not held either, and nothing is late
  // after the fan-out deadline.
  auto r3 = add_async(make("b2", "db", "prod"));
  run_except(s.handle);
  BOOST_REQUIRE(r3->received());
  BOOST_TEST(r3->value() == (add_result{3, false, 1, 0}));
  BOOST_TEST(s->events.size() == 2u);
  advance(2s);
  BOOST_TEST(stat("registry_late_acks") == 0u);
  BOOST_TEST(ids_of(s->events) == strings({"a1", "p0", "b2"}),
             boost::test_tools::per_element());
}

// -- the sink's death ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_dead_sink_ends_its_forwarder) {
  add(make("a1", "web", "prod"));
  auto doomed = spawn_recording_sink();
  auto alive = spawn_recording_sink();
  BOOST_TEST(subscribe(doomed.handle, "", false) == 1u);
  BOOST_TEST(subscribe(alive.handle, "", false) == 1u);
  BOOST_REQUIRE_EQUAL(doomed->senders.size(), 1u);
  auto forwarder = doomed->senders.front();
  BOOST_REQUIRE(forwarder);
  BOOST_TEST((forwarder != alive->senders.front()));
  auto fwd_down = watch(forwarder);
  BOOST_TEST(stat("registry_subscriber_deaths") == 0u);
  kill(doomed.handle);
  BOOST_TEST(fwd_down->down, "the forwarder outlived its sink");
  BOOST_TEST(stat("registry_subscriber_deaths") == 1u);
  // The registry dropped it: one ack (the other forwarder), none late.
  auto t0 = now();
  auto r = add_async(make("b2", "db", "prod"));
  run();
  BOOST_REQUIRE(r->received());
  BOOST_TEST(r->value() == (add_result{2, false, 1, 0}));
  BOOST_TEST((r->at == t0));
  BOOST_TEST(stat("registry_late_acks") == 0u);
  BOOST_TEST(ids_of(alive->events) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(doomed->events) == strings({"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_sink_dead_before_subscribing_gets_an_error) {
  // The client's sink is gone before its forwarder's registry subscription
  // returns (a client that crashed right after asking): the forwarder ends,
  // and the subscribe must still be answered (with an error), not left
  // for the client's own timeout.
  auto doomed = spawn_recording_sink();
  kill(doomed.handle);
  auto r = request<uint64_t>(node, subscribe_atom::value, selector{}, false,
                             doomed.handle);
  run();
  BOOST_CHECK_MESSAGE(r->received(),
                      "subscribe with a dead sink is never answered: the "
                      "forwarder quits holding the response promise");
  advance(10s);
  BOOST_CHECK_MESSAGE(r->received(), "still no answer 10 s later");
  BOOST_TEST(!r->ok());
  // Whatever was spawned for it is gone again, and adds are not held.
  auto t0 = now();
  auto a = add_async(make("a1", "web"));
  run();
  BOOST_REQUIRE(a->received());
  BOOST_TEST(a->value() == (add_result{1, false, 0, 0}));
  BOOST_TEST((a->at == t0));
}

BOOST_AUTO_TEST_CASE(a_sink_dying_while_subscribing_gets_an_error) {
  add(make("a1", "web"));
  auto doomed = spawn_recording_sink();
  auto r = request<uint64_t>(node, subscribe_atom::value, selector{}, false,
                             doomed.handle);
  // The exit reaches the sink before the snapshot does.
  caf::anon_send_exit(doomed.handle, caf::exit_reason::user_shutdown);
  run();
  BOOST_TEST(doomed->events.empty());
  BOOST_CHECK_MESSAGE(r->received(),
                      "subscribe whose sink died meanwhile is never "
                      "answered");
  advance(10s);
  BOOST_TEST(!r->ok());
  auto t0 = now();
  auto a = add_async(make("b2", "db"));
  run();
  BOOST_REQUIRE(a->received());
  BOOST_TEST(a->value() == (add_result{2, false, 0, 0}));
  BOOST_TEST((a->at == t0));
}

// -- delegation to the registry -----------------------------------------------

BOOST_AUTO_TEST_CASE(get_resolves_like_the_registry) {
  add(make("c0ffee01aa", "web", "prod"));
  add(make("c0ffee02bb", "db", "prod"));
  add(make("deadbeef99", "cache", "prod"));
  add(make("aaa111", "twin", "prod"));
  add(make("bbb222", "twin", "staging"));
  BOOST_TEST(remove("deadbeef99")); // still resolvable in its grace period
  for (std::string query : {"c0ffee01aa", "c0ffee01", "web", "db", "dead",
                            "cache", "c0ffee", "twin", "nope", "", "aaa111"}) {
    BOOST_TEST_CONTEXT("query '" << query << "'") {
      auto via_node = get(query);
      auto direct = ask<container_info>(reg, get_atom::value, query);
      BOOST_TEST(via_node.ok() == direct.ok());
      if (via_node.ok() && direct.ok())
        BOOST_TEST(via_node.value() == direct.value());
      BOOST_TEST(via_node.err == direct.err);
    }
  }
  BOOST_TEST(get("web").value().id == "c0ffee01aa");
  BOOST_TEST(get("c0ffee02").value().name == "db");
  BOOST_TEST(code_of(get("nope").err) == errc::unknown_container);
  BOOST_TEST(code_of(get("c0ffee").err) == errc::ambiguous_container);
  BOOST_TEST(code_of(get("twin").err) == errc::ambiguous_container);
  auto text = render(get("twin").err);
  BOOST_TEST(text.find("aaa111") != std::string::npos, text);
  BOOST_TEST(text.find("bbb222") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(counters_are_the_registry_counters) {
  auto s = spawn_recording_sink();
  subscribe(s.handle, "", false);
  add(make("a1", "web"));
  add(make("a1", "web")); // duplicate
  BOOST_TEST(remove("a1"));
  fail(make("x9", "job"), "gone");
  kill(s.handle);
  auto via_node
    = ask<counters>(node, get_atom::value, counters_atom::value).value();
  auto direct = registry_counters();
  BOOST_TEST((via_node == direct));
  BOOST_TEST(via_node.at("registry_added") == 1u);
  BOOST_TEST(via_node.at("registry_duplicates") == 1u);
  BOOST_TEST(via_node.at("registry_removed") == 1u);
  BOOST_TEST(via_node.at("registry_detection_failed") == 1u);
  BOOST_TEST(via_node.at("registry_subscriber_deaths") == 1u);
}

// -- net ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(net_without_tc_is_an_error) {
  add(make("a1", "web", "prod"));
  auto r = net(node, "", false);
  BOOST_REQUIRE(r.received());
  BOOST_TEST(!r.ok());
  BOOST_TEST(code_of(r.err) == errc::bad_input);
  auto text = render(r.err);
  BOOST_TEST(text.find("--no-tc") != std::string::npos, text);
  // The facade still serves everything else.
  BOOST_TEST(ids_of(list("", false)) == strings({"a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(net_joins_the_registry_with_the_attacher_by_id) {
  auto a1 = make("a1", "web", "prod");
  auto b2 = make("b2", "db", "prod");
  auto c3 = make("c3", "dns", "kube-system");
  auto p0 = make("p0", "pause", "prod", true);
  for (auto& x : {a1, b2, c3, p0})
    add(x);
  // In id order, as the attacher answers: b2 not counted (a note), c3 not
  // tracked at all, y8 tracked but no longer in the registry.
  auto hostnet = counted("b2", "db", 0);
  hostnet.rx_packets = hostnet.rx_bytes = 0;
  hostnet.tx_packets = hostnet.tx_bytes = 0;
  hostnet.interfaces.clear();
  hostnet.note = "host network";
  auto [tc, rec]
    = spawn_attacher({counted("a1", "web", 100), hostnet,
                      counted("p0", "pause", 200), counted("y8", "gone", 300)});
  auto h = node_with_tc(tc);

  auto xs = net(h, "", false).value();
  BOOST_TEST(rec->asked == 1u);
  BOOST_TEST(ids_of(xs) == strings({"a1", "b2", "c3"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  // Tracked rows are the attacher's, unchanged.
  BOOST_TEST(xs[0] == counted("a1", "web", 100));
  BOOST_TEST(xs[1] == hostnet);
  // A container the attacher does not know: named from the registry, no
  // counters, a note saying so.
  BOOST_TEST(xs[2].name == "dns");
  BOOST_TEST(xs[2].netns == c3.netns);
  BOOST_TEST(xs[2].rx_packets == 0u);
  BOOST_TEST(xs[2].tx_bytes == 0u);
  BOOST_TEST(xs[2].interfaces.empty());
  BOOST_TEST(xs[2].note == "not tracked by the TC attacher");

  // Sandboxes only with `all`.
  auto ys = net(h, "", true).value();
  BOOST_TEST(ids_of(ys) == strings({"a1", "b2", "c3", "p0"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(ys.size(), 4u);
  BOOST_TEST(ys[3] == counted("p0", "pause", 200));
}

BOOST_AUTO_TEST_CASE(net_by_selector) {
  for (auto& x :
       {make("a1", "web", "prod"), make("b2", "db", "prod"),
        make("c3", "dns", "kube-system"), make("p0", "pause", "prod", true)})
    add(x);
  auto [tc, rec]
    = spawn_attacher({counted("a1", "web", 100), counted("b2", "db", 110),
                      counted("c3", "dns", 120), counted("p0", "pause", 130)});
  auto h = node_with_tc(tc);
  BOOST_TEST(ids_of(net(h, "namespace=prod", false).value())
               == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(net(h, "namespace=prod", true).value())
               == strings({"a1", "b2", "p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(net(h, "container=!web", false).value())
               == strings({"b2", "c3"}),
             boost::test_tools::per_element());
  BOOST_TEST(net(h, "namespace=nope", true).value().empty());
  // Nothing in the registry: nothing listed, whatever the attacher has.
  BOOST_TEST(remove("a1"));
  BOOST_TEST(remove("b2"));
  BOOST_TEST(remove("c3"));
  BOOST_TEST(remove("p0"));
  BOOST_TEST(net(h, "", true).value().empty());
}

BOOST_AUTO_TEST_CASE(net_with_the_attacher_gone_is_an_error) {
  add(make("a1", "web", "prod"));
  auto [tc, rec] = spawn_attacher({counted("a1", "web", 100)});
  auto h = node_with_tc(tc);
  BOOST_TEST(net(h, "", false).ok());
  kill(tc);
  auto r = net(h, "", false);
  BOOST_REQUIRE_MESSAGE(r.received(), "net is never answered");
  BOOST_TEST(!r.ok());
  // The facade itself is still there.
  BOOST_TEST(ids_of(list("", false)) == strings({"a1"}),
             boost::test_tools::per_element());
}

// -- lifetime -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_facade_quits_when_the_registry_dies) {
  add(make("a1", "web"));
  auto s = spawn_recording_sink();
  BOOST_TEST(subscribe(s.handle, "", false) == 1u);
  auto forwarder = s->senders.at(0);
  auto node_down = watch(node);
  auto fwd_down = watch(forwarder);
  BOOST_TEST(!node_down->down);
  kill(reg, caf::exit_reason::user_shutdown);
  BOOST_TEST(node_down->down, "the facade outlived its registry");
  BOOST_TEST(node_down->reason == caf::error{caf::exit_reason::user_shutdown});
  BOOST_TEST(fwd_down->down, "a forwarder outlived the registry");
  // Nothing answers on the facade any more.
  auto r = ask<events>(node, list_atom::value, selector{}, true);
  BOOST_TEST(!r.ok());
}

BOOST_AUTO_TEST_CASE(another_actor_dying_does_not_end_the_facade) {
  auto s = spawn_recording_sink();
  subscribe(s.handle, "", false);
  auto node_down = watch(node);
  kill(s.handle);
  BOOST_TEST(!node_down->down);
  BOOST_TEST(list("", true).empty());
}

// -- status -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(status_gathers_every_sources_counters) {
  // A source that answers, the registry itself, and one that never does.
  auto quick = sys.spawn(
    [](counters_source_actor::pointer) -> counters_source_actor::behavior_type {
      return {[](get_atom, counters_atom) {
        return counters{{"edge_overflows", 2}, {"registry_added", 100}};
      }};
    });
  auto silent = sys.spawn([](counters_source_actor::pointer self)
                            -> counters_source_actor::behavior_type {
    return {[self](get_atom, counters_atom) -> caf::result<counters> {
      // Never answered: the facade's deadline covers it.
      return self->make_response_promise<counters>();
    }};
  });
  node_config ncfg;
  ncfg.registry = reg;
  ncfg.version = "0.1.0";
  ncfg.kernel = "6.18.0-test";
  ncfg.features = {{"tc", false}, {"traceloop", true}};
  ncfg.sources = {caf::actor_cast<counters_source_actor>(reg), quick, silent};
  ncfg.request_timeout = 1000ms;
  auto h = track(spawn_node(sys, ncfg));
  run();
  add(make("a1", "web", "prod"));
  auto r = request<node_status>(h, status_atom::value);
  run();
  BOOST_TEST(!r->received(), "answered before the silent source's deadline");
  advance(1000ms);
  BOOST_REQUIRE(r->ok());
  auto& st = r->value();
  BOOST_TEST(st.version == "0.1.0");
  BOOST_TEST(st.kernel == "6.18.0-test");
  BOOST_TEST(st.features.at("traceloop"));
  BOOST_TEST(st.counters.at("edge_overflows") == 2u);
  // Same name from two sources: summed.
  BOOST_TEST(st.counters.at("registry_added") == 101u);
  BOOST_TEST(st.counters.at("status_sources_missing") == 1u);
  anon_send_exit(quick, caf::exit_reason::user_shutdown);
  anon_send_exit(silent, caf::exit_reason::user_shutdown);
  run();
}

BOOST_AUTO_TEST_SUITE_END()
