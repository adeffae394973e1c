// The state-file parsers of the start-up scan: runc's state.json recorded
// from a real runc 1.1.5 run, crun's status in crun 1.8.1's layout (hand
// made: crun cannot create containers on this host's hybrid cgroups), and
// hand-made bad files, each rejected with a reason naming the field.
#define BOOST_TEST_MODULE state_json
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "actors/initial_scan/state_json.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw;

#ifndef NW_STATE_DATA
#  error "NW_STATE_DATA must name tests/data/initial_scan"
#endif

namespace {

std::string slurp(const std::string& name) {
  std::ifstream in{std::string{NW_STATE_DATA} + "/" + name, std::ios::binary};
  BOOST_TEST_REQUIRE(static_cast<bool>(in), "cannot open " << name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void check_reason(const std::string& reason) {
  BOOST_TEST(!reason.empty());
  BOOST_TEST(reason.find('\n') == std::string::npos);
  BOOST_TEST(reason.size() < 512u);
}

runtime_state runc_ok(std::string_view text, std::string_view dir) {
  auto res = parse_runc_state(text, dir);
  BOOST_TEST_REQUIRE(res.ok(), "unexpected rejection: " << res.error());
  return std::move(res).value();
}

std::string runc_err(std::string_view text, std::string_view dir = "c1") {
  auto res = parse_runc_state(text, dir);
  BOOST_TEST_REQUIRE(!res.ok(), "unexpectedly accepted: " << text);
  check_reason(res.error());
  return res.error();
}

std::string crun_err(std::string_view text, std::string_view dir = "c1") {
  auto res = parse_crun_status(text, dir);
  BOOST_TEST_REQUIRE(!res.ok(), "unexpectedly accepted: " << text);
  check_reason(res.error());
  return res.error();
}

/// A minimal runc state.json with the given member text spliced in.
std::string
runc_state(const std::string& id = "\"c1\"", const std::string& pid = "4242",
           const std::string& start = "9000",
           const std::string& labels = "[\"a=b\", \"bundle=/run/b1\"]") {
  return "{\"id\": " + id + ", \"init_process_pid\": " + pid
         + ", \"init_process_start\": " + start
         + ", \"config\": {\"labels\": " + labels + "}}";
}

} // namespace

BOOST_AUTO_TEST_CASE(recorded_runc_state) {
  auto st = runc_ok(slurp("runc-1.1.5.state.json"), "rec-created");
  BOOST_TEST(st.id == "rec-created");
  BOOST_TEST(st.pid == 19822u);
  BOOST_TEST(st.start_time == 845810u);
  BOOST_TEST(st.bundle == "/tmp/scanrec-AzkY/b");
  BOOST_TEST(st.runtime == "runc");
}

BOOST_AUTO_TEST_CASE(recorded_podman_runc_state) {
  // Rootful podman 4.3 with --runtime runc: runc's default root, a 34 KiB
  // state (podman's seccomp profile), the bundle is podman's userdata.
  auto id = "db36d87a7d5b5283213449f286f4e84ae1471bc7593f2965c69e8c62b31ac3e5";
  auto st = runc_ok(slurp("podman-4.3-runc-1.1.5.state.json"), id);
  BOOST_TEST(st.id == id);
  BOOST_TEST(st.pid == 30375u);
  BOOST_TEST(st.start_time == 957708u);
  BOOST_TEST(st.bundle
             == std::string{"/var/lib/containers/storage/overlay-containers/"}
                  + id + "/userdata");
}

BOOST_AUTO_TEST_CASE(recorded_runc_state_in_the_wrong_directory) {
  BOOST_TEST(contains(runc_err(slurp("runc-1.1.5.state.json"), "other"),
                      "differs from the directory name 'other'"));
}

BOOST_AUTO_TEST_CASE(crun_status_layout) {
  auto res
    = parse_crun_status(slurp("crun-1.8.1.status.hand-made.json"), "rec-crun");
  BOOST_TEST_REQUIRE(res.ok(), res.error());
  BOOST_TEST(res->id == "rec-crun");
  BOOST_TEST(res->pid == 4242u);
  BOOST_TEST(res->start_time == 845810u);
  BOOST_TEST(res->bundle == "/tmp/scanrec-crun/b");
  BOOST_TEST(res->runtime == "crun");
}

BOOST_AUTO_TEST_CASE(minimal_runc_state) {
  auto st = runc_ok(runc_state(), "c1");
  BOOST_TEST(st.pid == 4242u);
  BOOST_TEST(st.start_time == 9000u);
  BOOST_TEST(st.bundle == "/run/b1");
  // Fields nodewatch does not read may be anything, nested any way.
  runc_ok("{\"x\": [[[{\"y\": null}]]], \"id\": \"c1\", \"init_process_pid\": "
          "1, \"init_process_start\": 0, \"config\": {\"labels\": "
          "[\"bundle=/b\"], \"mounts\": [{\"labels\": 5}]}, \"labels\": 7}",
          "c1");
}

BOOST_AUTO_TEST_CASE(malformed_and_truncated) {
  BOOST_TEST(contains(runc_err(""), "not valid JSON"));
  auto whole = slurp("runc-1.1.5.state.json");
  BOOST_TEST(
    contains(runc_err(whole.substr(0, whole.size() / 2), "rec-created"),
             "not valid JSON"));
  BOOST_TEST(contains(runc_err("[]"), "top level: expected an object"));
  BOOST_TEST(contains(runc_err("{\"id\": \"c1\"} trailing"), "not valid JSON"));
  BOOST_TEST(contains(runc_err("{\"id\": \"\xff\"}"), "not valid JSON"));
  BOOST_TEST(contains(crun_err("nul\x01"), "not valid JSON"));
}

BOOST_AUTO_TEST_CASE(missing_fields) {
  BOOST_TEST(runc_err("{}") == "id is missing");
  BOOST_TEST(runc_err("{\"id\": \"c1\"}") == "init_process_pid is missing");
  BOOST_TEST(runc_err("{\"id\": \"c1\", \"init_process_pid\": 5}")
             == "init_process_start is missing");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "5", "6", "[\"a=b\"]"))
             == "config.labels has no bundle= label");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "5", "6", "null"))
             == "config.labels has no bundle= label");
  BOOST_TEST(crun_err("{}") == "pid is missing");
  BOOST_TEST(crun_err("{\"pid\": 5}") == "process-start-time is missing");
  BOOST_TEST(crun_err("{\"pid\": 5, \"process-start-time\": 6}")
             == "bundle is missing");
}

