// The recorder in front of a scripted kernel, in virtual time: simulating
// a scenario with recording on writes a scenario whose simulation prints
// the same events (ids, names, pids, seq, flags, order). No root needed;
// tests/integration/record does the same on the real kernel.
#define BOOST_TEST_MODULE record_replay_simulation
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"

#ifndef NW_DEMO_SCENARIO
#  error "NW_DEMO_SCENARIO must name docs/scenarios/demo.jsonl"
#endif

namespace {

using strings = std::vector<std::string>;

/// Each event line without its `ts_ns` (a recording may shift a record by
/// a millisecond: two timed records are at least 1 ms apart).
strings without_time(const std::string& out) {
  strings result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("ts_ns");
    result.push_back(j.dump());
  }
  return result;
}

/// Simulates `script` with recording on; the recorded scenario's text.
std::string record(std::shared_ptr<const nw::scenario> script,
                   std::string& out) {
  auto text = std::make_unique<std::ostringstream>();
  auto* text_ptr = text.get();
  auto writer = std::make_shared<nw::record_writer>(std::move(text), "mem");
  writer->header({"re-recorded", script->start_ns,
                  script->has_state_roots ? script->state_roots
                                          : nw::default_state_roots()});
  out = nw::simulate_output(script, nw::output_format::json, writer);
  BOOST_TEST(writer->stopped()); // its `end` is written when it quits
  return text_ptr->str();
}

std::shared_ptr<nw::scenario> parse(const std::string& text) {
  auto sc = std::make_shared<nw::scenario>();
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::parse_scenario(text, *sc, error), error);
  return sc;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_demo_replays_to_the_same_events) {
  auto demo = std::make_shared<nw::scenario>();
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::load_scenario(NW_DEMO_SCENARIO, *demo, error),
                        error);
  std::string live;
  auto recorded = record(demo, live);
  BOOST_TEST_MESSAGE(recorded);
  auto replayed = nw::simulate_output(parse(recorded), nw::output_format::json);
  BOOST_TEST(!live.empty());
  BOOST_TEST(without_time(replayed) == without_time(live),
             boost::test_tools::per_element());
  // A recording of the replay is the same recording.
  std::string again;
  BOOST_TEST(record(parse(recorded), again) == recorded);
}

BOOST_AUTO_TEST_CASE(initial_containers_state_and_pid_reuse_replay) {
  // A container found at start, a pid reused by a second container, and a
  // bare `runc run` seen by its state appearing.
  auto text = std::string{
    R"({"nodewatch_scenario": 1, "start_ns": 5, "state_roots": ["/run/runc"]}
{"kind": "dir", "path": "/run/runc", "entries": ["c0"]}
{"kind": "file", "path": "/run/runc/c0/state.json", "content": "{\"id\": \"c0\", \"init_process_pid\": 4100, \"init_process_start\": 800, \"config\": {\"labels\": [\"bundle=/run/b0\"]}}"}
{"kind": "file", "path": "/run/b0/config.json", "content": "{\"ociVersion\": \"1.0.2\"}"}
{"kind": "proc", "pid": 4100, "start_time": 800, "mntns": 4026532400, "netns": 4026532401}
{"kind": "file", "path": "/run/b1/config.json", "content": "{}"}
{"kind": "file", "path": "/run/b2/config.json", "content": "{}"}
{"kind": "proc", "pid": 4242, "start_time": 9000, "mntns": 4026532500, "netns": 4026532501}
{"kind": "proc", "at_ms": 200, "pid": 4242, "start_time": 9999, "mntns": 4026532600, "netns": 4026532601}
{"kind": "exec", "at_ms": 10, "tid": 777, "mntns": 4026531841, "argv": ["runc", "create", "--bundle", "/run/b1", "--pid-file", "/run/b1/init.pid", "c1"]}
{"kind": "pidfile_read", "at_ms": 15, "path": "/run/b1/init.pid", "content": "4242\n"}
{"kind": "exit", "at_ms": 100, "pid": 4242}
{"kind": "exit", "at_ms": 110, "pid": 4100}
{"kind": "exec", "at_ms": 200, "tid": 778, "mntns": 4026531841, "argv": ["runc", "create", "--bundle", "/run/b2", "--pid-file", "/run/b2/init.pid", "c2"]}
{"kind": "pidfile_read", "at_ms": 205, "path": "/run/b2/init.pid", "content": "4242\n"}
{"kind": "exit", "at_ms": 300, "pid": 4242}
{"kind": "file", "path": "/run/runc/c3/state.json", "content": "{\"id\": \"c3\", \"init_process_pid\": 4300, \"init_process_start\": 700, \"config\": {\"labels\": [\"bundle=/run/b3\"]}}"}
{"kind": "file", "path": "/run/b3/config.json", "content": "{}"}
{"kind": "proc", "pid": 4300, "start_time": 700, "mntns": 4026532700, "netns": 4026532701}
{"kind": "state", "at_ms": 400, "dir": "/run/runc/c3", "id": "c3"}
)"};
  std::string live;
  auto recorded = record(parse(text), live);
  BOOST_TEST_MESSAGE(recorded);
  auto replayed = nw::simulate_output(parse(recorded), nw::output_format::json);
  auto events = without_time(live);
  // c0 added, c1 added/removed, c0 removed, c2 added/removed, c3 added
  BOOST_TEST(events.size() == 7u);
  BOOST_TEST(live.find(R"("id":"c3")") != std::string::npos);
  BOOST_TEST(without_time(replayed) == events,
             boost::test_tools::per_element());
  // c2 has the reused pid's second incarnation.
  BOOST_TEST(live.find("\"mntns\":4026532600") != std::string::npos);
}
