// The controller logic (runtime/agent/controller.hpp) on CAF's deterministic
// scheduler with virtual time, against local stand-in node facades and a
// stand-in connector: the node list (--node, NODEWATCH_NODES, empty entries,
// duplicates); fan-out requests merged in node order with each node's own
// order, a node that never answers timing out at the deadline while the
// others answer, a connect that fails or never answers, a node's own error;
// merged streams keeping each node's order under shuffled scheduling and
// tagging every event; a node dying mid-stream reported after its last
// event and reconnected at the back-off times (0.5, 1, 2 s ...), reset once
// subscribed again, its snapshot coming again; the other node undisturbed;
// a clean stop; and the merged output helpers.
#define BOOST_TEST_MODULE controller
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/controller.hpp"
#include "tests/support/coordinator_fixture.hpp"

using namespace nw;
using namespace std::chrono_literals;

namespace {

using events = std::vector<container_event>;
using strings = std::vector<std::string>;
using time_point = caf::actor_clock::time_point;

container_event ev(std::string id, uint64_t seq,
                   event_kind kind = event_kind::added) {
  container_info x;
  x.id = std::move(id);
  x.name = x.id + "-name";
  x.runtime = "runc";
  container_event e;
  e.kind = kind;
  e.seq = seq;
  e.info = std::move(x);
  return e;
}

strings ids_of(const events& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.info->id);
  return result;
}

endpoint at(uint16_t port) {
  return endpoint{"10.0.0.1", port};
}

// -- a stand-in node facade ---------------------------------------------------

using push_atom = caf::atom_constant<caf::atom("t_push")>;

using stand_in_node_actor
  = node_actor::extend<caf::reacts_to<push_atom, container_event>>;

/// What a stand-in facade answers; shared with the test.
struct node_record {
  events snapshot;
  node_status status;
  /// Never answers list/status/net/traceloop (keeps the promises).
  bool silent = false;
  /// Answers list/status/net/traceloop with this error.
  caf::error refuse;
  /// Never answers subscribe (and sends nothing).
  bool silent_subscribe = false;
  std::vector<caf::typed_response_promise<uint64_t>> held_subscribes;
  std::vector<event_sink_actor> sinks;
  size_t asked = 0;
  std::vector<caf::response_promise> held;
};

stand_in_node_actor::behavior_type
stand_in_node(stand_in_node_actor::pointer self,
              std::shared_ptr<node_record> rec) {
  // Answers `x` as the record says.
  auto answer = [self, rec](auto x) -> caf::result<decltype(x)> {
    ++rec->asked;
    if (rec->silent) {
      auto p = self->make_response_promise<decltype(x)>();
      rec->held.emplace_back(p);
      return p;
    }
    if (rec->refuse)
      return rec->refuse;
    return x;
  };
  return {
    [=](list_atom, selector&, bool) { return answer(rec->snapshot); },
    [=](subscribe_atom, selector&, bool,
        event_sink_actor& sink) -> caf::result<uint64_t> {
      if (rec->silent_subscribe) {
        rec->held_subscribes.push_back(self->make_response_promise<uint64_t>());
        return rec->held_subscribes.back();
      }
      // As the real facade: the snapshot first, then the reply, from the
      // same actor.
      for (auto& e : rec->snapshot)
        self->send(sink, event_atom::value, e);
      rec->sinks.push_back(sink);
      return static_cast<uint64_t>(rec->snapshot.size());
    },
    [=](get_atom, std::string&) -> caf::result<container_info> {
      return make_error(errc::unknown_container, "stand-in");
    },
    [=](get_atom, counters_atom) { return counters{}; },
    [=](status_atom) { return answer(rec->status); },
    [=](net_atom, selector&, bool) { return answer(std::vector<net_stats>{}); },
    [=](traceloop_atom, list_atom) {
      return answer(std::vector<traceloop_ring_info>{});
    },
    [=](traceloop_atom, get_atom, std::string&) -> caf::result<traceloop_dump> {
      return make_error(errc::bad_input, "stand-in");
    },
    [=](traceloop_atom, remove_atom,
        std::string&) -> caf::result<traceloop_ring_info> {
      return make_error(errc::bad_input, "stand-in");
    },
    [=](traceloop_atom, start_atom, selector&) { return uint64_t{0}; },
    [=](traceloop_atom, stop_atom) { return uint64_t{0}; },
    [=](push_atom, container_event& e) {
      rec->snapshot.push_back(e);
      for (auto& sink : rec->sinks)
        self->send(sink, event_atom::value, e);
    },
  };
}

