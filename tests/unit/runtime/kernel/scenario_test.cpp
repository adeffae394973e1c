#define BOOST_TEST_MODULE scenario
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include "runtime/kernel/scenario.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using nw::scenario;
using nw::scenario_step;

namespace {

const std::string header
  = R"({"nodewatch_scenario": 1, "name": "t", "start_ns": 1000})";

/// Parses `text`; returns the error ("" on success).
std::string parse(const std::string& text, scenario* out = nullptr) {
  scenario sc;
  std::string error;
  if (nw::parse_scenario(text, sc, error)) {
    if (out)
      *out = std::move(sc);
    return {};
  }
  BOOST_TEST(!error.empty());
  return error;
}

} // namespace

BOOST_AUTO_TEST_CASE(parses_every_kind) {
  auto text
    = header + "\n"
      + R"({"kind": "file", "path": "/b/config.json", "content": "{}"})"
        "\n"
      + R"({"kind": "dir", "path": "/run/runc", "entries": ["a"]})"
        "\n"
      + R"({"kind": "proc", "pid": 7, "start_time": 9, "mntns": 1, "netns": 2})"
        "\n\n"
      + R"({"kind": "exec", "at_ms": 5, "tid": 3, "mntns": 1, "argv": ["runc", "create"]})"
        "\n"
      + R"({"kind": "pidfile_read", "at_ms": 6, "path": "/p", "content": "7"})"
        "\n"
      + R"({"kind": "exit", "at_ms": 9, "pid": 7})"
        "\n";
  scenario sc;
  BOOST_REQUIRE_EQUAL(parse(text, &sc), "");
  BOOST_TEST(sc.name == "t");
  BOOST_TEST(sc.start_ns == 1000u);
  BOOST_TEST(sc.files.at("/b/config.json") == "{}");
  BOOST_TEST(sc.dirs.at("/run/runc").size() == 1u);
  BOOST_TEST(sc.procs.at(7).start_time == 9u);
  // Three timed records plus the implicit end at the last time.
  BOOST_REQUIRE_EQUAL(sc.timeline.size(), 4u);
  BOOST_TEST(sc.timeline[0].exec.argv.size() == 2u);
  BOOST_TEST(sc.timeline[0].line == 6u);
  BOOST_TEST((sc.timeline[3].what == scenario_step::kind::end));
  BOOST_TEST(sc.timeline[3].at_ms == 9u);
}

BOOST_AUTO_TEST_CASE(msgpack_encoding_reads_the_same) {
  std::vector<nlohmann::json> records{nlohmann::json::parse(header),
                                      {{"kind", "exec"},
                                       {"at_ms", 1},
                                       {"tid", 2},
                                       {"mntns", 3},
                                       {"argv", {"runc", "create"}}},
                                      {{"kind", "end"}, {"at_ms", 4}}};
  std::string bytes;
  for (auto& r : records) {
    auto packed = nlohmann::json::to_msgpack(r);
    bytes.append(packed.begin(), packed.end());
  }
  scenario sc;
  BOOST_REQUIRE_EQUAL(parse(bytes, &sc), "");
  BOOST_REQUIRE_EQUAL(sc.timeline.size(), 2u);
  BOOST_TEST(sc.timeline[0].exec.tid == 2u);
  // Truncated msgpack names the record.
  auto err = parse(bytes.substr(0, bytes.size() - 3));
  BOOST_TEST(contains(err, "record 3"));
}

