// The container registry on CAF's deterministic scheduler with virtual time:
// idempotent add, lookups, selectors, atomic subscribe, publish before
// forget, fan-out acks with a deadline, subscriber death, seq and ts_ns.
#define BOOST_TEST_MODULE registry
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/registry/registry.hpp"
#include "messages/errors.hpp"
#include "messages/selector.hpp"
#include "tests/support/registry_fixture.hpp"

using nw::test::code_of;
using nw::test::sel;

using namespace nw;
using namespace std::chrono_literals;
using test::ack_mode;

namespace {

using events = std::vector<container_event>;
using strings = std::vector<std::string>;

constexpr uint64_t wall_start = test::registry_wall_start;

container_info make(std::string id, std::string name, std::string ns = "",
                    std::string pod = "", std::string runtime = "runc") {
  static uint64_t next_ns = 4026532200;
  container_info x;
  x.id = std::move(id);
  x.name = std::move(name);
  x.pid = static_cast<uint32_t>(1000 + next_ns % 1000);
  x.mntns = next_ns++;
  x.netns = next_ns++;
  x.runtime = std::move(runtime);
  x.k8s.namespace_ = std::move(ns);
  x.k8s.pod = std::move(pod);
  x.bundle = "/run/containerd/" + x.id;
  return x;
}

strings ids_of(const events& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.info->id);
  return result;
}

strings ids_of(const std::vector<container_info>& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.id);
  return result;
}

struct fixture : test::registry_fixture {
  fixture() {
    reg = spawn_reg();
  }

  registry_actor spawn_reg() {
    auto h = track(spawn_registry(sys, rcfg));
    run();
    return h;
  }

  // -- requests to `reg`, answered within run() ------------------------------

  test::reply<container_info> get(const std::string& query) {
    return ask<container_info>(reg, get_atom::value, query);
  }

  test::reply<container_info> get_mntns(uint64_t inode) {
    return ask<container_info>(reg, get_atom::value, mntns_atom::value, inode);
  }

  std::vector<container_info> get_netns(uint64_t inode) {
    return ask<std::vector<container_info>>(reg, get_atom::value,
                                            netns_atom::value, inode)
      .value();
  }

  events list(const std::string& text) {
    return ask<events>(reg, list_atom::value, sel(text)).value();
  }

  std::shared_ptr<test::reply<events>>
  subscribe_async(const test::stand_in_subscriber& s,
                  const std::string& text = "") {
    return request<events>(reg, subscribe_atom::value, sel(text),
                           s.as_subscriber());
  }

  events subscribe(const test::stand_in_subscriber& s,
                   const std::string& text = "") {
    return ask<events>(reg, subscribe_atom::value, sel(text), s.as_subscriber())
      .value();
  }

  void unsubscribe(const test::stand_in_subscriber& s) {
    send(reg, unsubscribe_atom::value, s.as_subscriber());
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(registry, fixture)

// -- configuration and counters -----------------------------------------------

BOOST_AUTO_TEST_CASE(defaults_follow_the_contract) {
  registry_config defaults;
  // CONTRACTS.md: hold deadline 2000 ms - 250 ms; removed records kept 5 s.
  BOOST_TEST(defaults.fanout_deadline.count() == 1750);
  BOOST_TEST(defaults.removed_grace.count() == 5000);
  auto all = ask<counters>(reg, get_atom::value, counters_atom::value).value();
  for (auto name : {"registry_added", "registry_removed", "registry_duplicates",
                    "registry_mntns_conflicts", "registry_detection_failed",
                    "registry_late_acks", "registry_subscriber_deaths"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(all.count(name) == 1u);
      BOOST_TEST(all.at(name) == 0u);
    }
  }
}

// -- add ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(add_is_idempotent_by_id) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  auto web = make("c0ffee01", "web", "prod", "web-0");
  BOOST_TEST(add(web) == (add_result{1, false, 1, 0}));
  auto again = web;
  again.name = "impostor";
  again.pid = 4242;
  BOOST_TEST(add(again) == (add_result{1, true, 0, 0}));
  BOOST_TEST(add(again) == (add_result{1, true, 0, 0}));
  // One event, and the first record wins.
  BOOST_TEST(sub->events.size() == 1u);
  BOOST_TEST(get("c0ffee01").value() == web);
  BOOST_TEST(list("").size() == 1u);
  BOOST_TEST(stat("registry_added") == 1u);
  BOOST_TEST(stat("registry_duplicates") == 2u);
}

BOOST_AUTO_TEST_CASE(duplicate_during_a_fanout_answers_at_once) {
  auto sub = spawn_subscriber(ack_mode::later);
  subscribe(sub);
  auto web = make("c0ffee01", "web");
  auto first = add_async(web);
  run();
  BOOST_TEST(!first->received());
  // The second add does not wait on the first one's fan-out.
  BOOST_TEST(add(web) == (add_result{1, true, 0, 0}));
  BOOST_TEST(sub->events.size() == 1u);
  release(sub);
  BOOST_REQUIRE(first->received());
  BOOST_TEST(first->value() == (add_result{1, false, 1, 0}));
}

BOOST_AUTO_TEST_CASE(add_without_id_is_bad_input) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  auto r = ask<add_result>(reg, add_atom::value, container_info{});
  BOOST_TEST(code_of(r.err) == errc::bad_input);
  BOOST_TEST(sub->events.empty());
}