// -- a stand-in connector -----------------------------------------------------

/// How the stand-in connector answers, per node name; what it was asked.
struct connector_record {
  std::map<std::string, node_actor> facades;
  std::map<std::string, caf::error> failing;
  std::set<std::string> silent;
  std::vector<std::pair<std::string, time_point>> calls;
  std::vector<caf::typed_response_promise<node_actor>> held;

  /// The times node `name` was asked for.
  std::vector<time_point> calls_of(const std::string& name) const {
    std::vector<time_point> result;
    for (auto& [who, when] : calls)
      if (who == name)
        result.push_back(when);
    return result;
  }
};

/// Answers the connects it holds (promises answered inside the actor).
using answer_atom = caf::atom_constant<caf::atom("t_answer")>;

using stand_in_connector_actor
  = connector_actor::extend<caf::reacts_to<answer_atom, node_actor>>;

stand_in_connector_actor::behavior_type
stand_in_connector(stand_in_connector_actor::pointer self,
                   std::shared_ptr<connector_record> rec) {
  return {
    [=](answer_atom, node_actor& facade) {
      auto held = std::move(rec->held);
      rec->held.clear();
      for (auto& p : held)
        p.deliver(facade);
    },
    [=](caf::connect_atom, std::string& host,
        uint16_t port) -> caf::result<node_actor> {
      auto name = node_name(endpoint{host, port});
      rec->calls.emplace_back(name, self->clock().now());
      if (auto i = rec->failing.find(name); i != rec->failing.end())
        return i->second;
      if (rec->silent.count(name) != 0) {
        rec->held.push_back(self->make_response_promise<node_actor>());
        return rec->held.back();
      }
      if (auto i = rec->facades.find(name); i != rec->facades.end())
        return i->second;
      return caf::make_error(caf::sec::cannot_connect_to_node);
    },
  };
}

// -- a stand-in merged sink ---------------------------------------------------

/// Everything a merged stream delivered, in arrival order.
struct merged_record {
  struct item {
    bool is_event;
    std::string node;
    container_event event;
    node_notice notice;
    time_point at;
  };
  std::vector<item> items;

  /// One node's events, in arrival order.
  events of(const std::string& node) const {
    events result;
    for (auto& x : items)
      if (x.is_event && x.node == node)
        result.push_back(x.event);
    return result;
  }

  std::vector<node_notice> notices() const {
    std::vector<node_notice> result;
    for (auto& x : items)
      if (!x.is_event)
        result.push_back(x.notice);
    return result;
  }

  /// "A:ev:id", "A:notice:went_away"... for whole-sequence checks.
  strings trace(const std::string& node) const {
    strings result;
    for (auto& x : items) {
      if (x.node != node)
        continue;
      if (x.is_event)
        result.push_back("ev:" + x.event.info->id);
      else
        result.push_back(std::string{"notice:"}
                         + (x.notice.kind == notice_kind::subscribed
                              ? (x.notice.again ? "back" : "subscribed")
                            : x.notice.kind == notice_kind::went_away
                              ? "went_away"
                              : "unreachable"));
    }
    return result;
  }
};

merged_sink_actor::behavior_type
recording_merged_sink(merged_sink_actor::pointer self,
                      std::shared_ptr<merged_record> rec) {
  return {
    [=](event_atom, std::string& node, container_event& e) {
      rec->items.push_back({true, node, e, {}, self->clock().now()});
    },
    [=](notice_atom, node_notice& n) {
      rec->items.push_back({false, n.node, {}, n, self->clock().now()});
    },
  };
}

// -- the fixture --------------------------------------------------------------

struct fixture : test::coordinator_fixture {
  std::shared_ptr<connector_record> conn_rec
    = std::make_shared<connector_record>();
  stand_in_connector_actor conn_h;
  connector_actor conn;

