// The whole agent graph (nw::spawn_graph: registry, facade, printer, scripted
// edge, runtime watcher, pidfile watchers, termination) playing scripted
// scenarios on CAF's deterministic scheduler in virtual time: the bundled
// demo, the hold on a container's start (added before allowed, bounded by
// the fan-out and hold deadlines), detection failures, unwatched pidfiles,
// conmon names, pid reuse, exactly-once removal, seq order and byte-identical
// output across runs.
#define BOOST_TEST_MODULE scenario_simulation
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/agent/assembly.hpp"
#include "runtime/agent/output.hpp"
#include "runtime/kernel/scenario.hpp"
#include "runtime/kernel/scripted_edge.hpp"
#include "tests/support/coordinator_fixture.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

#ifndef NW_DEMO_SCENARIO
#  error "NW_DEMO_SCENARIO must name docs/scenarios/demo.jsonl"
#endif

using namespace nw;
using namespace std::chrono_literals;
using test::ack_mode;

namespace {

using strings = std::vector<std::string>;
using ms = std::chrono::milliseconds;

constexpr uint64_t start_ns = 1763932212000000000ull;

/// The mount namespace of the runtimes (the host's).
constexpr uint64_t host_mntns = 4026531841;

// -- writing scenarios --------------------------------------------------------

/// `s` as a JSON string literal.
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string bundle_of(const std::string& id) {
  return "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + id;
}

std::string pidfile_of(const std::string& id) {
  return bundle_of(id) + "/init.pid";
}

/// A scenario in the JSON lines encoding, one record per call.
class script {
public:
  explicit script(std::string name = "test") {
    add("{\"nodewatch_scenario\": 1, \"name\": " + q(name)
        + ", \"start_ns\": " + std::to_string(start_ns) + "}");
  }

  script& file(const std::string& path, const std::string& content) {
    return add("{\"kind\": \"file\", \"path\": " + q(path)
               + ", \"content\": " + q(content) + "}");
  }

  /// A plain config.json for `id` (no annotations, its own netns).
  script& config(const std::string& id) {
    return file(bundle_of(id) + "/config.json",
                "{\"ociVersion\": \"1.0.2\", \"annotations\": {}, \"linux\": "
                "{\"namespaces\": [{\"type\": \"mount\"}, {\"type\": "
                "\"network\"}]}}");
  }

  script& proc(uint32_t pid, uint64_t start_time, uint64_t mntns,
               uint64_t netns) {
    return add("{\"kind\": \"proc\", \"pid\": " + std::to_string(pid)
               + ", \"start_time\": " + std::to_string(start_time)
               + ", \"comm\": \"sh\", \"mntns\": " + std::to_string(mntns)
               + ", \"netns\": " + std::to_string(netns) + "}");
  }

  script& exec(uint64_t at_ms, uint32_t tid, const strings& argv,
               const std::string& caller = "containerd-shim") {
    std::string list;
    for (auto& x : argv)
      list += (list.empty() ? "" : ", ") + q(x);
    return add("{\"kind\": \"exec\", \"at_ms\": " + std::to_string(at_ms)
               + ", \"tid\": " + std::to_string(tid) + ", \"caller_comm\": "
               + q(caller) + ", \"mntns\": " + std::to_string(host_mntns)
               + ", \"argv\": [" + list + "]}");
  }

  /// `runc create` of `id` with the usual bundle and pidfile.
  script& create(uint64_t at_ms, const std::string& id,
                 const std::string& runtime = "runc") {
    return exec(at_ms, next_tid_++,
                {runtime, "--root", "/run/containerd/runc/k8s.io", "create",
                 "--bundle", bundle_of(id), "--pid-file", pidfile_of(id), id});
  }

  /// conmon announcing `id` under the manager's name `name`.
  script& conmon(uint64_t at_ms, const std::string& id,
                 const std::string& name) {
    return exec(at_ms, next_tid_++,
                {"/usr/bin/conmon", "--api-version", "1", "-c", id, "-u", id,
                 "-r", "/usr/bin/runc", "-b", bundle_of(id), "-p",
                 pidfile_of(id), "-n", name},
                "podman");
  }

  script& read(uint64_t at_ms, const std::string& path,
               const std::string& content) {
    return add("{\"kind\": \"pidfile_read\", \"at_ms\": "
               + std::to_string(at_ms) + ", \"path\": " + q(path)
               + ", \"content\": " + q(content) + "}");
  }

  /// The runtime reading the pidfile of `id`, which holds `pid`.
  script& read_pid(uint64_t at_ms, const std::string& id, uint32_t pid) {
    return read(at_ms, pidfile_of(id), std::to_string(pid) + "\n");
  }