// -- lookups ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(list_by_selector) {
  // Added out of id order: listings come in id order.
  add(make("d4", "web", "staging", "web-0"));
  add(make("a1", "web", "prod", "web-0"));
  auto pause = make("e5", "pause", "prod", "web-0");
  pause.sandbox = true;
  add(pause);
  add(make("c3", "coredns", "kube-system", "coredns-1"));
  auto db = make("b2", "db", "prod", "db-0", "crun");
  add(db);

  BOOST_TEST(ids_of(list("")) == strings({"a1", "b2", "c3", "d4", "e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=prod")) == strings({"a1", "b2", "e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=!kube-system"))
               == strings({"a1", "b2", "d4", "e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("namespace=prod,staging;container=web"))
               == strings({"a1", "d4"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("container=!web,!pause")) == strings({"b2", "c3"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("pod=web-0;namespace=!staging"))
               == strings({"a1", "e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(list("runtime=crun")) == strings({"b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(list("namespace=nope").empty());

  // Listings are the original `added` events.
  auto dbs = list("container=db");
  BOOST_REQUIRE_EQUAL(dbs.size(), 1u);
  BOOST_TEST(dbs[0]
             == (container_event{event_kind::added, 5, wall_start, db, ""}));

  // Removed containers are not listed, even in their grace period.
  BOOST_TEST(remove("b2"));
  BOOST_TEST(ids_of(list("namespace=prod")) == strings({"a1", "e5"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(get_by_id_prefix_or_name) {
  auto web = make("c0ffee01aa", "web");
  auto db = make("c0ffee02bb", "db");
  auto cache = make("deadbeef99", "cache");
  add(web);
  add(db);
  add(cache);

  BOOST_TEST(get("deadbeef99").value() == cache); // full id
  BOOST_TEST(get("dead").value() == cache);       // unique prefix
  BOOST_TEST(get("c0ffee01").value() == web);
  BOOST_TEST(get("web").value() == web); // name
  BOOST_TEST(get("db").value() == db);

  auto ambiguous = get("c0ffee");
  BOOST_TEST(!ambiguous.ok());
  BOOST_TEST(code_of(ambiguous.err) == errc::ambiguous_container);
  auto text = render(ambiguous.err);
  BOOST_TEST(text.find("c0ffee01aa") != std::string::npos, text);
  BOOST_TEST(text.find("c0ffee02bb") != std::string::npos, text);
  BOOST_TEST(text.find("deadbeef99") == std::string::npos, text);

  BOOST_TEST(code_of(get("nope").err) == errc::unknown_container);
  BOOST_TEST(code_of(get("").err) == errc::unknown_container);
  BOOST_TEST(code_of(get("c0ffee01aaX").err) == errc::unknown_container);
}

BOOST_AUTO_TEST_CASE(ambiguous_name_lists_the_candidates) {
  add(make("aaa111", "web", "prod"));
  add(make("bbb222", "web", "staging"));
  auto r = get("web");
  BOOST_TEST(code_of(r.err) == errc::ambiguous_container);
  auto text = render(r.err);
  BOOST_TEST(text.find("aaa111") != std::string::npos, text);
  BOOST_TEST(text.find("bbb222") != std::string::npos, text);
  // The full ids still resolve.
  BOOST_TEST(get("aaa111").value().k8s.namespace_ == "prod");
}

BOOST_AUTO_TEST_CASE(get_by_mntns) {
  auto web = make("a1", "web");
  auto db = make("b2", "db");
  add(web);
  add(db);
  BOOST_TEST(get_mntns(web.mntns).value() == web);
  BOOST_TEST(get_mntns(db.mntns).value() == db);
  BOOST_TEST(code_of(get_mntns(1).err) == errc::unknown_container);
  // A netns inode is not a mntns inode.
  BOOST_TEST(code_of(get_mntns(web.netns).err) == errc::unknown_container);
}

BOOST_AUTO_TEST_CASE(get_by_netns_with_a_shared_netns) {
  // A pod: the sandbox and its app container share one network namespace.
  auto app = make("a1", "app", "prod", "pod-0");
  auto sandbox = make("p0", "pause", "prod", "pod-0");
  sandbox.sandbox = true;
  sandbox.netns = app.netns;
  auto other = make("z9", "other");
  add(sandbox);
  add(other);
  add(app);
  BOOST_TEST(ids_of(get_netns(app.netns)) == strings({"a1", "p0"}),
             boost::test_tools::per_element());
  BOOST_TEST(get_netns(app.netns)[0] == app);
  BOOST_TEST(ids_of(get_netns(other.netns)) == strings({"z9"}),
             boost::test_tools::per_element());
  BOOST_TEST(get_netns(7).empty());
  // Each still has its own mount namespace.
  BOOST_TEST(get_mntns(sandbox.mntns).value() == sandbox);
  // A removed member leaves the others.
  BOOST_TEST(remove("a1"));
  BOOST_TEST(ids_of(get_netns(app.netns)) == strings({"p0"}),
             boost::test_tools::per_element());
}

// -- subscribe ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(subscribe_around_adds_has_no_gap_and_no_duplicate) {
  // All requests are in flight before anything runs: k adds reach the
  // registry before the subscribe, the rest after it.
  constexpr int n = 4;
  for (int k = 0; k <= n; ++k) {
    BOOST_TEST_CONTEXT("adds before subscribe: " << k) {
      reg = spawn_reg();
      auto sub = spawn_subscriber();
      strings all;
      for (int i = 0; i < n; ++i)
        all.push_back("c" + std::to_string(i));
      std::vector<std::shared_ptr<test::reply<add_result>>> adds;
      for (int i = 0; i < k; ++i)
        adds.push_back(add_async(make(all[i], all[i])));
      auto snap = subscribe_async(sub);
      for (int i = k; i < n; ++i)
        adds.push_back(add_async(make(all[i], all[i])));
      run();
      BOOST_REQUIRE(snap->ok());
      auto seen = ids_of(snap->value());
      auto live = sub->ids();
      BOOST_TEST(seen == strings(all.begin(), all.begin() + k),
                 boost::test_tools::per_element());
      BOOST_TEST(live == strings(all.begin() + k, all.end()),
                 boost::test_tools::per_element());
      for (int i = 0; i < n; ++i)
        BOOST_TEST(adds[i]->value().acked == (i < k ? 0u : 1u));
      kill(reg);
      kill(sub.handle);
    }
  }
}

BOOST_AUTO_TEST_CASE(subscribe_is_atomic_in_shuffled_interleavings) {
  // Adds and a subscribe from separate requesters, run in many orders: each
  // container shows up exactly once, in the snapshot or as a live event,
  // and the snapshot is exactly what was added before the subscription.
  constexpr int n = 5;
  int mixed = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      std::mt19937_64 rng{seed};
      reg = spawn_reg();
      auto sub = spawn_subscriber();
      int subscribe_at = static_cast<int>(rng() % (n + 1));
      std::vector<std::shared_ptr<test::reply<add_result>>> adds;
      std::shared_ptr<test::reply<events>> snap;
      for (int i = 0; i <= n; ++i) {
        if (i == subscribe_at)
          snap = subscribe_async(sub);
        if (i < n) {
          auto id = "c" + std::to_string(i);
          adds.push_back(add_async(make(id, id)));
        }
      }
      run_shuffled(rng);
      BOOST_REQUIRE(snap->ok());
      std::multiset<std::string> seen;
      uint64_t max_snapshot_seq = 0;
      for (auto& ev : snap->value()) {
        seen.insert(ev.info->id);
        max_snapshot_seq = std::max(max_snapshot_seq, ev.seq);
        BOOST_TEST(ev.kind == event_kind::added);
      }
      uint64_t last_live_seq = 0;
      for (auto& ev : sub->events) {
        seen.insert(ev.info->id);
        BOOST_TEST(ev.seq > max_snapshot_seq);
        BOOST_TEST(ev.seq > last_live_seq);
        last_live_seq = ev.seq;
      }
      BOOST_TEST(seen.size() == static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        auto id = "c" + std::to_string(i);
        BOOST_TEST(seen.count(id) == 1u, id);
        // Acked by the subscriber exactly when it got the event live.
        auto& r = adds[static_cast<size_t>(i)];
        BOOST_REQUIRE(r->ok());
        bool in_snapshot = r->value().seq <= max_snapshot_seq;
        BOOST_TEST(r->value().acked == (in_snapshot ? 0u : 1u), id);
      }
      if (!snap->value().empty() && !sub->events.empty())
        ++mixed;
      kill(reg);
      kill(sub.handle);
    }
  }
  // The shuffle must actually put the subscribe between adds.
  BOOST_TEST_MESSAGE(mixed << " of 200 runs mixed snapshot and live events");
  BOOST_TEST(mixed >= 50);
}

BOOST_AUTO_TEST_CASE(subscription_selector_filters_snapshot_and_events) {
  add(make("a1", "web", "prod"));
  add(make("b2", "dns", "kube-system"));
  auto prod = spawn_subscriber();
  auto all = spawn_subscriber();
  BOOST_TEST(ids_of(subscribe(prod, "namespace=prod")) == strings({"a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(ids_of(subscribe(all)) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(add(make("c3", "api", "prod")).acked == 2u);
  BOOST_TEST(add(make("d4", "proxy", "kube-system")).acked == 1u);
  BOOST_TEST(remove("b2"));
  BOOST_TEST(remove("a1"));
  BOOST_TEST(prod->ids() == strings({"c3", "a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(all->ids() == strings({"c3", "d4", "b2", "a1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(subscribing_again_replaces_the_selector) {
  auto sub = spawn_subscriber();
  subscribe(sub, "namespace=prod");
  add(make("a1", "web", "prod"));
  BOOST_TEST(ids_of(subscribe(sub, "namespace=dev")).empty());
  // One subscription, not two: one event, one ack.
  BOOST_TEST(add(make("b2", "web", "dev")).acked == 1u);
  BOOST_TEST(add(make("c3", "web", "prod")).acked == 0u);
  BOOST_TEST(sub->ids() == strings({"a1", "b2"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unsubscribe_stops_events) {
  auto sub = spawn_subscriber();
  auto other = spawn_subscriber();
  subscribe(sub);
  add(make("a1", "web"));
  unsubscribe(sub);
  unsubscribe(other); // never subscribed: nothing happens
  BOOST_TEST(add(make("b2", "db")) == (add_result{2, false, 0, 0}));
  BOOST_TEST(remove("a1"));
  BOOST_TEST(sub->ids() == strings({"a1"}), boost::test_tools::per_element());
  // Unsubscribed means no longer monitored: its death is not counted.
  kill(sub.handle);
  BOOST_TEST(stat("registry_subscriber_deaths") == 0u);
}

// -- remove -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(removed_is_published_before_the_record_is_forgotten) {
  // A subscriber that, handling `removed`, asks the registry about the
  // container still finds it.
  auto lookup = std::make_shared<test::reply<container_info>>();
  auto on_event
    = [lookup, reg = reg](test::stand_in_subscriber_actor::pointer self,
                          const container_event& ev) {
        if (ev.kind != event_kind::removed)
          return;
        self->request(reg, caf::infinite, get_atom::value, ev.info->id)
          .then([lookup](container_info& x) { lookup->values.emplace(x); },
                [lookup](caf::error& err) { lookup->err = err; });
      };
  auto sub = spawn_subscriber(ack_mode::now, on_event);
  subscribe(sub);
  auto web = make("c0ffee01", "web", "prod");
  add(web);
  BOOST_TEST(remove("c0ffee01"));
  run();
  BOOST_REQUIRE_MESSAGE(lookup->received(), "the subscriber got no answer");
  BOOST_TEST(lookup->value() == web);
  BOOST_REQUIRE_EQUAL(sub->events.size(), 2u);
  BOOST_TEST(sub->events[1].kind == event_kind::removed);
  BOOST_TEST(*sub->events[1].info == web);
  BOOST_TEST(stat("registry_removed") == 1u);
}

BOOST_AUTO_TEST_CASE(removed_records_resolve_for_the_grace_period) {
  auto web = make("c0ffee01", "web", "prod");
  add(web);
  BOOST_TEST(remove("c0ffee01"));
  BOOST_TEST(!remove("c0ffee01")); // already removed
  BOOST_TEST(!remove("nope"));
  auto resolves = [&] {
    return get("c0ffee01").ok() && get("c0ffee").ok() && get("web").ok()
           && get_mntns(web.mntns).ok();
  };
  BOOST_TEST(resolves());
  BOOST_TEST(list("").empty());
  advance(4999ms);
  BOOST_TEST(resolves());
  advance(1ms);
  BOOST_TEST(code_of(get("c0ffee01").err) == errc::unknown_container);
  BOOST_TEST(code_of(get("web").err) == errc::unknown_container);
  BOOST_TEST(code_of(get_mntns(web.mntns).err) == errc::unknown_container);
  BOOST_TEST(get_netns(web.netns).empty());
}

BOOST_AUTO_TEST_CASE(an_early_purge_forgets_nothing) {
  auto web = make("c0ffee01", "web");
  add(web);
  BOOST_TEST(remove("c0ffee01"));
  advance(2s);
  // The registry's private purge message (an atom's text is its type).
  send(caf::actor_cast<caf::actor>(reg),
       caf::atom_constant<caf::atom("nw_purge")>::value);
  run();
  BOOST_TEST(get("c0ffee01").value() == web);
  advance(3s);
  BOOST_TEST(code_of(get("c0ffee01").err) == errc::unknown_container);
}

BOOST_AUTO_TEST_CASE(an_id_back_within_the_grace_period_is_new) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  auto web = make("c0ffee01", "web");
  add(web);
  BOOST_TEST(remove("c0ffee01"));
  advance(1s);
  web.pid = 777;
  BOOST_TEST(add(web) == (add_result{3, false, 1, 0}));
  // The old record's purge must not take the new one.
  advance(10s);
  BOOST_TEST(get("c0ffee01").value() == web);
  BOOST_TEST(get_mntns(web.mntns).value() == web);
  BOOST_TEST(ids_of(list("")) == strings({"c0ffee01"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(live_containers_win_over_removed_ones) {
  auto old_web = make("aaa111", "web");
  add(old_web);
  BOOST_TEST(remove("aaa111"));
  auto new_web = make("bbb222", "web");
  new_web.mntns = old_web.mntns; // an inode number reused
  add(new_web);
  BOOST_TEST(get("web").value() == new_web);
  BOOST_TEST(get_mntns(old_web.mntns).value() == new_web);
  BOOST_TEST(get("aaa111").value() == old_web); // the full id still resolves
}

// -- one mount namespace, one live container ---------------------------------

BOOST_AUTO_TEST_CASE(a_second_id_for_a_live_mount_namespace_is_refused) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  auto web = make("aaa111", "web");
  web.mntns_id64 = 10;
  add(web);
  // A state file (or pidfile) naming web's init under another id.
  auto impostor = make("bbb222", "impostor");
  impostor.pid = web.pid;
  impostor.mntns = web.mntns;
  impostor.mntns_id64 = web.mntns_id64;
  auto r = ask<add_result>(reg, add_atom::value, impostor);
  BOOST_TEST(code_of(r.err) == errc::mntns_in_use);
  auto text = render(r.err);
  BOOST_TEST(text.find("mntns_in_use") == 0u, text);
  BOOST_TEST(text.find(std::to_string(web.mntns)) != std::string::npos, text);
  BOOST_TEST(text.find("aaa111") != std::string::npos, text);
  BOOST_TEST(stat("registry_mntns_conflicts") == 1u);
  BOOST_TEST(stat("registry_added") == 1u);
  // Nothing was published or kept.
  BOOST_TEST(sub->events.size() == 1u);
  BOOST_TEST(ids_of(list("")) == strings({"aaa111"}),
             boost::test_tools::per_element());
  BOOST_TEST(code_of(get("bbb222").err) == errc::unknown_container);
  BOOST_TEST(get_mntns(web.mntns).value() == web);
  // Without the 64-bit id on either side the inode alone decides.
  impostor.mntns_id64 = 0;
  BOOST_TEST(code_of(ask<add_result>(reg, add_atom::value, impostor).err)
             == errc::mntns_in_use);
  BOOST_TEST(stat("registry_mntns_conflicts") == 2u);
  // The owner itself again is a duplicate, not a conflict.
  BOOST_TEST(add(web) == (add_result{1, true, 0, 0}));
  BOOST_TEST(stat("registry_mntns_conflicts") == 2u);
}

BOOST_AUTO_TEST_CASE(a_removed_owner_frees_its_mount_namespace) {
  auto web = make("aaa111", "web");
  add(web);
  BOOST_TEST(remove("aaa111"));
  // In its grace period the record is no longer live.
  auto next = make("bbb222", "next");
  next.mntns = web.mntns;
  BOOST_TEST(add(next) == (add_result{3, false, 0, 0}));
  BOOST_TEST(stat("registry_mntns_conflicts") == 0u);
  BOOST_TEST(get_mntns(web.mntns).value() == next);
}

BOOST_AUTO_TEST_CASE(a_reused_inode_with_another_64_bit_id_is_no_conflict) {
  // web's namespace is gone and its inode given to a new container's
  // before termination removed web: the 64-bit ids, never reused, differ.
  auto web = make("aaa111", "web");
  web.mntns_id64 = 10;
  add(web);
  auto next = make("bbb222", "next");
  next.mntns = web.mntns;
  next.mntns_id64 = 11;
  BOOST_TEST(add(next) == (add_result{2, false, 0, 0}));
  BOOST_TEST(stat("registry_mntns_conflicts") == 0u);
  BOOST_TEST(ids_of(list("")) == strings({"aaa111", "bbb222"}),
             boost::test_tools::per_element());
  // The namespace is the newer container's.
  BOOST_TEST(get_mntns(web.mntns).value() == next);
  // A third one with next's 64-bit id is next's namespace: refused.
  auto third = make("ccc333", "third");
  third.mntns = web.mntns;
  third.mntns_id64 = 11;
  BOOST_TEST(code_of(ask<add_result>(reg, add_atom::value, third).err)
             == errc::mntns_in_use);
  BOOST_TEST(stat("registry_mntns_conflicts") == 1u);
}

BOOST_AUTO_TEST_CASE(an_unknown_mount_namespace_is_no_conflict) {
  auto a = make("aaa111", "a");
  a.mntns = 0;
  auto b = make("bbb222", "b");
  b.mntns = 0;
  add(a);
  BOOST_TEST(add(b) == (add_result{2, false, 0, 0}));
  BOOST_TEST(stat("registry_mntns_conflicts") == 0u);
}

// -- fan-out ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(add_reply_waits_for_every_ack) {
  auto quick = spawn_subscriber();
  auto slow = spawn_subscriber(ack_mode::later);
  subscribe(quick);
  subscribe(slow);
  auto t0 = now();
  auto r = add_async(make("a1", "web"));
  run();
  BOOST_TEST(quick->acked == 1u);
  BOOST_TEST(slow->events.size() == 1u);
  BOOST_TEST(!r->received());
  // Other requests are served meanwhile, and a subscriber joining now
  // finds the container in its snapshot (it gets no event for it).
  BOOST_TEST(list("").size() == 1u);
  auto joiner = spawn_subscriber();
  BOOST_TEST(ids_of(subscribe(joiner)) == strings({"a1"}),
             boost::test_tools::per_element());
  BOOST_TEST(joiner->events.empty());
  BOOST_TEST(!r->received());
  release(slow);
  BOOST_REQUIRE(r->received());
  BOOST_TEST(r->value() == (add_result{1, false, 2, 0}));
  BOOST_TEST((r->at == t0));
  BOOST_TEST(stat("registry_late_acks") == 0u);
}

BOOST_AUTO_TEST_CASE(a_stalled_subscriber_delays_the_add_until_the_deadline) {
  auto s1 = spawn_subscriber();
  auto s2 = spawn_subscriber();
  auto stalled = spawn_subscriber(ack_mode::stall);
  subscribe(s1);
  subscribe(s2);
  subscribe(stalled);
  auto t0 = now();
  auto first = add_async(make("a1", "web"));
  run();
  BOOST_TEST(!first->received());
  advance(1000ms);
  auto second = add_async(make("b2", "db")); // its own deadline: t0 + 2750
  run();
  BOOST_TEST(stalled->events.size() == 2u);
  advance(749ms);
  BOOST_TEST(!first->received(), "replied before the fan-out deadline");
  advance(1ms);
  BOOST_REQUIRE(first->received());
  BOOST_TEST(first->value() == (add_result{1, false, 2, 1}));
  BOOST_TEST(((first->at - t0) == 1750ms));
  BOOST_TEST(stat("registry_late_acks") == 1u);
  BOOST_TEST(!second->received());
  advance(999ms);
  BOOST_TEST(!second->received(), "replied before the fan-out deadline");
  advance(1ms);
  BOOST_REQUIRE(second->received());
  BOOST_TEST(second->value() == (add_result{2, false, 2, 1}));
  BOOST_TEST(((second->at - t0) == 2750ms));
  BOOST_TEST(stat("registry_late_acks") == 2u);
  // Late is not dropped: the stalled subscriber still gets events.
  BOOST_TEST(stat("registry_subscriber_deaths") == 0u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_never_answers_is_dropped_not_kept) {
  // Requests to subscribers carry no timeout of their own (one deadline per
  // fan-out): a subscriber that never answers must not pin their handlers
  // forever. Past 1024 unanswered events it is dropped and stopped.
  auto healthy = spawn_subscriber();
  auto stalled = spawn_subscriber(ack_mode::stall);
  subscribe(healthy);
  subscribe(stalled);
  for (int i = 0; i < 1024; ++i) {
    add_async(make("c" + std::to_string(i), "n" + std::to_string(i)));
    advance(1750ms);
  }
  BOOST_TEST(stat("registry_subscribers_dropped") == 0u);
  add_async(make("last", "last"));
  advance(1750ms);
  BOOST_TEST(stat("registry_subscribers_dropped") == 1u);
  BOOST_TEST(stat("registry_late_acks") == 1025u);
  // Without it, an add is acked at once again.
  auto r = add_async(make("after", "after"));
  run();
  BOOST_REQUIRE(r->received());
  BOOST_TEST(r->value().acked == 1u);
  BOOST_TEST(r->value().late == 0u);
}

BOOST_AUTO_TEST_CASE(an_ack_after_the_deadline_changes_nothing) {
  auto slow = spawn_subscriber(ack_mode::later);
  subscribe(slow);
  auto r = add_async(make("a1", "web"));
  advance(1750ms);
  BOOST_REQUIRE(r->received());
  BOOST_TEST(r->value() == (add_result{1, false, 0, 1}));
  release(slow);
  BOOST_TEST(slow->acked == 1u);
  BOOST_TEST(r->value() == (add_result{1, false, 0, 1}));
  BOOST_TEST(stat("registry_late_acks") == 1u);
  // Still subscribed; acking at once now.
  slow->mode = ack_mode::now;
  BOOST_TEST(add(make("b2", "db")) == (add_result{2, false, 1, 0}));
}

// -- subscriber death ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_dead_subscriber_is_dropped_and_counted) {
  auto alive = spawn_subscriber();
  auto doomed = spawn_subscriber();
  subscribe(alive);
  subscribe(doomed);
  kill(doomed.handle);
  BOOST_TEST(stat("registry_subscriber_deaths") == 1u);
  auto t0 = now();
  auto r = add_async(make("a1", "web"));
  run();
  BOOST_REQUIRE_MESSAGE(r->received(), "an add waited on a dead subscriber");
  BOOST_TEST(r->value() == (add_result{1, false, 1, 0}));
  BOOST_TEST((r->at == t0));
  BOOST_TEST(stat("registry_late_acks") == 0u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_dying_before_its_event_does_not_delay_add) {
  auto alive = spawn_subscriber();
  auto doomed = spawn_subscriber();
  subscribe(alive);
  subscribe(doomed);
  auto t0 = now();
  // The add reaches the registry before the death notice does: the event
  // goes to a dead actor and bounces.
  auto r = add_async(make("a1", "web"));
  caf::anon_send_exit(doomed.handle, caf::exit_reason::user_shutdown);
  run();
  BOOST_REQUIRE_MESSAGE(r->received(), "an add waited on a dead subscriber");
  BOOST_TEST(r->value() == (add_result{1, false, 1, 1}));
  BOOST_TEST((r->at == t0));
  BOOST_TEST(stat("registry_subscriber_deaths") == 1u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_dying_holding_an_event_does_not_delay_add) {
  // The subscriber took the event and died before acking: its monitor says
  // so at once, and nothing will ever answer that request.
  auto alive = spawn_subscriber();
  auto doomed = spawn_subscriber(ack_mode::later);
  subscribe(alive);
  subscribe(doomed);
  auto t0 = now();
  auto r = add_async(make("a1", "web"));
  run();
  BOOST_REQUIRE_EQUAL(doomed->events.size(), 1u);
  BOOST_TEST(!r->received());
  kill(doomed.handle);
  BOOST_TEST(stat("registry_subscriber_deaths") == 1u);
  BOOST_CHECK_MESSAGE(r->received(),
                      "the add is held until the fan-out deadline by a "
                      "subscriber known to be dead");
  if (!r->received()) {
    advance(1750ms);
    BOOST_REQUIRE(r->received());
  }
  BOOST_TEST(r->value() == (add_result{1, false, 1, 1}));
  BOOST_TEST((r->at == t0));
}

// -- detection_failed, seq, ts_ns ---------------------------------------------

BOOST_AUTO_TEST_CASE(detection_failed_reaches_subscribers_with_its_reason) {
  auto all = spawn_subscriber();
  auto others = spawn_subscriber();
  auto stalled = spawn_subscriber(ack_mode::stall);
  subscribe(all);
  subscribe(others, "namespace=other");
  subscribe(stalled);
  auto job = make("f00d", "job", "batch");
  *wall = wall_start + 5;
  auto t0 = now();
  auto r = request<uint64_t>(reg, failed_atom::value, job,
                             std::string{"pidfile never written"});
  run();
  // Not a held start: no waiting on acks.
  BOOST_REQUIRE(r->received());
  BOOST_TEST(r->value() == 1u);
  BOOST_TEST((r->at == t0));
  BOOST_REQUIRE_EQUAL(all->events.size(), 1u);
  BOOST_TEST(
    all->events[0]
    == (container_event{event_kind::detection_failed, 1, wall_start + 5, job,
                        "pidfile never written"}));
  BOOST_TEST(others->events.empty());
  BOOST_TEST(stalled->events.size() == 1u);
  // Never registered.
  BOOST_TEST(code_of(get("f00d").err) == errc::unknown_container);
  BOOST_TEST(list("").empty());
  BOOST_TEST(stat("registry_detection_failed") == 1u);
  BOOST_TEST(stat("registry_added") == 0u);
}

BOOST_AUTO_TEST_CASE(seq_strictly_increases_across_kinds) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  std::vector<uint64_t> replied;
  replied.push_back(add(make("a", "a")).seq);
  replied.push_back(add(make("b", "b")).seq);
  BOOST_TEST(add(make("a", "a")).seq == replied[0]); // duplicate: old seq
  BOOST_TEST(remove("a"));
  replied.push_back(fail(make("x", "x"), "gone"));
  replied.push_back(add(make("c", "c")).seq);
  BOOST_TEST(remove("b"));
  replied.push_back(add(make("a", "a")).seq);
  auto& evs = sub->events;
  BOOST_REQUIRE_EQUAL(evs.size(), 7u);
  std::vector<event_kind> kinds;
  for (size_t i = 0; i < evs.size(); ++i) {
    kinds.push_back(evs[i].kind);
    if (i > 0)
      BOOST_TEST(evs[i].seq > evs[i - 1].seq, "event " << i);
  }
  BOOST_TEST(evs[0].seq >= 1u);
  using k = event_kind;
  BOOST_TEST(kinds
               == std::vector<event_kind>({k::added, k::added, k::removed,
                                           k::detection_failed, k::added,
                                           k::removed, k::added}),
             boost::test_tools::per_element());
  // Replies name the seq of the event they published.
  BOOST_TEST(replied[0] == evs[0].seq);
  BOOST_TEST(replied[1] == evs[1].seq);
  BOOST_TEST(replied[2] == evs[3].seq);
  BOOST_TEST(replied[3] == evs[4].seq);
  BOOST_TEST(replied[4] == evs[6].seq);
}

BOOST_AUTO_TEST_CASE(ts_ns_comes_from_the_configured_clock) {
  auto sub = spawn_subscriber();
  subscribe(sub);
  *wall = 1000;
  add(make("a", "a"));
  *wall = 2000;
  BOOST_TEST(remove("a"));
  *wall = 3000;
  fail(make("x", "x"), "gone");
  *wall = 4000;
  add(make("b", "b"));
  std::vector<uint64_t> ts;
  for (auto& ev : sub->events)
    ts.push_back(ev.ts_ns);
  BOOST_TEST(ts == std::vector<uint64_t>({1000, 2000, 3000, 4000}),
             boost::test_tools::per_element());
  // Virtual time is not realtime: advancing it changes no ts_ns.
  advance(1h);
  *wall = 5000;
  auto late = spawn_subscriber();
  auto snapshot = subscribe(late);
  BOOST_REQUIRE_EQUAL(snapshot.size(), 1u);
  BOOST_TEST(snapshot[0].ts_ns == 4000u); // the original event, unchanged
  BOOST_TEST(snapshot[0].seq == sub->events.back().seq);
  BOOST_TEST(list("")[0].ts_ns == 4000u);
}

BOOST_AUTO_TEST_SUITE_END()