BOOST_AUTO_TEST_CASE(bad_input_names_record_and_field) {
  struct bad_case {
    std::string record;
    std::string expect;
  };
  std::vector<bad_case> cases{
    {R"({"kind": "exec", "at_ms": 1, "tid": 1, "mntns": 1, "argv": ["x"], "colour": 1})",
     "field 'colour': unknown field"},
    {R"({"kind": "exec", "at_ms": "1", "tid": 1, "mntns": 1, "argv": ["x"]})",
     "field 'at_ms': expected a non-negative integer"},
    {R"({"kind": "exec", "at_ms": 1, "tid": 1, "mntns": 1, "argv": []})",
     "field 'argv': must not be empty"},
    {R"({"kind": "exec", "at_ms": 1, "tid": 1, "mntns": 1, "argv": [1]})",
     "field 'argv': expected an array of strings"},
    {R"({"kind": "exec", "at_ms": 1, "tid": 99999999999, "mntns": 1, "argv": ["x"]})",
     "field 'tid': out of range"},
    {R"({"kind": "proc", "pid": 0, "start_time": 1, "mntns": 1, "netns": 1})",
     "field 'pid': must not be 0"},
    {R"({"kind": "pidfile_read", "at_ms": 1, "path": "/p"})",
     "field 'content': missing"},
    {R"({"kind": "teleport", "at_ms": 1})", "unknown kind 'teleport'"},
    {R"({"kind": "exit", "at_ms": 1, "pid": 1)", "not valid JSON"},
    {R"([1, 2])", "expected a JSON object"},
  };
  for (auto& c : cases) {
    auto err = parse(header + "\n" + c.record + "\n");
    BOOST_TEST_CONTEXT(c.record) {
      BOOST_TEST(contains(err, "record 2"), err);
      BOOST_TEST(contains(err, c.expect), err);
    }
  }
}

BOOST_AUTO_TEST_CASE(header_and_time_rules) {
  BOOST_TEST(contains(parse(""), "empty"));
  BOOST_TEST(contains(parse(R"({"kind": "end", "at_ms": 1})"),
                      "first record must be the header"));
  BOOST_TEST(contains(parse(R"({"nodewatch_scenario": 2})"),
                      "version 2 is not supported"));
  auto back_in_time = header + "\n"
                      + R"({"kind": "exit", "at_ms": 5, "pid": 1})" + "\n"
                      + R"({"kind": "exit", "at_ms": 4, "pid": 1})";
  BOOST_TEST(
    contains(parse(back_in_time), "record 3, field 'at_ms': goes back"));
  auto after_end = header + "\n" + R"({"kind": "end", "at_ms": 5})" + "\n"
                   + R"({"kind": "exit", "at_ms": 6, "pid": 1})";
  BOOST_TEST(contains(parse(after_end), "after 'end'"));
}

BOOST_AUTO_TEST_CASE(bounds) {
  std::string huge(nw::max_scenario_bytes + 1, ' ');
  BOOST_TEST(contains(parse(huge), "larger than 64 MiB"));
  std::string big_argv
    = R"({"kind": "exec", "at_ms": 1, "tid": 1, "mntns": 1, "argv": [)";
  for (int i = 0; i < 4097; ++i)
    big_argv += std::string{i ? "," : ""} + "\"a\"";
  big_argv += "]}";
  BOOST_TEST(contains(parse(header + "\n" + big_argv), "more than 4096"));
}

BOOST_AUTO_TEST_CASE(scripted_host_answers_from_the_scenario) {
  scenario sc;
  auto text
    = header + "\n"
      + R"({"kind": "file", "path": "/f", "content": "0123456789"})"
        "\n"
      + R"({"kind": "proc", "pid": 7, "start_time": 9, "mntns": 1, "netns": 2})";
  BOOST_REQUIRE_EQUAL(parse(text, &sc), "");
  auto host = nw::make_scripted_host(sc);
  std::string out;
  std::string error;
  BOOST_TEST(host->read_file("/f", 10, out, error));
  BOOST_TEST(out == "0123456789");
  BOOST_TEST(!host->read_file("/f", 9, out, error));
  BOOST_TEST(contains(error, "larger than 9 bytes"));
  BOOST_TEST(!host->read_file("/g", 10, out, error));
  nw::proc_status p;
  BOOST_TEST(host->proc(7, p, error));
  BOOST_TEST(p.netns == 2u);
  BOOST_TEST(!host->proc(8, p, error));
}

