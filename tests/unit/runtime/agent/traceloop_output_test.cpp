// What `nodewatch traceloop` prints (runtime/agent/output) and how `agent
// --traceloop` is read: `list -o json` has exactly the keys id, name, mntns,
// live, bytes in that order; the list table's columns line up; `show` is
// decode.hpp's header, lines and footer (table), its JSON lines and the
// summary last (json), or the whole dump as msgpack that decodes back to
// it; --traceloop takes all, none or a selector and nothing else.
#define BOOST_TEST_MODULE traceloop_output
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/traceloop/decode.hpp"
#include "messages/msgpack_adaptors.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/agent/output.hpp"

using namespace nw;

namespace {

using strings = std::vector<std::string>;

strings lines_of(const std::string& text) {
  strings result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

strings words_of(const std::string& line) {
  strings result;
  std::istringstream in{line};
  for (std::string w; in >> w;)
    result.push_back(w);
  return result;
}

/// The word of `row` starting at the column of `word` in `header`.
std::string cell(const std::string& header, const std::string& row,
                 const std::string& word) {
  auto pos = header.find(word);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "no column " << word);
  BOOST_REQUIRE_MESSAGE(pos < row.size(), "row too short: " << row);
  BOOST_REQUIRE_MESSAGE(pos == 0 || row[pos - 1] == ' ',
                        "column " << word << " not aligned in: " << row);
  return row.substr(pos, row.find(' ', pos) - pos);
}

traceloop_ring_info web() {
  return {"c0ffee0123456789abcdef", "web", 4026532291ull, true, 262144};
}

traceloop_ring_info gone() {
  return {"d00d", "batch-job", 4026532300ull, false, 524288};
}

syscall_line write_hello() {
  syscall_line x;
  x.ts_ns = 1763932212000123000ull;
  x.cpu = 1;
  x.pid = 4242;
  x.tid = 4243;
  x.comm = "sh";
  x.syscall = "write";
  x.params = {{"fd", "1"}, {"buf", "\"hello\\n\""}, {"count", "6"}};
  x.ret = 6;
  return x;
}

syscall_line failed_open() {
  syscall_line x;
  x.ts_ns = 1763932212000456000ull;
  x.pid = 4242;
  x.tid = 4242;
  x.comm = "ls";
  x.syscall = "openat";
  x.params = {{"dfd", "AT_FDCWD"},
              {"filename", "\"/nonexistent\""},
              {"flags", "0"},
              {"mode", "0"}};
  x.ret = -1;
  x.errno_name = "ENOENT";
  x.errno_text = "No such file or directory";
  return x;
}

syscall_line unfinished_exit() {
  syscall_line x;
  x.ts_ns = 1763932212000789000ull;
  x.pid = 4242;
  x.tid = 4242;
  x.comm = "ls";
  x.syscall = "exit_group";
  x.params = {{"error_code", "2"}};
  x.unfinished = true;
  return x;
}

traceloop_dump sample_dump() {
  traceloop_dump x;
  x.ring = gone();
  x.lines = {write_hello(), failed_open(), unfinished_exit()};
  x.overwritten = 17;
  x.lost = 2;
  return x;
}

} // namespace

// -- traceloop list
// -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(list_json_has_exactly_its_keys_in_order) {
  auto out = format_traceloop_list({web(), gone()}, output_format::json);
  auto lines = lines_of(out);
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(out.back() == '\n');
  BOOST_TEST(lines[0]
             == R"({"id":"c0ffee0123456789abcdef","name":"web",)"
                R"("mntns":4026532291,"live":true,"bytes":262144})");
  BOOST_TEST(lines[1]
             == R"({"id":"d00d","name":"batch-job","mntns":4026532300,)"
                R"("live":false,"bytes":524288})");
  for (auto& line : lines) {
    auto j = nlohmann::ordered_json::parse(line);
    strings keys;
    for (auto& [k, v] : j.items())
      keys.push_back(k);
    BOOST_TEST(keys == strings({"id", "name", "mntns", "live", "bytes"}),
               boost::test_tools::per_element());
  }
  BOOST_TEST(format_traceloop_list({}, output_format::json).empty());
}