  /// An exit; start_time 0 leaves the field out (any incarnation).
  script& exit(uint64_t at_ms, uint32_t pid, uint64_t start_time = 0) {
    std::string st;
    if (start_time != 0)
      st = ", \"start_time\": " + std::to_string(start_time);
    return add("{\"kind\": \"exit\", \"at_ms\": " + std::to_string(at_ms)
               + ", \"pid\": " + std::to_string(pid) + st + "}");
  }

  script& end(uint64_t at_ms) {
    return add("{\"kind\": \"end\", \"at_ms\": " + std::to_string(at_ms) + "}");
  }

  const std::string& text() const {
    return text_;
  }

private:
  script& add(const std::string& line) {
    text_ += line;
    text_ += '\n';
    return *this;
  }

  std::string text_;
  uint32_t next_tid_ = 3000;
};

std::shared_ptr<scenario> parse(const std::string& text) {
  auto sc = std::make_shared<scenario>();
  std::string error;
  BOOST_REQUIRE_MESSAGE(parse_scenario(text, *sc, error), error);
  return sc;
}

std::shared_ptr<scenario> load_demo() {
  auto sc = std::make_shared<scenario>();
  std::string error;
  BOOST_REQUIRE_MESSAGE(load_scenario(NW_DEMO_SCENARIO, *sc, error), error);
  return sc;
}

// -- the fixture --------------------------------------------------------------

/// One agent graph on the test coordinator. `stall(h)` keeps an actor from
/// running (its mailbox fills), for every helper here.
struct sim : test::coordinator_fixture {
  graph g;
  std::shared_ptr<const scenario> script_;
  std::vector<std::string> lines;
  bool ended = false;
  time_point t0;
  caf::resumable* stalled = nullptr;

  ~sim() override {
    // Drain the timeline and every timer (pending pidfile watchers expire
    // and quit by themselves), then end the graph.
    stalled = nullptr;
    if (g.registry) {
      run_to_end();
      g.shutdown();
      run();
    }
  }

  /// Spawns the graph for `sc`; events are printed into `lines`.
  void start(std::shared_ptr<const scenario> sc,
             output_format fmt = output_format::json,
             ms hold_deadline = 2000ms) {
    script_ = std::move(sc);
    t0 = now();
    graph_options opts;
    opts.script = script_;
    opts.hold_deadline = hold_deadline;
    opts.realtime_ns = [this] {
      return script_->start_ns
             + static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::nanoseconds>(now() - t0)
                 .count());
    };
    opts.print = true;
    opts.fmt = fmt;
    opts.out = [this](const std::string& line) { lines.push_back(line); };
    opts.on_end = [this] { ended = true; };
    g = *spawn_graph(sys, opts);
    go(); // the printer and termination subscribe
  }

  /// Starts the timeline at the current virtual time ("0 ms").
  void play() {
    g.play();
    go();
  }

  /// Virtual milliseconds since start().
  int64_t at() const {
    return std::chrono::duration_cast<ms>(now() - t0).count();
  }

  /// Advances virtual time to `t` ms after start().
  void advance_to(int64_t t) {
    BOOST_REQUIRE_GE(t, at());
    wait(ms{t - at()});
  }

  // -- running, minus the stalled actor ---------------------------------------

  template <class Handle>
  void stall(const Handle& h) {
    stalled
      = dynamic_cast<caf::resumable*>(caf::actor_cast<caf::abstract_actor*>(h));
    BOOST_REQUIRE(stalled != nullptr);
  }

  void unstall() {
    stalled = nullptr;
    run();
  }

  size_t go() {
    if (!stalled)
      return run();
    auto s = stalled;
    return sched.run_jobs_filtered(
      [s](caf::resumable* job) { return job != s; });
  }

  /// As coordinator_fixture::advance, but never runs the stalled actor.
  void wait(caf::timespan d) {
    auto& clk = sched.clock();
    auto target = clk.now() + d;
    go();
    for (;;) {
      auto& pending = clk.schedule();
      if (pending.empty() || pending.begin()->first > target)
        break;
      auto due = pending.begin()->first;
      clk.advance_time(due > clk.now() ? due - clk.now() : caf::timespan{0});
      go();
    }
    if (target > clk.now())
      clk.advance_time(target - clk.now());
    go();
  }

  /// Plays everything that is left: every message, every timer.
  void run_to_end() {
    do
      run();
    while (sched.trigger_timeout());
  }

  // -- observing --------------------------------------------------------------

  /// A stand-in subscriber on the graph's registry, subscribed now.
  test::stand_in_subscriber subscribe(ack_mode mode = ack_mode::now) {
    auto sub = spawn_subscriber(mode);
    auto snap = request<std::vector<container_event>>(
      g.registry, subscribe_atom::value, selector{}, sub.as_subscriber());
    go();
    BOOST_REQUIRE(snap->ok());
    return sub;
  }

