// The start-up scan on the scripted kernel, in virtual time: scenarios whose
// `dir` and `file` records lay out runtime state roots (runc's, containerd's
// namespaced runc roots, crun's) and whose `proc` records say which inits
// still run. Containers found are `added` with initial=true, held=false
// before any live event; bad state files, dead or reused pids and shared
// mount namespaces are skipped and counted; a container both scanned and
// seen live is added once.
#define BOOST_TEST_MODULE initial_scan_simulation
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/initial_scan/initial_scan.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/kernel/scenario.hpp"
#include "tests/support/coordinator_fixture.hpp"

using namespace nw;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

constexpr uint64_t start_ns = 1763932212000000000ull;

/// The host's mount namespace: pid 1's, and the runtimes'.
constexpr uint64_t host_mntns = 4026531841;

/// A scenario in JSON lines, one record per call (nlohmann builds them).
class script {
public:
  script() {
    add({{"nodewatch_scenario", 1}, {"name", "scan"}, {"start_ns", start_ns}});
    proc(1, 1, host_mntns, 4026531840);
  }

  script& file(const std::string& path, const std::string& content) {
    return add({{"kind", "file"}, {"path", path}, {"content", content}});
  }

  script& dir(const std::string& path, const std::vector<std::string>& xs) {
    return add({{"kind", "dir"}, {"path", path}, {"entries", xs}});
  }

  script& proc(uint32_t pid, uint64_t start_time, uint64_t mntns,
               uint64_t netns) {
    return add({{"kind", "proc"},
                {"pid", pid},
                {"start_time", start_time},
                {"mntns", mntns},
                {"netns", netns}});
  }

  /// runc's state.json for `id` in `root`, its bundle /b/ID with a
  /// config.json (annotations given), and a live init.
  script& runc(const std::string& root, const std::string& id, uint32_t pid,
               uint64_t start_time, const json& annotations = json::object()) {
    json st = {{"id", id},
               {"init_process_pid", pid},
               {"init_process_start", start_time},
               {"created", "2026-11-24T00:00:00Z"},
               {"config", {{"labels", {"a=b", "bundle=/b/" + id}}}}};
    file(root + "/" + id + "/state.json", st.dump());
    return config(id, annotations);
  }

  /// crun's status for `id` in `root`, bundle /b/ID with a config.json.
  script& crun(const std::string& root, const std::string& id, uint32_t pid,
               uint64_t start_time) {
    json st = {{"pid", pid},
               {"process-start-time", start_time},
               {"cgroup-path", "/" + id},
               {"rootfs", "/b/" + id + "/rootfs"},
               {"bundle", "/b/" + id},
               {"created", "2026-11-24T00:00:00Z"}};
    file(root + "/" + id + "/status", st.dump());
    return config(id);
  }

  script& config(const std::string& id,
                 const json& annotations = json::object()) {
    json cfg
      = {{"ociVersion", "1.0.2"},
         {"annotations", annotations},
         {"linux",
          {{"namespaces", {{{"type", "mount"}}, {{"type", "network"}}}}}}};
    return file("/b/" + id + "/config.json", cfg.dump());
  }

  /// A live `runc create` of `id` at `at_ms`, its pidfile read 5 ms later.
  script& live(uint64_t at_ms, const std::string& id, uint32_t pid) {
    auto bundle = "/b/" + id;
    add({{"kind", "exec"},
         {"at_ms", at_ms},
         {"tid", 3000 + at_ms},
         {"caller_comm", "containerd-shim"},
         {"mntns", host_mntns},
         {"argv",
          {"runc", "create", "--bundle", bundle, "--pid-file",
           bundle + "/init.pid", id}}});
    return add({{"kind", "pidfile_read"},
                {"at_ms", at_ms + 5},
                {"path", bundle + "/init.pid"},
                {"content", std::to_string(pid) + "\n"}});
  }

  script& exit(uint64_t at_ms, uint32_t pid) {
    return add({{"kind", "exit"}, {"at_ms", at_ms}, {"pid", pid}});
  }

  std::shared_ptr<const scenario> parse() const {
    auto sc = std::make_shared<scenario>();
    std::string error;
    BOOST_REQUIRE_MESSAGE(parse_scenario(text_, *sc, error), error);
    return sc;
  }

private:
  script& add(const json& record) {
    text_ += record.dump() + "\n";
    return *this;
  }

  std::string text_;
};

/// The graph on the test coordinator, scanning the default roots.
struct sim : test::coordinator_fixture {
  graph g;
  std::shared_ptr<const scenario> sc;
  std::vector<json> events;
  std::optional<counters> scanned;
  time_point t0;

  ~sim() override {
    if (g.registry) {
      g.shutdown();
      run();
    }
  }