  fixture() {
    conn_h = track(sys.spawn(stand_in_connector, conn_rec));
    conn = conn_h;
  }

  /// A stand-in facade known to the connector as `x`.
  std::pair<stand_in_node_actor, std::shared_ptr<node_record>>
  add_node(const endpoint& x, events snapshot = {}) {
    auto rec = std::make_shared<node_record>();
    rec->snapshot = std::move(snapshot);
    auto h = track(sys.spawn(stand_in_node, rec));
    conn_rec->facades[node_name(x)] = h;
    return {h, rec};
  }

  /// Spawns a fan-out whose results land in the returned slot (empty until
  /// done).
  template <class T, class... Ts>
  std::shared_ptr<std::optional<std::vector<node_result<T>>>>
  fan(const std::vector<endpoint>& nodes, caf::timespan deadline, Ts... xs) {
    auto slot = std::make_shared<std::optional<std::vector<node_result<T>>>>();
    track(spawn_fan_out<T>(
      sys, conn, nodes, deadline,
      fan_out_handler<T>{
        [slot](std::vector<node_result<T>> rs) { *slot = std::move(rs); }},
      xs...));
    return slot;
  }

  std::pair<caf::actor, std::shared_ptr<merged_record>>
  stream(const std::vector<endpoint>& nodes, stream_options opts = {}) {
    auto rec = std::make_shared<merged_record>();
    auto out = track(sys.spawn(recording_merged_sink, rec));
    auto h = track(spawn_merged_stream(sys, conn, nodes, opts, out));
    return {h, rec};
  }
};

std::string text_of(const caf::error& err) {
  return render(err);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

// -- the node list ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(node_lists_parse_in_order) {
  std::vector<endpoint> xs;
  std::string error;
  BOOST_REQUIRE(parse_node_list("a:1,10.0.0.2:7415, [::1]:9 ", xs, error));
  BOOST_REQUIRE_EQUAL(xs.size(), 3u);
  BOOST_TEST(node_name(xs[0]) == "a:1");
  BOOST_TEST(node_name(xs[1]) == "10.0.0.2:7415");
  BOOST_TEST(xs[2].host == "::1");
  BOOST_TEST(node_name(xs[2]) == "[::1]:9");
  BOOST_REQUIRE(parse_node_list("only:7415", xs, error));
  BOOST_TEST(xs.size() == 1u);
}