BOOST_AUTO_TEST_CASE(list_json_escapes_and_keeps_big_numbers) {
  auto x = web();
  x.id = std::string(64, 'a');
  x.name = "we\"b\\\n\xff";
  x.mntns = UINT64_MAX;
  x.bytes = UINT64_MAX - 1;
  auto j
    = nlohmann::json::parse(format_traceloop_list({x}, output_format::json));
  BOOST_TEST(j["id"].get<std::string>() == x.id);
  BOOST_TEST(j["name"].get<std::string>() == "we\"b\\\n\xef\xbf\xbd");
  BOOST_TEST(j["mntns"].get<uint64_t>() == UINT64_MAX);
  BOOST_TEST(j["bytes"].get<uint64_t>() == UINT64_MAX - 1);
}

BOOST_AUTO_TEST_CASE(list_table_columns) {
  auto big = gone();
  big.bytes = 1234567890123ull; // wider than its column: never cut
  auto lines
    = lines_of(format_traceloop_list({web(), big}, output_format::table));
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  auto& header = lines[0];
  BOOST_TEST(words_of(header)
               == strings({"ID", "NAME", "LIVE", "BYTES", "MNTNS"}),
             boost::test_tools::per_element());
  BOOST_TEST(
    words_of(lines[1])
      == strings({"c0ffee012345", "web", "yes", "262144", "4026532291"}),
    boost::test_tools::per_element());
  BOOST_TEST(cell(header, lines[1], "ID") == "c0ffee012345");
  BOOST_TEST(cell(header, lines[1], "NAME") == "web");
  BOOST_TEST(cell(header, lines[1], "LIVE") == "yes");
  BOOST_TEST(cell(header, lines[1], "BYTES") == "262144");
  BOOST_TEST(cell(header, lines[1], "MNTNS") == "4026532291");
  BOOST_TEST(cell(header, lines[2], "LIVE") == "no");
  BOOST_TEST(cell(header, lines[2], "BYTES") == "1234567890123");
  // The long number pushes MNTNS right rather than being cut.
  BOOST_TEST(words_of(lines[2]).back() == "4026532300");
  // No rings: the header alone.
  BOOST_TEST(lines_of(format_traceloop_list({}, output_format::table)).size()
             == 1u);
}

// -- traceloop show
// ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(show_table_is_header_lines_footer) {
  auto x = sample_dump();
  auto out = format_traceloop_dump(x, dump_format::table);
  BOOST_TEST(out
             == traceloop::table_header() + traceloop::table_line(x.lines[0])
                  + traceloop::table_line(x.lines[1])
                  + traceloop::table_line(x.lines[2])
                  + traceloop::table_footer(17, 2));
  auto lines = lines_of(out);
  BOOST_REQUIRE_EQUAL(lines.size(), 5u);
  BOOST_TEST(
    words_of(lines[0])
      == strings({"TIME", "CPU", "PID", "COMM", "SYSCALL", "PARAMS", "RET"}),
    boost::test_tools::per_element());
  BOOST_TEST(lines[1].find("write") != std::string::npos);
  BOOST_TEST(lines[1].find("buf=\"hello\\n\"") != std::string::npos, lines[1]);
  BOOST_TEST(lines[2].find("ENOENT") != std::string::npos, lines[2]);
  BOOST_TEST(lines[3].find("unfinished") != std::string::npos, lines[3]);
  BOOST_TEST(lines[4].find("17") != std::string::npos);
  // An empty ring: header and footer.
  traceloop_dump empty;
  BOOST_TEST(format_traceloop_dump(empty, dump_format::table)
             == traceloop::table_header() + traceloop::table_footer(0, 0));
}