BOOST_AUTO_TEST_CASE(mistyped_fields) {
  BOOST_TEST(runc_err(runc_state("5")) == "id: expected a string, got number");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "\"4242\""))
             == "init_process_pid: expected an integer, got string");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "4242.0"))
             == "init_process_pid: expected an integer, got number (not an "
                "integer)");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "1", "-1"))
             == "init_process_start is negative");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "1", "2", "{}"))
             == "config.labels: expected an array, got object");
  BOOST_TEST(runc_err(runc_state("\"c1\"", "1", "2", "[\"bundle=/b\", 3]"))
             == "config.labels[1]: expected a string, got number");
  BOOST_TEST(runc_err("{\"config\": []}")
             == "config: expected an object, got "
                "array");
  BOOST_TEST(crun_err("{\"pid\": 1, \"process-start-time\": 2, \"bundle\": 3}")
             == "bundle: expected a string, got number");
}

BOOST_AUTO_TEST_CASE(repeated_fields) {
  BOOST_TEST(runc_err("{\"id\": \"c1\", \"id\": \"c2\"}")
             == "id appears twice");
  BOOST_TEST(
    runc_err(runc_state("\"c1\"", "1", "2", "[\"bundle=/a\", \"bundle=/b\"]"))
    == "the label bundle= appears twice");
  BOOST_TEST(contains(runc_err("{\"config\": {\"labels\": []}, \"config\": "
                               "{\"labels\": []}}"),
                      "config.labels appears twice"));
  BOOST_TEST(crun_err("{\"pid\": 1, \"pid\": 2}") == "pid appears twice");
}