  template <class Handle>
  counters counters_of(const Handle& h) {
    auto r = request<counters>(h, get_atom::value, counters_atom::value);
    go();
    BOOST_REQUIRE_MESSAGE(r->ok(), "no counters");
    return std::get<0>(*r->values);
  }

  uint64_t edge(const std::string& name) {
    auto all = counters_of(g.edge);
    BOOST_REQUIRE_MESSAGE(all.count(name) == 1, "no counter " << name);
    return all.at(name);
  }

  uint64_t reg(const std::string& name) {
    auto all = counters_of(g.registry);
    BOOST_REQUIRE_MESSAGE(all.count(name) == 1, "no counter " << name);
    return all.at(name);
  }

  /// Held events not answered yet.
  int64_t holding() {
    auto all = counters_of(g.edge);
    return static_cast<int64_t>(all.at("edge_held"))
           - static_cast<int64_t>(all.at("edge_allowed"))
           - static_cast<int64_t>(all.at("edge_hold_deadline_expired"));
  }

  std::vector<container_event> list(bool all = true) {
    auto r = request<std::vector<container_event>>(g.node, list_atom::value,
                                                   selector{}, all);
    go();
    BOOST_REQUIRE(r->ok());
    return std::get<0>(*r->values);
  }

  strings listed_ids(bool all = true) {
    strings result;
    for (auto& ev : list(all))
      result.push_back(ev.info->id);
    return result;
  }

  /// ts_ns of virtual time `t_ms` after start.
  static uint64_t ts(uint64_t t_ms) {
    return start_ns + t_ms * 1000000ull;
  }
};

std::vector<event_kind> kinds_of(const std::vector<container_event>& xs) {
  std::vector<event_kind> result;
  for (auto& x : xs)
    result.push_back(x.kind);
  return result;
}

strings ids_of(const std::vector<container_event>& xs) {
  strings result;
  for (auto& x : xs)
    result.push_back(x.info->id);
  return result;
}

using k = event_kind;

/// A scenario touching every path: a k8s sandbox and container, a podman
/// container named by conmon, failures, an unwatched read, pid reuse.
std::string busy_scenario() {
  script s{"busy"};
  s.config("aaa1").config("bbb2").config("ccc3").config("ddd4").config("eee5");
  s.proc(500, 7000, 4026532500, 4026532600)
    .proc(501, 7001, 4026532501, 4026532600)
    .proc(502, 7002, 4026532502, 4026532602)
    .proc(503, 7003, host_mntns, 4026532603);
  s.create(10, "aaa1").read_pid(15, "aaa1", 500);
  s.conmon(20, "bbb2", "named-bbb2").create(22, "bbb2");
  s.read_pid(30, "bbb2", 501);
  s.read(31, "/run/not/watched.pid", "42\n");
  s.create(40, "ccc3").create(41, "ddd4").create(42, "eee5");
  s.read_pid(45, "ccc3", 502).read_pid(46, "ddd4", 503);
  s.read(47, pidfile_of("fff6"), "garbage");
  s.exit(100, 501, 9999).exit(110, 500).exit(120, 501, 7001).exit(130, 500);
  s.end(20000);
  return s.text();
}