BOOST_AUTO_TEST_CASE(show_json_lines_then_the_summary) {
  auto x = sample_dump();
  auto lines = lines_of(format_traceloop_dump(x, dump_format::json));
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(lines[i] + "\n" == traceloop::json_line(x.lines[i]));
  auto w = nlohmann::json::parse(lines[0]);
  BOOST_TEST(w["syscall"].get<std::string>() == "write");
  BOOST_TEST(w["ret"].get<int64_t>() == 6);
  BOOST_TEST(w["errno"].is_null());
  auto o = nlohmann::json::parse(lines[1]);
  BOOST_TEST(o["ret"].get<int64_t>() == -1);
  BOOST_TEST(o["errno"].get<std::string>() == "ENOENT");
  auto e = nlohmann::json::parse(lines[2]);
  BOOST_TEST(e["unfinished"].get<bool>());
  auto s = nlohmann::ordered_json::parse(lines[3]);
  BOOST_TEST(s.dump() == R"({"type":"summary","overwritten":17,"lost":2})");
  // An empty ring: the summary alone.
  traceloop_dump empty;
  BOOST_TEST(format_traceloop_dump(empty, dump_format::json)
             == traceloop::json_summary(0, 0));
}

BOOST_AUTO_TEST_CASE(show_msgpack_is_the_whole_dump) {
  auto x = sample_dump();
  auto bytes = format_traceloop_dump(x, dump_format::msgpack);
  BOOST_TEST(bytes == to_msgpack(x));
  traceloop_dump back;
  std::string error;
  BOOST_REQUIRE_MESSAGE(from_msgpack(bytes, back, error), error);
  BOOST_TEST((back == x));
  // A map keyed by the field names, for non-C++ readers.
  auto j = nlohmann::json::from_msgpack(bytes);
  BOOST_TEST(j["ring"]["id"].get<std::string>() == "d00d");
  BOOST_TEST(j["lines"].size() == 3u);
  BOOST_TEST(j["lines"][1]["errno_name"].get<std::string>() == "ENOENT");
  BOOST_TEST(j["overwritten"].get<uint64_t>() == 17u);
  BOOST_TEST(j["lost"].get<uint64_t>() == 2u);
}

// -- traceloop delete
// -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(delete_names_the_ring_freed) {
  auto line = format_traceloop_deleted(gone());
  BOOST_TEST(line
             == "deleted the traceloop ring of d00d (batch-job, gone), "
                "524288 bytes freed\n");
  line = format_traceloop_deleted(web());
  BOOST_TEST(line.find(" c0ffee0123456789abcdef (web, running")
               != std::string::npos,
             line);
  BOOST_TEST(line.find("no longer traced") != std::string::npos, line);
}

// -- agent --traceloop
// --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(traceloop_flag) {
  std::optional<selector> sel;
  std::string error;
  BOOST_TEST(parse_traceloop_flag("all", sel, error), error);
  BOOST_TEST((sel && sel->clauses.empty()));
  BOOST_TEST(parse_traceloop_flag("none", sel, error), error);
  BOOST_TEST(!sel);
  BOOST_TEST(
    parse_traceloop_flag("namespace=shop;container=!sidecar", sel, error),
    error);
  BOOST_REQUIRE(sel);
  BOOST_TEST(sel->clauses.size() == 2u);
  BOOST_TEST(to_string(*sel) == "namespace=shop;container=!sidecar");
  for (const std::string& bad :
       strings{"colour=red", "namespace", "namespace=", "", " ", ";", "All"}) {
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      sel = selector{};
      error.clear();
      BOOST_TEST(!parse_traceloop_flag(bad, sel, error));
      BOOST_TEST(!error.empty());
      // Untouched on error.
      BOOST_TEST((sel && sel->clauses.empty()));
    }
  }
  // The parser's own message comes through.
  parse_traceloop_flag("colour=red", sel, error);
  BOOST_TEST(error.find("colour") != std::string::npos, error);
  parse_traceloop_flag("", sel, error);
  BOOST_TEST(error.find("all, none") != std::string::npos, error);
}