BOOST_AUTO_TEST_CASE(pids) {
  for (auto bad : {"0", "-5", "2147483648", "18446744073709551615"})
    BOOST_TEST(contains(runc_err(runc_state("\"c1\"", bad)),
                        "init_process_pid is out of range (1..2147483647)"));
  BOOST_TEST(runc_ok(runc_state("\"c1\"", "2147483647"), "c1").pid
             == 2147483647u);
  BOOST_TEST(
    contains(crun_err("{\"pid\": 0, \"process-start-time\": 1, \"bundle\": "
                      "\"/b\"}"),
             "pid is out of range"));
}

BOOST_AUTO_TEST_CASE(ids) {
  BOOST_TEST(runc_err(runc_state("\"\"")) == "id is empty");
  BOOST_TEST(contains(runc_err(runc_state("\"../etc\""), "../etc"),
                      "the directory name is no container id"));
  BOOST_TEST(contains(runc_err(runc_state("\"a/b\""), "c1"), "id: "));
  BOOST_TEST(contains(runc_err(runc_state("\"..\""), "c1"), "id: "));
  BOOST_TEST(contains(runc_err(runc_state("\"c2\""), "c1"),
                      "id 'c2' differs from the directory name 'c1'"));
  BOOST_TEST(contains(runc_err(runc_state(), ".."),
                      "the directory name is no container id"));
  BOOST_TEST(contains(crun_err("{\"pid\": 1, \"process-start-time\": 2, "
                               "\"bundle\": \"/b\"}",
                               "a b"),
                      "the directory name is no container id"));
  runc_ok(runc_state("\"A-z_0+9.x\""), "A-z_0+9.x");
}

BOOST_AUTO_TEST_CASE(bundles) {
  BOOST_TEST(contains(runc_err(runc_state("\"c1\"", "1", "2", "[\"bundle=\"]")),
                      "bundle is empty"));
  BOOST_TEST(
    contains(runc_err(runc_state("\"c1\"", "1", "2", "[\"bundle=rel/b\"]")),
             "bundle 'rel/b' is not an absolute path"));
  BOOST_TEST(contains(crun_err("{\"pid\": 1, \"process-start-time\": 2, "
                               "\"bundle\": \"/a\\u0000b\"}"),
                      "bundle contains a NUL byte"));
  std::string long_path = "/" + std::string(5000, 'a');
  BOOST_TEST(contains(crun_err("{\"pid\": 1, \"process-start-time\": 2, "
                               "\"bundle\": \""
                               + long_path + "\"}"),
                      "bundle is 5001 bytes long"));
}

BOOST_AUTO_TEST_CASE(bounds) {
  std::string big(max_state_file_bytes + 1, ' ');
  BOOST_TEST(contains(runc_err(big), "bytes (at most 4194304)"));
  std::string deep(max_state_depth + 1, '[');
  BOOST_TEST(contains(runc_err("{\"x\": " + deep), "deeper than 64 levels"));
  std::string nested = std::string(max_state_depth - 1, '[')
                       + std::string(max_state_depth - 1, ']');
  runc_ok("{\"x\": " + nested + ", " + runc_state().substr(1), "c1");
  std::string labels = "[";
  for (size_t i = 0; i <= max_state_labels; ++i)
    labels += "\"k=v\",";
  labels += "\"bundle=/b\"]";
  BOOST_TEST(contains(runc_err(runc_state("\"c1\"", "1", "2", labels)),
                      "config.labels: more than 4096 entries"));
}

BOOST_AUTO_TEST_CASE(hostile_bytes_are_quoted) {
  auto reason = runc_err(runc_state("\"c\\nx\""), "c1");
  BOOST_TEST(reason.find('\n') == std::string::npos);
}