/// Plays `sc` to its end on a fresh actor system; returns the printed lines.
strings run_once(const std::shared_ptr<scenario>& sc, output_format fmt) {
  sim f;
  f.start(sc, fmt);
  f.play();
  f.run_to_end();
  BOOST_TEST(f.ended);
  return f.lines;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(simulation, sim)

// -- the bundled demo ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(the_demo_gives_the_expected_events) {
  auto sc = load_demo();
  start(sc);
  auto sub = subscribe();
  play();
  run_to_end();
  BOOST_TEST(ended);
  const std::string sandbox_id
    = "5e1f0c2a9b7d4e3f8a6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a";
  const std::string nginx_id
    = "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc";
  const std::string podman_id
    = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
  const std::string failed_id
    = "deadbeef00112233445566778899aabbccddeeff00112233445566778899aabb";
  auto& evs = sub->events;
  BOOST_TEST(
    kinds_of(evs)
      == std::vector<event_kind>({k::added, k::added, k::added,
                                  k::detection_failed, k::removed, k::removed}),
    boost::test_tools::per_element());
  BOOST_TEST(ids_of(evs)
               == strings({sandbox_id, nginx_id, podman_id, failed_id, nginx_id,
                           podman_id}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(evs.size(), 6u);
  // seq 1..6; ts_ns from the virtual clock at the pidfile reads and exits.
  std::vector<uint64_t> at_ms{24, 131, 219, 312, 1500, 1800};
  for (size_t i = 0; i < evs.size(); ++i) {
    BOOST_TEST_CONTEXT("event " << i) {
      BOOST_TEST(evs[i].seq == i + 1);
      BOOST_TEST(evs[i].ts_ns == ts(at_ms[i]));
    }
  }
  // The pod's sandbox: k8s identity from the annotations, named by its id.
  const auto& sandbox = *evs[0].info;
  BOOST_TEST(sandbox.sandbox);
  BOOST_TEST(sandbox.held);
  BOOST_TEST(!sandbox.initial);
  BOOST_TEST(sandbox.name == sandbox_id);
  BOOST_TEST(sandbox.pid == 4101u);
  BOOST_TEST(sandbox.start_time == 880011u);
  BOOST_TEST(sandbox.mntns == 4026532291u);
  BOOST_TEST(sandbox.netns == 4026532294u);
  BOOST_TEST(sandbox.runtime == "runc");
  BOOST_TEST(sandbox.bundle == bundle_of(sandbox_id));
  BOOST_TEST(sandbox.k8s.namespace_ == "shop");
  BOOST_TEST(sandbox.k8s.pod == "web-7d9f");
  BOOST_TEST(sandbox.k8s.container == "");
  BOOST_TEST(sandbox.k8s.pod_uid == "0b6c1e1e-2f0e-4b8e-9d61-3c1f0c7f5a10");
  // The pod's container: named by the k8s annotation, sharing the netns.
  const auto& nginx = *evs[1].info;
  BOOST_TEST(!nginx.sandbox);
  BOOST_TEST(nginx.held);
  BOOST_TEST(nginx.name == "nginx");
  BOOST_TEST(nginx.k8s.container == "nginx");
  BOOST_TEST(nginx.k8s.pod == "web-7d9f");
  BOOST_TEST(nginx.pid == 4102u);
  BOOST_TEST(nginx.mntns == 4026532301u);
  BOOST_TEST(nginx.netns == sandbox.netns);
  // podman: named by conmon's -n, no k8s identity, the host's network.
  const auto& podman = *evs[2].info;
  BOOST_TEST(podman.name == "quirky_hopper");
  BOOST_TEST(podman.pid == 4200u);
  BOOST_TEST(podman.k8s.namespace_ == "");
  BOOST_TEST(podman.host_network);
  BOOST_TEST(podman.annotations.count("io.container.manager") == 1u);
  BOOST_TEST(contains(podman.bundle, "/userdata"));
  // The failed create: a pidfile that is no pid.
  BOOST_TEST(evs[3].info->name == failed_id);
  BOOST_TEST(!evs[3].info->held);
  BOOST_TEST(evs[3].info->pid == 0u);
  BOOST_TEST(contains(evs[3].reason, "pidfile"), evs[3].reason);
  // Removal carries the record as it was added.
  BOOST_TEST(evs[4].info == nginx);
  BOOST_TEST(evs[5].info == podman);

  // The printer printed exactly these events, as JSON lines.
  BOOST_REQUIRE_EQUAL(lines.size(), evs.size());
  for (size_t i = 0; i < lines.size(); ++i)
    BOOST_TEST(lines[i] == format_event(evs[i], output_format::json));
  BOOST_TEST(contains(lines[0], "{\"type\":\"added\",\"seq\":1,"), lines[0]);
  BOOST_TEST(contains(lines[3], "\"reason\":"), lines[3]);

  // What is left: the sandbox only, hidden unless `all`.
  BOOST_TEST(listed_ids(true) == strings({sandbox_id}),
             boost::test_tools::per_element());
  BOOST_TEST(listed_ids(false).empty());

  // Every held event answered by its owner, none by the backstop.
  auto e = counters_of(g.edge);
  BOOST_TEST(e.at("edge_held") == 8u); // 4 creates + 4 pidfile reads
  BOOST_TEST(e.at("edge_allowed") == 8u);
  BOOST_TEST(e.at("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(e.at("edge_pidfile_reads_unwatched") == 0u);
  BOOST_TEST(e.at("edge_exits_delivered") == 2u);
  auto r = counters_of(g.registry);
  BOOST_TEST(r.at("registry_added") == 3u);
  BOOST_TEST(r.at("registry_removed") == 2u);
  BOOST_TEST(r.at("registry_detection_failed") == 1u);
  BOOST_TEST(r.at("registry_late_acks") == 0u);
}

BOOST_AUTO_TEST_CASE(the_demo_prints_the_same_bytes_twice) {
  for (auto fmt : {output_format::json, output_format::table}) {
    auto first = run_once(load_demo(), fmt);
    auto second = run_once(load_demo(), fmt);
    BOOST_TEST(first.size() == (fmt == output_format::json ? 6u : 7u));
    BOOST_TEST(first == second, boost::test_tools::per_element());
  }
}

// -- the hold on a container's start ------------------------------------------

BOOST_AUTO_TEST_CASE(the_container_is_added_before_its_start_is_allowed) {
  script s;
  s.config("app1").proc(500, 7000, 4026532500, 4026532600);
  s.create(10, "app1").read_pid(20, "app1", 500).end(100);
  start(parse(s.text()));
  auto sub = subscribe(ack_mode::later);
  play();
  advance_to(19);
  // The exec was answered at once (argv is already in the message).
  BOOST_TEST(edge("edge_held") == 1u);
  BOOST_TEST(edge("edge_allowed") == 1u);
  advance_to(20);
  // The pidfile read is held; the container exists already and every
  // subscriber but one has it.
  BOOST_TEST(edge("edge_held") == 2u);
  BOOST_TEST(edge("edge_allowed") == 1u);
  BOOST_TEST(holding() == 1);
  BOOST_REQUIRE_EQUAL(sub->events.size(), 1u);
  BOOST_TEST(sub->events[0].kind == event_kind::added);
  BOOST_TEST(sub->events[0].info->id == "app1");
  BOOST_TEST(sub->events[0].info->held);
  BOOST_TEST(listed_ids() == strings({"app1"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(lines.size(), 1u); // printed already
  // The last subscriber acks: only now is the start allowed, at once.
  release(sub);
  BOOST_TEST(at() == 20);
  BOOST_TEST(edge("edge_allowed") == 2u);
  BOOST_TEST(holding() == 0);
  advance_to(5000);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(reg("registry_late_acks") == 0u);
}

BOOST_AUTO_TEST_CASE(
  a_stalled_subscriber_holds_the_start_until_the_fanout_deadline) {
  for (int64_t hold : {2000, 1000, 400}) {
    BOOST_TEST_CONTEXT("hold deadline " << hold << " ms") {
      sim f;
      script s;
      s.config("app1").proc(500, 7000, 4026532500, 4026532600);
      s.create(10, "app1").read_pid(20, "app1", 500).end(100);
      f.start(parse(s.text()), output_format::json, ms{hold});
      auto sub = f.subscribe(ack_mode::stall);
      f.play();
      f.advance_to(20);
      BOOST_TEST(f.edge("edge_held") == 2u);
      BOOST_TEST(f.holding() == 1);
      BOOST_TEST(sub->events.size() == 1u);
      // Held for the whole fan-out deadline: hold - 250 ms ...
      auto fanout = hold - 250;
      f.advance_to(20 + fanout - 1);
      BOOST_TEST(f.holding() == 1, "allowed before the fan-out deadline");
      // ... and allowed by its owner right then, within the hold deadline.
      f.advance_to(20 + fanout);
      BOOST_TEST(f.holding() == 0, "still held after the fan-out deadline");
      BOOST_TEST(f.edge("edge_allowed") == 2u);
      f.advance_to(20 + hold + 1);
      BOOST_TEST(f.edge("edge_hold_deadline_expired") == 0u);
      BOOST_TEST(f.reg("registry_late_acks") == 1u);
      BOOST_TEST(f.listed_ids() == strings({"app1"}),
                 boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_stuck_registry_never_holds_the_start_past_the_deadline) {
  script s;
  s.config("app1").proc(500, 7000, 4026532500, 4026532600);
  s.create(10, "app1").read_pid(20, "app1", 500).end(100);
  start(parse(s.text()));
  stall(g.registry);
  play();
  advance_to(20);
  BOOST_TEST(holding() == 1);
  // The registry never answers the add: the watcher's own timeout
  // (fan-out deadline + 150 ms) answers the held read, before the backstop.
  advance_to(20 + 1900 - 1);
  BOOST_TEST(holding() == 1);
  advance_to(20 + 1900);
  BOOST_TEST(holding() == 0, "held past the watcher's add timeout");
  BOOST_TEST(edge("edge_allowed") == 2u);
  advance_to(20 + 2000);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  unstall();
}

BOOST_AUTO_TEST_CASE(
  a_read_late_in_the_pending_window_is_not_expired_meanwhile) {
  // The pidfile is read 1 s before the 15 s pending timeout, and the add
  // then takes its full fan-out deadline (a stalled subscriber): the watch
  // is no longer pending, so the expiry must not fire into the add.
  script s;
  s.config("late1").proc(500, 7000, 4026532500, 4026532600);
  s.create(10, "late1").read_pid(14010, "late1", 500).end(20000);
  start(parse(s.text()));
  auto sub = subscribe(ack_mode::stall);
  play();
  advance_to(14010);
  BOOST_TEST(holding() == 1);
  BOOST_TEST(sub->events.size() == 1u);
  advance_to(14010 + 1750);
  BOOST_CHECK_MESSAGE(holding() == 0,
                      "the pidfile read is not allowed at the fan-out "
                      "deadline: the watcher expired meanwhile");
  advance_to(14010 + 2000);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(reg("registry_detection_failed") == 0u);
  BOOST_TEST(kinds_of(sub->events) == std::vector<event_kind>({k::added}),
             boost::test_tools::per_element());
  BOOST_TEST(listed_ids() == strings({"late1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_expiring_watch_does_not_unwatch_a_retried_create) {
  // podman retries a create whose first attempt never got to its pidfile:
  // same id, same pidfile path. The first watcher's expiry must not take
  // the second one's watch, or the retried container starts undetected.
  script s;
  s.config("retry").proc(500, 7000, 4026532500, 4026532600);
  s.create(0, "retry");     // attempt 1: never reads its pidfile
  s.create(14980, "retry"); // attempt 2, 20 ms before attempt 1 expires
  s.read_pid(15010, "retry", 500);
  s.end(40000);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(15000);
  // Attempt 1 failed, and says so.
  BOOST_TEST(kinds_of(sub->events)
               == std::vector<event_kind>({k::detection_failed}),
             boost::test_tools::per_element());
  advance_to(15010);
  BOOST_CHECK_MESSAGE(edge("edge_pidfile_reads_unwatched") == 0u,
                      "the retried create's pidfile read was not watched: "
                      "the first watcher's unwatch removed the second's watch");
  BOOST_TEST(kinds_of(sub->events)
               == std::vector<event_kind>({k::detection_failed, k::added}),
             boost::test_tools::per_element());
  BOOST_TEST(listed_ids() == strings({"retry"}),
             boost::test_tools::per_element());
  run_to_end();
  BOOST_TEST(reg("registry_detection_failed") == 1u);
}

// -- detection failures -------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_pidfile_never_read_fails_after_15_s_and_is_unwatched) {
  script s;
  s.config("ghost").proc(500, 7000, 4026532500, 4026532600);
  s.create(10, "ghost");
  s.read_pid(15010 + 990, "ghost", 500); // too late: nobody watches it now
  s.end(20000);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(10 + 15000 - 1);
  BOOST_TEST(sub->events.empty());
  advance_to(10 + 15000);
  BOOST_REQUIRE_EQUAL(sub->events.size(), 1u);
  auto& ev = sub->events[0];
  BOOST_TEST(ev.kind == event_kind::detection_failed);
  BOOST_TEST(ev.info->id == "ghost");
  BOOST_TEST(ev.info->name == "ghost");
  BOOST_TEST(ev.info->runtime == "runc");
  BOOST_TEST(ev.info->bundle == bundle_of("ghost"));
  BOOST_TEST(ev.ts_ns == ts(10 + 15000));
  BOOST_TEST(contains(ev.reason, pidfile_of("ghost")), ev.reason);
  BOOST_TEST(contains(ev.reason, "15000 ms"), ev.reason);
  // The watch is gone: the late read is not held, only counted.
  advance_to(16000);
  BOOST_TEST(edge("edge_pidfile_reads_unwatched") == 1u);
  BOOST_TEST(edge("edge_held") == 1u); // the exec only
  BOOST_TEST(holding() == 0);
  BOOST_TEST(sub->events.size() == 1u);
  BOOST_TEST(listed_ids().empty());
  BOOST_TEST(reg("registry_detection_failed") == 1u);
  BOOST_TEST(reg("registry_added") == 0u);
}

BOOST_AUTO_TEST_CASE(a_pid_in_the_runtimes_mount_namespace_fails_detection) {
  script s;
  s.config("same").proc(600, 7000, host_mntns, 4026532600);
  s.create(10, "same").read_pid(20, "same", 600).end(100);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(20);
  BOOST_REQUIRE_EQUAL(sub->events.size(), 1u);
  auto& ev = sub->events[0];
  BOOST_TEST(ev.kind == event_kind::detection_failed);
  BOOST_TEST(ev.info->id == "same");
  BOOST_TEST(ev.reason == "pid 600 shares the runtime's mount namespace");
  BOOST_TEST(ev.ts_ns == ts(20));
  // Answered at once by its owner.
  BOOST_TEST(edge("edge_held") == 2u);
  BOOST_TEST(edge("edge_allowed") == 2u);
  BOOST_TEST(listed_ids().empty());
  advance_to(3000);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(reg("registry_added") == 0u);
}

BOOST_AUTO_TEST_CASE(a_read_of_an_unwatched_pidfile_is_allowed_at_once) {
  script s;
  s.config("app1").proc(500, 7000, 4026532500, 4026532600);
  s.read(5, "/run/elsewhere/init.pid", "500\n");
  s.create(10, "app1");
  s.read(12, "/run/elsewhere/init.pid", "500\n");
  s.read_pid(20, "app1", 500);
  s.end(100);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(5);
  BOOST_TEST(edge("edge_pidfile_reads_unwatched") == 1u);
  BOOST_TEST(edge("edge_held") == 0u);
  advance_to(12);
  BOOST_TEST(edge("edge_pidfile_reads_unwatched") == 2u);
  BOOST_TEST(edge("edge_held") == 1u); // the exec
  BOOST_TEST(sub->events.empty());
  advance_to(20);
  BOOST_TEST(ids_of(sub->events) == strings({"app1"}),
             boost::test_tools::per_element());
  BOOST_TEST(edge("edge_held") == 2u);
  BOOST_TEST(edge("edge_allowed") == 2u);
  BOOST_TEST(edge("edge_pidfile_reads_unwatched") == 2u);
}

BOOST_AUTO_TEST_CASE(runcs_re_exec_and_other_subcommands_are_allowed_at_once) {
  // runc re-executes itself as /proc/self/exe (init, nsexec); `start` and
  // `delete` are runtime execs too. None is held past its argv, none is a
  // container.
  script s;
  s.exec(5, 900, {"/proc/self/exe", "init"});
  s.exec(6, 901, {"runc", "--root", "/run/runc", "start", "app1"});
  s.exec(7, 902, {"runc", "delete", "app1"});
  s.exec(8, 903,
         {"runc", "create", "--bundle", "/b/x", "--pid-file", "/b/x/pid",
          "../etc"}); // an id that is a path: rejected
  s.end(100);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(100);
  // Only the create is held (and allowed once its argv is rejected).
  BOOST_TEST(edge("edge_held") == 1u);
  BOOST_TEST(edge("edge_allowed") == 1u);
  BOOST_TEST(edge("edge_allowed_at_read") == 3u);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(sub->events.empty());
}

// -- names --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cruns_re_exec_of_a_create_is_the_same_create) {
  // crun re-executes itself (execveat of /proc/self/exe) with the same argv,
  // from the same thread: one create, one watcher, one `added`, and no
  // `detection_failed` when the second exec's watch would have expired.
  script s;
  s.config("app1").proc(500, 7000, 4026532500, 4026532600);
  std::vector<std::string> argv{
    "crun",       "--root",           "/run/crun",
    "create",     "--bundle",         bundle_of("app1"),
    "--pid-file", pidfile_of("app1"), "app1"};
  s.exec(10, 77, argv, "containerd-shim");
  s.exec(11, 77, argv, "crun");
  s.read_pid(20, "app1", 500).end(30000);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(30000);
  BOOST_REQUIRE_EQUAL(sub->events.size(), 1u);
  BOOST_TEST(sub->events[0].kind == event_kind::added);
  BOOST_TEST(sub->events[0].info->runtime == "crun");
  BOOST_TEST(edge("edge_held") == 3u); // both execs, the read
  BOOST_TEST(edge("edge_allowed") == 3u);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
}

BOOST_AUTO_TEST_CASE(conmons_name_goes_to_the_create_of_its_id) {
  script s;
  for (auto id : {"pod1", "pod2", "pod3", "pod4"})
    s.config(id);
  s.proc(501, 7001, 4026532501, 4026532601)
    .proc(502, 7002, 4026532502, 4026532602)
    .proc(503, 7003, 4026532503, 4026532603)
    .proc(504, 7004, 4026532504, 4026532604);
  s.conmon(10, "pod1", "friendly_one").create(12, "pod1");
  s.read_pid(14, "pod1", 501);
  // A create without a conmon keeps its id as the name.
  s.create(20, "pod2").read_pid(22, "pod2", 502);
  // conmon for pod3 first; the next create is pod4's, which must not take
  // pod3's name.
  s.conmon(30, "pod3", "friendly_three").create(32, "pod4");
  s.read_pid(34, "pod4", 504);
  s.create(40, "pod3").read_pid(42, "pod3", 503);
  s.end(100);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  run_to_end();
  BOOST_TEST(ids_of(sub->events) == strings({"pod1", "pod2", "pod4", "pod3"}),
             boost::test_tools::per_element());
  strings names;
  for (auto& ev : sub->events)
    names.push_back(ev.info->name);
  BOOST_TEST(names
               == strings({"friendly_one", "pod2", "pod4", "friendly_three"}),
             boost::test_tools::per_element());
}

// -- termination --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(pid_reuse_does_not_remove_the_container) {
  script s;
  s.config("app1").proc(700, 5000, 4026532700, 4026532800);
  s.create(10, "app1").read_pid(20, "app1", 700);
  s.exit(100, 700, 9999); // another process that got pid 700
  s.exit(200, 700, 5000); // the container's init
  s.exit(300, 700);       // again: nothing is watched any more
  s.exit(310, 700, 5000);
  s.end(400);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  advance_to(100);
  BOOST_TEST(kinds_of(sub->events) == std::vector<event_kind>({k::added}),
             boost::test_tools::per_element());
  BOOST_TEST(listed_ids() == strings({"app1"}),
             boost::test_tools::per_element());
  BOOST_TEST(edge("edge_exits_delivered") == 0u);
  advance_to(200);
  BOOST_TEST(kinds_of(sub->events)
               == std::vector<event_kind>({k::added, k::removed}),
             boost::test_tools::per_element());
  BOOST_TEST(sub->events.back().ts_ns == ts(200));
  BOOST_TEST(sub->events.back().info->start_time == 5000u);
  BOOST_TEST(listed_ids().empty());
  run_to_end();
  // Exactly one `removed`, however many exits follow.
  BOOST_TEST(sub->of_kind(k::removed).size() == 1u);
  BOOST_TEST(reg("registry_removed") == 1u);
  BOOST_TEST(edge("edge_exits_delivered") == 1u);
  BOOST_TEST(lines.size() == 2u);
}

BOOST_AUTO_TEST_CASE(removal_publishes_exactly_one_removed) {
  script s;
  s.config("a1").config("b2");
  s.proc(801, 1, 4026532801, 4026532900).proc(802, 2, 4026532802, 4026532900);
  s.create(10, "a1").read_pid(11, "a1", 801);
  s.create(20, "b2").read_pid(21, "b2", 802);
  // Both at the same instant, each twice.
  s.exit(50, 801).exit(50, 802).exit(50, 801, 1).exit(50, 802);
  s.end(60);
  start(parse(s.text()));
  auto sub = subscribe();
  play();
  run_to_end();
  BOOST_TEST(
    kinds_of(sub->events)
      == std::vector<event_kind>({k::added, k::added, k::removed, k::removed}),
    boost::test_tools::per_element());
  BOOST_TEST(ids_of(sub->of_kind(k::removed)) == strings({"a1", "b2"}),
             boost::test_tools::per_element());
  BOOST_TEST(reg("registry_removed") == 2u);
}

// -- the whole stream ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_busy_scenario_gives_strictly_increasing_seqs) {
  start(parse(busy_scenario()));
  auto sub = subscribe();
  play();
  run_to_end();
  BOOST_TEST(ended);
  auto& evs = sub->events;
  BOOST_REQUIRE(!evs.empty());
  BOOST_TEST(evs.front().seq == 1u);
  for (size_t i = 1; i < evs.size(); ++i)
    BOOST_TEST(evs[i].seq > evs[i - 1].seq, "event " << i);
  for (size_t i = 1; i < evs.size(); ++i)
    BOOST_TEST(evs[i].ts_ns >= evs[i - 1].ts_ns, "event " << i);
  // What happened, in order: aaa1 and bbb2 (named by conmon) added; ccc3
  // added, ddd4 in the runtime's mntns; eee5 never read; the pid-reuse exit
  // of 501 ignored, the real ones remove bbb2 and aaa1 once each.
  strings summary;
  for (auto& ev : evs)
    summary.push_back(std::string{to_string(ev.kind)} + " " + ev.info->id + " "
                      + ev.info->name);
  BOOST_TEST(
    summary
      == strings({"added aaa1 aaa1", "added bbb2 named-bbb2", "added ccc3 ccc3",
                  "detection_failed ddd4 ddd4", "removed aaa1 aaa1",
                  "removed bbb2 named-bbb2", "detection_failed eee5 eee5"}),
    boost::test_tools::per_element());
  BOOST_TEST(lines.size() == evs.size());
  BOOST_TEST(edge("edge_pidfile_reads_unwatched") == 2u);
  BOOST_TEST(edge("edge_hold_deadline_expired") == 0u);
  BOOST_TEST(holding() == 0);
}

BOOST_AUTO_TEST_CASE(the_same_scenario_prints_the_same_bytes) {
  auto sc = parse(busy_scenario());
  for (auto fmt : {output_format::json, output_format::table}) {
    auto first = run_once(sc, fmt);
    auto second = run_once(sc, fmt);
    BOOST_TEST(!first.empty());
    BOOST_TEST(first == second, boost::test_tools::per_element());
    std::string a, b;
    for (auto& x : first)
      a += x;
    for (auto& x : second)
      b += x;
    BOOST_TEST((a == b));
  }
}

BOOST_AUTO_TEST_SUITE_END()