// What `agent --record` writes: timed static answers, errors, the `state`
// kind, the header's state roots, and their bad forms.
BOOST_AUTO_TEST_CASE(recorded_forms_and_their_bad_input) {
  scenario sc;
  auto text
    = R"({"nodewatch_scenario": 1, "state_roots": ["/r"]})"
      "\n"
      + std::string{R"({"kind": "file", "path": "/f", "error": "EACCES"})"}
      + "\n"
      + R"({"kind": "file", "at_ms": 20, "path": "/f", "content": "late"})"
        "\n"
      + R"({"kind": "dir", "at_ms": 5, "path": "/d", "entries": ["x"]})"
        "\n"
      + R"({"kind": "proc", "pid": 7, "error": "gone"})"
        "\n"
      + R"({"kind": "proc", "pid": 7, "at_ms": 3, "start_time": 9, "state": "Z", "mntns": 1, "netns": 2, "mntns_id64": 11, "host_netns": 12, "cgroup_id": 13})"
        "\n"
      + R"({"kind": "state", "at_ms": 4, "dir": "/r/c", "id": "c"})";
  BOOST_REQUIRE_EQUAL(parse(text, &sc), "");
  BOOST_TEST(sc.has_state_roots);
  BOOST_TEST(sc.state_roots == std::vector<std::string>{"/r"});
  BOOST_REQUIRE_EQUAL(sc.timeline.size(), 2u);
  BOOST_TEST((sc.timeline[0].what == scenario_step::kind::state));
  BOOST_TEST(sc.timeline[0].state.dir == "/r/c");
  uint64_t now = 0;
  auto host = nw::make_scripted_host(sc, [&now] { return now; });
  std::string out;
  std::string error;
  nw::proc_status p;
  BOOST_TEST(!host->read_file("/f", 10, out, error));
  BOOST_TEST(error == "EACCES");
  BOOST_TEST(!host->exists("/f"));
  BOOST_TEST(host->exists("/d")); // its only record answers from the start
  BOOST_TEST(!host->proc(7, p, error));
  BOOST_TEST(error == "gone");
  now = 3;
  BOOST_TEST(host->proc(7, p, error));
  BOOST_TEST(p.state == 'Z');
  BOOST_TEST(p.mntns_id64 == 11u);
  BOOST_TEST(p.host_netns == 12u);
  BOOST_TEST(p.cgroup_id == 13u);
  now = 20;
  BOOST_TEST(host->read_file("/f", 10, out, error));
  BOOST_TEST(out == "late");

  auto bad
    = [](const std::string& record) { return parse(header + "\n" + record); };
  BOOST_TEST(contains(
    bad(R"({"kind": "file", "path": "/f", "content": "a", "error": "b"})"),
    "field 'error': give either 'content' or 'error', not both"));
  BOOST_TEST(contains(
    bad(R"({"kind": "dir", "path": "/d", "entries": [], "error": "b"})"),
    "give either 'entries' or 'error'"));
  BOOST_TEST(contains(bad(R"({"kind": "proc", "pid": 7, "error": ""})"),
                      "field 'error': must not be empty"));
  BOOST_TEST(contains(
    bad(
      R"({"kind": "proc", "pid": 7, "start_time": 1, "state": "RS", "mntns": 1, "netns": 1})"),
    "field 'state': expected one character"));
  BOOST_TEST(
    contains(bad(R"({"kind": "state", "at_ms": 1, "dir": "", "id": "c"})"),
             "field 'dir': must not be empty"));
  BOOST_TEST(contains(bad(R"({"kind": "state", "at_ms": 1, "dir": "/r/c"})"),
                      "field 'id': missing"));
  BOOST_TEST(contains(
    bad(R"({"kind": "file", "at_ms": -1, "path": "/f", "content": ""})"),
    "field 'at_ms': expected a non-negative integer"));
}