  /// Plays `s` to its end (every message, every timer).
  void play(const script& s,
            std::vector<std::string> roots = default_state_roots()) {
    sc = s.parse();
    t0 = now();
    graph_options opts;
    opts.script = sc;
    opts.realtime_ns = [this] {
      return start_ns
             + static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::nanoseconds>(now() - t0)
                 .count());
    };
    opts.print = true;
    opts.fmt = output_format::json;
    opts.out = [this](const std::string& line) {
      events.push_back(json::parse(line));
    };
    opts.state_roots = std::move(roots);
    opts.on_scan_done = [this](const counters& c) { scanned = c; };
    g = *spawn_graph(sys, opts);
    run();
    g.play();
    do
      run();
    while (sched.trigger_timeout());
  }

  /// The events of `type` for `id`.
  std::vector<json> of(const std::string& type, const std::string& id) const {
    std::vector<json> out;
    for (auto& e : events)
      if (e["type"] == type && e["id"] == id)
        out.push_back(e);
    return out;
  }

  uint64_t scan(const std::string& name) const {
    BOOST_REQUIRE_MESSAGE(scanned.has_value(), "the scan did not finish");
    BOOST_REQUIRE_MESSAGE(scanned->count(name) == 1, "no counter " << name);
    return scanned->at(name);
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(initial_containers_come_first, sim) {
  script s;
  s.dir("/run/runc", {"r1"})
    .runc("/run/runc", "r1", 4001, 500,
          {{"io.kubernetes.cri.container-type", "container"},
           {"io.kubernetes.cri.container-name", "web"},
           {"io.kubernetes.cri.sandbox-name", "pod-a"},
           {"io.kubernetes.cri.sandbox-namespace", "shop"}})
    .proc(4001, 500, 4026532001, 4026532101)
    // containerd: one level of namespaces below the root.
    .dir("/run/containerd/runc", {"k8s.io", "moby"})
    .dir("/run/containerd/runc/k8s.io", {"k1"})
    .dir("/run/containerd/runc/moby", {})
    .runc("/run/containerd/runc/k8s.io", "k1", 4002, 600)
    .proc(4002, 600, 4026532002, 4026532102)
    .dir("/run/crun", {"c1"})
    .crun("/run/crun", "c1", 4003, 700)
    .proc(4003, 700, 4026532003, 4026532103)
    // And one live create, after the scan.
    .config("l1")
    .proc(4004, 800, 4026532004, 4026532104)
    .live(10, "l1", 4004);
  play(s);
  BOOST_TEST(scan("scan_added") == 3u);
  BOOST_REQUIRE_EQUAL(events.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    auto& e = events[i];
    BOOST_TEST_CONTEXT(e.dump()) {
      BOOST_TEST(e["type"] == "added");
      BOOST_TEST(e["initial"] == true);
      BOOST_TEST(e["held"] == false);
      BOOST_TEST(e["ts_ns"] == start_ns); // at virtual time 0
    }
  }
  auto r1 = of("added", "r1");
  BOOST_REQUIRE_EQUAL(r1.size(), 1u);
  BOOST_TEST(r1[0]["pid"] == 4001);
  BOOST_TEST(r1[0]["runtime"] == "runc");
  BOOST_TEST(r1[0]["bundle"] == "/b/r1");
  BOOST_TEST(r1[0]["mntns"] == 4026532001u);
  BOOST_TEST(r1[0]["name"] == "web"); // as a live detection names it
  BOOST_TEST(r1[0]["k8s"]["namespace"] == "shop");
  BOOST_TEST(r1[0]["k8s"]["pod"] == "pod-a");
  BOOST_TEST(of("added", "k1").at(0)["name"] == "k1");
  BOOST_TEST(of("added", "c1").at(0)["runtime"] == "crun");
  auto& live = events[3];
  BOOST_TEST(live["id"] == "l1");
  BOOST_TEST(live["initial"] == false);
  BOOST_TEST(live["held"] == true);
  BOOST_TEST(live["seq"] > events[2]["seq"]);
}

BOOST_FIXTURE_TEST_CASE(scanned_and_seen_live_is_added_once, sim) {
  script s;
  s.dir("/run/runc", {"c1"})
    .runc("/run/runc", "c1", 4001, 500)
    .proc(4001, 500, 4026532001, 4026532101)
    // The same container's create seen live (as a create racing the scan
    // would be): the registry already has it.
    .live(10, "c1", 4001)
    .exit(50, 4001);
  play(s);
  BOOST_TEST(scan("scan_added") == 1u);
  auto added = of("added", "c1");
  BOOST_REQUIRE_EQUAL(added.size(), 1u);
  BOOST_TEST(added[0]["initial"] == true);
  BOOST_TEST(of("removed", "c1").size() == 1u);
  BOOST_TEST(of("detection_failed", "c1").empty());
  BOOST_TEST(events.size() == 2u);
}

BOOST_FIXTURE_TEST_CASE(an_initial_container_is_removed_on_exit, sim) {
  script s;
  s.dir("/run/runc", {"c1"})
    .runc("/run/runc", "c1", 4001, 500)
    .proc(4001, 500, 4026532001, 4026532101)
    .exit(20, 4001);
  play(s);
  BOOST_REQUIRE_EQUAL(of("removed", "c1").size(), 1u);
  BOOST_TEST(of("removed", "c1")[0]["ts_ns"] == start_ns + 20'000'000u);
}

BOOST_FIXTURE_TEST_CASE(bad_entries_are_skipped_and_counted, sim) {
  script s;
  s.dir("/run/runc",
        {"good", "bad-json", "truncated", "dead", "reused", "hostns", "twin-a",
         "twin-b", "no-config", "wrong-id", "empty", "a b"})
    .runc("/run/runc", "good", 4001, 500)
    .proc(4001, 500, 4026532001, 4026532101)
    .file("/run/runc/bad-json/state.json", "{\"id\": ")
    .file("/run/runc/truncated/state.json",
          "{\"id\": \"truncated\", \"init_process_pid\": 4001}")
    .runc("/run/runc", "dead", 4999, 500) // no proc record: gone
    .runc("/run/runc", "reused", 4002, 100)
    .proc(4002, 200, 4026532002, 4026532102)
    .runc("/run/runc", "hostns", 4003, 300)
    .proc(4003, 300, host_mntns, 4026531840)
    // Two states naming one init: neither can be trusted.
    .runc("/run/runc", "twin-a", 4006, 600)
    .runc("/run/runc", "twin-b", 4006, 600)
    .proc(4006, 600, 4026532006, 4026532106)
    .file("/run/runc/no-config/state.json",
          json{{"id", "no-config"},
               {"init_process_pid", 4004},
               {"init_process_start", 400},
               {"config", {{"labels", {"bundle=/nowhere"}}}}}
            .dump())
    .proc(4004, 400, 4026532004, 4026532104)
    .file("/run/runc/wrong-id/state.json",
          json{{"id", "good"},
               {"init_process_pid", 4005},
               {"init_process_start", 1},
               {"config", {{"labels", {"bundle=/b/good"}}}}}
            .dump());
  // "empty" has no state file (an entry being created, or junk): passed
  // over; "a b" is no container id.
  play(s);
  BOOST_TEST(scan("scan_added") == 1u);
  BOOST_TEST(scan("scan_bad_state") == 3u); // bad-json, truncated, wrong-id
  BOOST_TEST(scan("scan_not_running") == 1u);
  BOOST_TEST(scan("scan_pid_reused") == 1u);
  BOOST_TEST(scan("scan_bad_mntns") == 1u);
  BOOST_TEST(scan("scan_duplicates") == 2u);
  BOOST_TEST(scan("scan_bad_config") == 1u);
  BOOST_TEST(scan("scan_bad_names") == 1u);
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  BOOST_TEST(events[0]["id"] == "good");
}

BOOST_FIXTURE_TEST_CASE(roots_are_configurable_and_absent_ones_skipped, sim) {
  script s;
  s.dir("/run/runc", {"c1"})
    .runc("/run/runc", "c1", 4001, 500)
    .proc(4001, 500, 4026532001, 4026532101)
    .dir("/srv/rootless/runc", {"c2"})
    .runc("/srv/rootless/runc", "c2", 4002, 600)
    .proc(4002, 600, 4026532002, 4026532102);
  play(s, {"/srv/rootless/runc/", "/srv/rootless/runc", "/nonexistent"});
  BOOST_TEST(scan("scan_added") == 1u);
  BOOST_TEST(scan("scan_roots_absent") == 1u);
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  BOOST_TEST(events[0]["id"] == "c2");
}

BOOST_FIXTURE_TEST_CASE(no_roots_no_scan, sim) {
  script s;
  s.dir("/run/runc", {"c1"})
    .runc("/run/runc", "c1", 4001, 500)
    .proc(4001, 500, 4026532001, 4026532101);
  play(s, {});
  BOOST_TEST(!g.scan);
  BOOST_TEST(!scanned.has_value());
  BOOST_TEST(events.empty());
}

BOOST_FIXTURE_TEST_CASE(many_entries_are_scanned_in_batches, sim) {
  script s;
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < 3 * scan_batch_entries + 1; ++i) {
    auto id = "c" + std::to_string(i);
    ids.push_back(id);
    s.runc("/run/runc", id, 5000 + i, 1000 + i)
      .proc(5000 + i, 1000 + i, 4026533000 + i, 4026534000 + i);
  }
  s.dir("/run/runc", ids);
  play(s);
  BOOST_TEST(scan("scan_added") == ids.size());
  BOOST_TEST(events.size() == ids.size());
}