BOOST_AUTO_TEST_CASE(bad_node_lists_say_what_is_wrong) {
  std::vector<endpoint> xs{at(1)};
  std::string error;
  struct bad {
    std::string text;
    std::string says;
  };
  for (auto& b : std::vector<bad>{
         {"", "no node given"},
         {" ", "no node given"},
         {"a:1,,b:2", "entry 2 of 'a:1,,b:2' is empty"},
         {"a:1,", "entry 2 of 'a:1,' is empty"},
         {",a:1", "entry 1 of ',a:1' is empty"},
         {"a:1, ,b:2", "entry 2"},
         {"a:1,b", "entry 2 of 'a:1,b': 'b' is not HOST:PORT"},
         {"a:0", "out of range"},
         {"a:1,b:2,a:1", "node a:1 is given twice"},
         {"a:1, a:1", "given twice"},
       })
    BOOST_TEST_CONTEXT("'" << b.text << "'") {
      error.clear();
      BOOST_TEST(!parse_node_list(b.text, xs, error));
      BOOST_TEST(contains(error, b.says), error);
      // Nothing half-parsed is left behind.
      BOOST_TEST(xs.size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(resolve_prefers_the_flag_then_the_environment) {
  std::vector<endpoint> xs;
  std::string error;
  BOOST_REQUIRE(resolve_nodes("a:1,b:2", "c:3", xs, error));
  BOOST_TEST(xs.size() == 2u);
  BOOST_REQUIRE(resolve_nodes("", "c:3,d:4,e:5", xs, error));
  BOOST_TEST(xs.size() == 3u);
  BOOST_TEST(node_name(xs[2]) == "e:5");
  BOOST_REQUIRE(resolve_nodes("", nullptr, xs, error));
  BOOST_REQUIRE_EQUAL(xs.size(), 1u);
  BOOST_TEST(node_name(xs[0]) == "127.0.0.1:7415");
  BOOST_TEST(!resolve_nodes("a:1,,", nullptr, xs, error));
  BOOST_TEST(contains(error, "bad --node: entry 2"), error);
  BOOST_TEST(!resolve_nodes("", "", xs, error));
  BOOST_TEST(contains(error, "bad NODEWATCH_NODES: no node given"), error);
  BOOST_TEST(!resolve_nodes("", "x:1,x:1", xs, error));
  BOOST_TEST(contains(error, "NODEWATCH_NODES: node x:1 is given twice"),
             error);
}

// -- fan-out ------------------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(fan_out_merges_in_node_order, fixture) {
  add_node(at(1), {ev("a1", 1), ev("a2", 2)});
  add_node(at(2), {});
  add_node(at(3), {ev("c1", 7)});
  auto r = fan<events>({at(1), at(2), at(3)}, 2s, list_atom::value, selector{},
                       false);
  run();
  // Everyone answered: no time had to pass.
  BOOST_REQUIRE(r->has_value());
  auto& rs = **r;
  BOOST_REQUIRE_EQUAL(rs.size(), 3u);
  BOOST_TEST(rs[0].node == "10.0.0.1:1");
  BOOST_TEST(rs[1].node == "10.0.0.1:2");
  BOOST_TEST(rs[2].node == "10.0.0.1:3");
  BOOST_REQUIRE(rs[0].value && rs[1].value && rs[2].value);
  BOOST_TEST(ids_of(*rs[0].value) == (strings{"a1", "a2"}));
  BOOST_TEST(rs[1].value->empty());
  BOOST_TEST(ids_of(*rs[2].value) == (strings{"c1"}));
}

BOOST_FIXTURE_TEST_CASE(fan_out_reports_failed_nodes_and_keeps_the_rest,
                        fixture) {
  add_node(at(1), {ev("a1", 1)});
  auto [silent, silent_rec] = add_node(at(2), {ev("b1", 1)});
  silent_rec->silent = true;
  conn_rec->failing["10.0.0.1:3"]
    = caf::make_error(caf::sec::cannot_connect_to_node, "connection refused");
  conn_rec->silent.insert("10.0.0.1:4");
  auto [refusing, refusing_rec] = add_node(at(5));
  refusing_rec->refuse
    = make_error(errc::bad_input, "this agent runs without TC");
  add_node(at(6), {ev("f1", 3), ev("f2", 4)});
  // Port 7: nobody there at all.
  auto start = now();
  auto r = fan<events>({at(1), at(2), at(3), at(4), at(5), at(6), at(7)}, 2s,
                       list_atom::value, selector{}, false);
  run();
  BOOST_TEST(!r->has_value());
  advance(1999ms);
  BOOST_TEST(!r->has_value(), "done before the deadline");
  advance(1ms);
  BOOST_REQUIRE(r->has_value());
  BOOST_TEST((now() - start == 2s));
  auto& rs = **r;
  BOOST_REQUIRE_EQUAL(rs.size(), 7u);
  BOOST_REQUIRE(rs[0].value);
  BOOST_TEST(ids_of(*rs[0].value) == (strings{"a1"}));
  BOOST_REQUIRE(!rs[1].value);
  BOOST_TEST((rs[1].value.error() == caf::sec::request_timeout));
  BOOST_TEST(text_of(rs[1].value.error())
             == "request_timeout: node 10.0.0.1:2 did not answer within 2 s");
  BOOST_REQUIRE(!rs[2].value);
  BOOST_TEST((rs[2].value.error() == caf::sec::cannot_connect_to_node));
  BOOST_TEST(text_of(rs[2].value.error())
             == "cannot_connect_to_node: cannot reach node 10.0.0.1:3: "
                "connection refused");
  BOOST_REQUIRE(!rs[3].value);
  BOOST_TEST(text_of(rs[3].value.error())
             == "request_timeout: no connection to node 10.0.0.1:4 within 2 s");
  BOOST_REQUIRE(!rs[4].value);
  BOOST_TEST(test::code_of(rs[4].value.error()) == errc::bad_input);
  BOOST_TEST(text_of(rs[4].value.error())
             == "bad_input: node 10.0.0.1:5: this agent runs without TC");
  BOOST_REQUIRE(rs[5].value);
  BOOST_TEST(ids_of(*rs[5].value) == (strings{"f1", "f2"}));
  BOOST_REQUIRE(!rs[6].value);
  BOOST_TEST(text_of(rs[6].value.error())
             == "cannot_connect_to_node: cannot reach node 10.0.0.1:7");
}

BOOST_FIXTURE_TEST_CASE(fan_out_deadline_covers_connect_and_answer, fixture) {
  // The connect takes 1.5 s of the 2 s: the node has 0.5 s left to answer.
  auto [slow, slow_rec] = add_node(at(1), {ev("a1", 1)});
  slow_rec->silent = true;
  conn_rec->silent.insert("10.0.0.1:1");
  auto start = now();
  auto r = fan<node_status>({at(1)}, 2s, status_atom::value);
  run();
  advance(1500ms);
  BOOST_REQUIRE_EQUAL(conn_rec->held.size(), 1u);
  send(conn_h, answer_atom::value, node_actor{slow});
  run();
  BOOST_TEST(slow_rec->asked == 1u);
  advance(499ms);
  BOOST_TEST(!r->has_value());
  advance(1ms);
  BOOST_REQUIRE(r->has_value());
  BOOST_TEST((now() - start == 2s));
  BOOST_TEST(((**r)[0].value.error() == caf::sec::request_timeout));
}

BOOST_FIXTURE_TEST_CASE(fan_out_of_every_kind, fixture) {
  auto [a, a_rec] = add_node(at(1));
  a_rec->status.version = "1.2.3";
  a_rec->status.counters["registry_late"] = 4;
  auto [b, b_rec] = add_node(at(2));
  b_rec->status.version = "1.2.4";
  auto st = fan<node_status>({at(1), at(2)}, 1s, status_atom::value);
  auto net = fan<std::vector<net_stats>>({at(2), at(1)}, 1s, net_atom::value,
                                         selector{}, true);
  auto rings = fan<std::vector<traceloop_ring_info>>(
    {at(1)}, 1s, traceloop_atom::value, list_atom::value);
  auto none = fan<node_status>({}, 1s, status_atom::value);
  run();
  BOOST_REQUIRE(st->has_value() && net->has_value() && rings->has_value()
                && none->has_value());
  BOOST_TEST((**st)[0].value->version == "1.2.3");
  BOOST_TEST((**st)[0].value->counters.at("registry_late") == 4u);
  BOOST_TEST((**st)[1].value->version == "1.2.4");
  BOOST_TEST((**net)[0].node == "10.0.0.1:2");
  BOOST_TEST(static_cast<bool>((**net)[1].value));
  BOOST_TEST(static_cast<bool>((**rings)[0].value));
  BOOST_TEST((**none).empty());
}

// -- merged streams -----------------------------------------------------------

BOOST_FIXTURE_TEST_CASE(merged_stream_keeps_each_nodes_order, fixture) {
  for (uint64_t seed : {1u, 2u, 3u, 42u, 4711u})
    BOOST_TEST_CONTEXT("seed " << seed) {
      std::mt19937_64 rng{seed};
      auto a_at = at(static_cast<uint16_t>(100 + seed % 50));
      auto b_at = at(static_cast<uint16_t>(200 + seed % 50));
      auto [a, a_rec] = add_node(a_at, {ev("a0", 1)});
      auto [b, b_rec] = add_node(b_at, {ev("b0", 5), ev("b1", 6)});
      auto [h, rec] = stream({a_at, b_at});
      run_shuffled(rng);
      strings a_expect{"a0"};
      strings b_expect{"b0", "b1"};
      for (int i = 0; i < 20; ++i) {
        auto id_a = "a" + std::to_string(i + 1);
        auto id_b = "b" + std::to_string(i + 2);
        send(a, push_atom::value, ev(id_a, 2 + i));
        send(b, push_atom::value, ev(id_b, 7 + i));
        a_expect.push_back(id_a);
        b_expect.push_back(id_b);
        if (i % 3 == 0)
          run_shuffled(rng);
      }
      run_shuffled(rng);
      auto an = node_name(a_at);
      auto bn = node_name(b_at);
      BOOST_TEST(ids_of(rec->of(an)) == a_expect);
      BOOST_TEST(ids_of(rec->of(bn)) == b_expect);
      // The seqs come through unchanged.
      BOOST_TEST(rec->of(an)[3].seq == 4u);
      // The subscribed notice first, once per node; nothing else.
      BOOST_TEST(rec->trace(an).front() == "notice:subscribed");
      BOOST_TEST(rec->trace(bn).front() == "notice:subscribed");
      BOOST_TEST(rec->notices().size() == 2u);
      BOOST_TEST(rec->items.size() == 2u + a_expect.size() + b_expect.size());
      kill(h);
    }
}

BOOST_FIXTURE_TEST_CASE(a_node_that_dies_is_reported_and_reconnected, fixture) {
  auto a_at = at(1);
  auto b_at = at(2);
  auto an = node_name(a_at);
  auto bn = node_name(b_at);
  auto [a1, a1_rec] = add_node(a_at, {ev("a0", 1)});
  auto [b, b_rec] = add_node(b_at, {ev("b0", 1)});
  auto [h, rec] = stream({a_at, b_at});
  run();
  send(a1, push_atom::value, ev("a1", 2));
  run();
  BOOST_TEST(rec->trace(an)
             == (strings{"notice:subscribed", "ev:a0", "ev:a1"}));
  BOOST_TEST(conn_rec->calls_of(an).size() == 1u);

  // A dies; the connector cannot reach it for a while.
  conn_rec->failing[an]
    = caf::make_error(caf::sec::cannot_connect_to_node, "connection refused");
  kill(a1);
  auto died = now();
  BOOST_TEST(
    rec->trace(an)
    == (strings{"notice:subscribed", "ev:a0", "ev:a1", "notice:went_away"}));
  auto gone = rec->notices().back();
  BOOST_TEST((gone.retry_in == 500ms));
  BOOST_TEST(to_string(gone)
             == "node 10.0.0.1:1 went away (its agent stopped "
                "(user_shutdown)); events may have been missed; reconnecting "
                "in 0.5 s");

  // B goes on meanwhile.
  send(b, push_atom::value, ev("b1", 2));
  run();
  BOOST_TEST(ids_of(rec->of(bn)) == (strings{"b0", "b1"}));

  // Retries at 0.5 s, then 1 s, 2 s, 4 s after each failure.
  advance(499ms);
  BOOST_TEST(conn_rec->calls_of(an).size() == 1u);
  advance(1ms);
  BOOST_REQUIRE_EQUAL(conn_rec->calls_of(an).size(), 2u);
  BOOST_TEST((conn_rec->calls_of(an)[1] - died == 500ms));
  auto n = rec->notices().back();
  BOOST_TEST((n.kind == notice_kind::unreachable));
  BOOST_TEST((n.retry_in == 1s));
  BOOST_TEST(to_string(n)
             == "cannot subscribe to node 10.0.0.1:1 (cannot reach node "
                "10.0.0.1:1: connection refused); retrying in 1 s");
  advance(999ms);
  BOOST_TEST(conn_rec->calls_of(an).size() == 2u);
  advance(1ms);
  BOOST_REQUIRE_EQUAL(conn_rec->calls_of(an).size(), 3u);
  BOOST_TEST((rec->notices().back().retry_in == 2s));
  advance(2s);
  BOOST_REQUIRE_EQUAL(conn_rec->calls_of(an).size(), 4u);
  BOOST_TEST((rec->notices().back().retry_in == 4s));
  auto calls = conn_rec->calls_of(an);
  BOOST_TEST((calls[2] - calls[1] == 1s));
  BOOST_TEST((calls[3] - calls[2] == 2s));

  // A comes back (a new facade, its current set) before the next attempt.
  conn_rec->failing.erase(an);
  auto [a2, a2_rec] = add_node(a_at, {ev("a1", 2), ev("a2", 3)});
  advance(4s);
  BOOST_REQUIRE_EQUAL(conn_rec->calls_of(an).size(), 5u);
  BOOST_TEST((conn_rec->calls_of(an)[4] - calls[3] == 4s));
  send(a2, push_atom::value, ev("a3", 4));
  run();
  BOOST_TEST(rec->trace(an)
             == (strings{"notice:subscribed", "ev:a0", "ev:a1",
                         "notice:went_away", "notice:unreachable",
                         "notice:unreachable", "notice:unreachable",
                         "notice:back", "ev:a1", "ev:a2", "ev:a3"}));
  BOOST_TEST(to_string(rec->notices().back())
             == "node 10.0.0.1:1 is back; its current containers follow as "
                "added events; events between may have been missed");

  // Subscribed again: the back-off starts over at 0.5 s.
  kill(a2);
  auto died_again = now();
  BOOST_TEST((rec->notices().back().kind == notice_kind::went_away));
  BOOST_TEST((rec->notices().back().retry_in == 500ms));
  advance(500ms);
  BOOST_REQUIRE_EQUAL(conn_rec->calls_of(an).size(), 6u);
  BOOST_TEST((conn_rec->calls_of(an)[5] - died_again == 500ms));

  // B was never disturbed: one connect, one subscription, every event.
  BOOST_TEST(conn_rec->calls_of(bn).size() == 1u);
  BOOST_TEST(rec->trace(bn)
             == (strings{"notice:subscribed", "ev:b0", "ev:b1"}));
}

BOOST_FIXTURE_TEST_CASE(back_off_doubles_up_to_the_cap, fixture) {
  BOOST_TEST((backoff_delay(1, 500ms, 30s) == 500ms));
  BOOST_TEST((backoff_delay(2, 500ms, 30s) == 1s));
  BOOST_TEST((backoff_delay(3, 500ms, 30s) == 2s));
  BOOST_TEST((backoff_delay(7, 500ms, 30s) == 30s));
  BOOST_TEST((backoff_delay(1000, 500ms, 30s) == 30s));
  // A node unreachable from the start: retried at the same back-off, the
  // notices saying when.
  auto an = node_name(at(9));
  conn_rec->failing[an] = caf::make_error(caf::sec::cannot_connect_to_node);
  auto [h, rec] = stream({at(9)});
  run();
  advance(120s);
  std::vector<caf::timespan> waits;
  for (auto& n : rec->notices()) {
    BOOST_TEST((n.kind == notice_kind::unreachable));
    waits.push_back(n.retry_in);
  }
  auto calls = conn_rec->calls_of(an);
  // 0.5+1+2+4+8+16 = 31.5 s, then every 30 s: attempts at 0, 0.5, 1.5, 3.5,
  // 7.5, 15.5, 31.5, 61.5, 91.5 s.
  BOOST_REQUIRE_EQUAL(calls.size(), 9u);
  BOOST_TEST((calls[6] - calls[0] == 31500ms));
  BOOST_TEST((calls[8] - calls[7] == 30s));
  BOOST_REQUIRE(waits.size() >= 8u);
  BOOST_TEST((waits[0] == 500ms));
  BOOST_TEST((waits[5] == 16s));
  BOOST_TEST((waits[6] == 30s));
  // It succeeds later: subscribed, not "back" (it never had a stream).
  conn_rec->failing.erase(an);
  add_node(at(9), {ev("x", 1)});
  advance(30s);
  BOOST_TEST(rec->trace(an).back() == "ev:x");
  BOOST_TEST(rec->trace(an)[rec->trace(an).size() - 2] == "notice:subscribed");
}

BOOST_FIXTURE_TEST_CASE(connect_deadline, fixture) {
  stream_options opts;
  opts.connect_timeout = 5s;
  opts.subscribe_timeout = 3s;
  auto an = node_name(at(1));
  conn_rec->silent.insert(an);
  auto [h, rec] = stream({at(1)}, opts);
  run();
  advance(4999ms);
  BOOST_TEST(rec->notices().empty());
  advance(1ms);
  BOOST_REQUIRE_EQUAL(rec->notices().size(), 1u);
  BOOST_TEST(to_string(rec->notices()[0])
             == "cannot subscribe to node 10.0.0.1:1 (no connection to node "
                "10.0.0.1:1 within 5 s); retrying in 0.5 s");
  // A late answer to the timed-out connect is ignored.
  BOOST_REQUIRE_EQUAL(conn_rec->held.size(), 1u);
  send(conn_h, answer_atom::value, node_actor{});
  run();
  BOOST_TEST(rec->notices().size() == 1u);
  BOOST_TEST(rec->items.size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(subscribe_deadline, fixture) {
  stream_options opts;
  opts.subscribe_timeout = 3s;
  auto [a, a_rec] = add_node(at(1), {ev("a0", 1)});
  a_rec->silent_subscribe = true;
  auto before = sys.registry().running();
  auto [h, rec] = stream({at(1)}, opts);
  run();
  advance(2999ms);
  BOOST_TEST(rec->items.empty());
  advance(1ms);
  BOOST_REQUIRE_EQUAL(rec->notices().size(), 1u);
  BOOST_TEST(to_string(rec->notices()[0])
             == "cannot subscribe to node 10.0.0.1:1 (node 10.0.0.1:1 did "
                "not answer within 3 s); retrying in 0.5 s");
  // The link of the failed attempt is gone: the stream and its sink remain.
  BOOST_TEST(sys.registry().running() == before + 2);
  // The next attempt subscribes.
  a_rec->silent_subscribe = false;
  advance(500ms);
  BOOST_TEST(conn_rec->calls.size() == 2u);
  BOOST_TEST(rec->trace(node_name(at(1)))
             == (strings{"notice:unreachable", "notice:subscribed", "ev:a0"}));
}

BOOST_FIXTURE_TEST_CASE(stop_ends_every_per_node_sink, fixture) {
  auto [a, a_rec] = add_node(at(1), {ev("a0", 1)});
  auto [b, b_rec] = add_node(at(2), {ev("b0", 1)});
  auto before = sys.registry().running();
  auto [h, rec] = stream({at(1), at(2)});
  run();
  // The stream, the recording sink, one link per node.
  BOOST_TEST(sys.registry().running() == before + 4);
  BOOST_REQUIRE_EQUAL(a_rec->sinks.size(), 1u);
  kill(h);
  BOOST_TEST(sys.registry().running() == before + 1);
  // Events the facade still sends go nowhere.
  send(a, push_atom::value, ev("a1", 2));
  run();
  BOOST_TEST(rec->of(node_name(at(1))).size() == 1u);
  // Retries scheduled before the stop fire into the void.
  advance(60s);
  BOOST_TEST(conn_rec->calls.size() == 2u);
}

// -- merged output ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(json_lines_get_a_node_key_first) {
  BOOST_TEST(tag_json_lines("h:1", "{\"id\":\"x\"}\n{\"id\":\"y\"}\n")
             == "{\"node\":\"h:1\",\"id\":\"x\"}\n"
                "{\"node\":\"h:1\",\"id\":\"y\"}\n");
  BOOST_TEST(tag_json_lines("[::1]:7", "{}\n") == "{\"node\":\"[::1]:7\"}\n");
  BOOST_TEST(tag_json_lines("h\"1", "{\"a\":1}")
             == "{\"node\":\"h\\\"1\",\"a\":1}");
  BOOST_TEST(tag_json_lines("h:1", "") == "");
}

BOOST_AUTO_TEST_CASE(tables_get_a_node_column) {
  std::vector<endpoint> nodes{{"10.0.0.1", 7415}, {"b", 1}};
  auto w = node_column_width(nodes);
  BOOST_TEST(w == 15u);
  auto merged = merge_tables({{"10.0.0.1:7415", "ID  NAME\nx   web\ny   db\n"},
                              {"b:1", "ID  NAME\nz   api\n"}},
                             w);
  BOOST_TEST(merged
             == "NODE           ID  NAME\n"
                "10.0.0.1:7415  x   web\n"
                "10.0.0.1:7415  y   db\n"
                "b:1            z   api\n");
  BOOST_TEST(with_node_column("b:1", w, "TYPE\n") == "b:1            TYPE\n");
  // A header-only table (a node without containers) adds no rows.
  BOOST_TEST(merge_tables({{"b:1", "ID  NAME\n"}}, 6) == "NODE  ID  NAME\n");
}
