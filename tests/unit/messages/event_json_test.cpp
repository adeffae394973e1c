// The JSON lines of CONTRACTS.md ("Event lines"), byte for byte: key order,
// every key present, `reason` only on detection_failed, `node` only when
// given, the ps shape without `type`.
#define BOOST_TEST_MODULE event_json
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "messages/event_json.hpp"

using namespace nw;

namespace {

container_event web_added() {
  container_event ev;
  ev.kind = event_kind::added;
  ev.seq = 17;
  ev.ts_ns = 1763932212000000000ull;
  auto& c = ev.info.unshared();
  c.id = "c0ffee";
  c.name = "web";
  c.pid = 1234;
  c.runtime = "runc";
  c.mntns = 4026532291ull;
  c.mntns_id64 = 0;
  c.netns = 4026532294ull;
  c.bundle = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c0ffee";
  c.initial = false;
  c.held = true;
  c.sandbox = false;
  c.k8s = {"default", "web-0", "web", "1f2e"};
  // Not part of the line: must not leak into it.
  c.start_time = 99;
  c.cgroup_path = "/sys/fs/cgroup/x";
  c.cgroup_id = 5;
  c.annotations = {{"a", "b"}};
  c.host_network = true;
  // Only detection_failed carries a reason.
  ev.reason = "ignored";
  return ev;
}

const std::string web_body
  = R"("id":"c0ffee","name":"web","pid":1234,"runtime":"runc",)"
    R"("mntns":4026532291,"mntns_id64":0,"netns":4026532294,)"
    R"("bundle":"/run/containerd/io.containerd.runtime.v2.task/k8s.io/c0ffee",)"
    R"("initial":false,"held":true,"sandbox":false,)"
    R"("k8s":{"namespace":"default","pod":"web-0","container":"web",)"
    R"("pod_uid":"1f2e"})";

std::vector<std::string> keys_of(const std::string& line) {
  auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> result;
  for (auto& [k, v] : j.items())
    result.push_back(k);
  return result;
}

using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_CASE(added_line_is_exact) {
  BOOST_TEST(to_json_line(web_added())
             == R"({"type":"added","seq":17,"ts_ns":1763932212000000000,)"
                  + web_body + "}");
}

BOOST_AUTO_TEST_CASE(removed_line_is_exact) {
  auto ev = web_added();
  ev.kind = event_kind::removed;
  ev.seq = 18;
  BOOST_TEST(to_json_line(ev)
             == R"({"type":"removed","seq":18,"ts_ns":1763932212000000000,)"
                  + web_body + "}");
}

BOOST_AUTO_TEST_CASE(detection_failed_line_is_exact_with_reason_and_node) {
  auto ev = web_added();
  ev.kind = event_kind::detection_failed;
  ev.reason = "pidfile never written";
  auto prefix = std::string{R"({"type":"detection_failed","seq":17,)"}
                + R"("ts_ns":1763932212000000000,)" + web_body;
  BOOST_TEST(to_json_line(ev)
             == prefix + R"(,"reason":"pidfile never written"})");
  BOOST_TEST(to_json_line(ev, json_shape::event, "10.0.0.7:7415")
             == prefix + R"(,"reason":"pidfile never written",)"
                  + R"("node":"10.0.0.7:7415"})");
  // An empty reason is still present: every key always present.
  ev.reason.clear();
  BOOST_TEST(to_json_line(ev) == prefix + R"(,"reason":""})");
}

BOOST_AUTO_TEST_CASE(node_key_only_when_given) {
  auto ev = web_added();
  auto line = to_json_line(ev, json_shape::event, "node-a:7415");
  BOOST_TEST(line
             == R"({"type":"added","seq":17,"ts_ns":1763932212000000000,)"
                  + web_body + R"(,"node":"node-a:7415"})");
  BOOST_TEST(to_json_line(ev, json_shape::event, "").find("node")
             == std::string::npos);
}

BOOST_AUTO_TEST_CASE(ps_shape_has_no_type_and_no_reason) {
  auto ev = web_added();
  auto expected = R"({"seq":17,"ts_ns":1763932212000000000,)" + web_body + "}";
  BOOST_TEST(to_json_line(ev, json_shape::container) == expected);
  ev.kind = event_kind::detection_failed;
  ev.reason = "x";
  BOOST_TEST(to_json_line(ev, json_shape::container) == expected);
  BOOST_TEST(to_json_line(ev, json_shape::container, "n:1")
             == R"({"seq":17,"ts_ns":1763932212000000000,)" + web_body
                  + R"(,"node":"n:1"})");
}

BOOST_AUTO_TEST_CASE(every_key_present_when_unknown) {
  BOOST_TEST(to_json_line(container_event{})
             == R"({"type":"added","seq":0,"ts_ns":0,"id":"","name":"",)"
                R"("pid":0,"runtime":"","mntns":0,"mntns_id64":0,"netns":0,)"
                R"("bundle":"","initial":false,"held":false,"sandbox":false,)"
                R"("k8s":{"namespace":"","pod":"","container":"",)"
                R"("pod_uid":""}})");
  BOOST_TEST(keys_of(to_json_line(container_event{}))
               == strings({"type", "seq", "ts_ns", "id", "name", "pid",
                           "runtime", "mntns", "mntns_id64", "netns", "bundle",
                           "initial", "held", "sandbox", "k8s"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(large_numbers_are_exact_integers) {
  container_event ev;
  ev.seq = std::numeric_limits<uint64_t>::max();
  ev.info.unshared().pid = std::numeric_limits<uint32_t>::max();
  ev.info.unshared().mntns_id64 = std::numeric_limits<uint64_t>::max() - 1;
  auto line = to_json_line(ev);
  BOOST_TEST(line.find(R"("seq":18446744073709551615,)") != std::string::npos,
             line);
  BOOST_TEST(line.find(R"("pid":4294967295,)") != std::string::npos, line);
  BOOST_TEST(line.find(R"("mntns_id64":18446744073709551614,)")
               != std::string::npos,
             line);
}

BOOST_AUTO_TEST_CASE(strings_are_escaped_on_one_line) {
  container_event ev;
  ev.info.unshared().name = "a\"b\\c\nd\te\x01";
  auto line = to_json_line(ev);
  BOOST_TEST(line.find('\n') == std::string::npos);
  BOOST_TEST(line.find(R"("name":"a\"b\\c\nd\te\u0001")") != std::string::npos,
             line);
  BOOST_TEST(nlohmann::json::parse(line)["name"] == ev.info->name);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_does_not_throw) {
  container_event ev;
  ev.kind = event_kind::detection_failed;
  ev.info.unshared().id = "c0\xff";
  ev.info.unshared().name = "we\xc3"; // truncated two-byte sequence
  ev.info.unshared().k8s.pod
    = "\xed\xa0\x80"; // a UTF-16 surrogate, invalid in UTF-8
  ev.reason = "bad \xfe\xfe bytes";
  std::string line;
  BOOST_REQUIRE_NO_THROW(line = to_json_line(ev, json_shape::event, "n\x80"));
  // Still one valid JSON line, with U+FFFD in place of the bad bytes.
  nlohmann::json j;
  BOOST_REQUIRE_NO_THROW(j = nlohmann::json::parse(line));
  BOOST_TEST(j["id"] == "c0\xef\xbf\xbd");
  BOOST_TEST(j["name"] == "we\xef\xbf\xbd");
  BOOST_TEST(j["reason"].get<std::string>().find("bad ") == 0u);
  BOOST_TEST(j["node"].get<std::string>().find("n") == 0u);
  BOOST_TEST(line.find('\n') == std::string::npos);
  // Valid multi-byte UTF-8 passes unchanged.
  ev.info.unshared().name = "caf\xc3\xa9-\xe6\x97\xa5";
  BOOST_TEST(nlohmann::json::parse(to_json_line(ev))["name"] == ev.info->name);
}

BOOST_AUTO_TEST_CASE(identical_events_give_identical_bytes) {
  BOOST_TEST(to_json_line(web_added()) == to_json_line(web_added()));
}
