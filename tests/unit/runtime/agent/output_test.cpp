// What `nodewatch net` and `ps -o wide` print (runtime/agent/output), and the
// checks of `agent --tc-program` and `--tc-iface`: `net -o json` has exactly
// CONTRACTS.md's keys in order; the tables' columns line up; wide joins the
// counters by id and shows "-" without them.
#define BOOST_TEST_MODULE output
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/agent/commands.hpp"
#include "runtime/agent/output.hpp"
#include "tests/support/temp_dir.hpp"

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

net_stats web() {
  net_stats x;
  x.id = "c0ffee0123456789abcdef";
  x.name = "web";
  x.netns = 4026532294ull;
  x.rx_packets = 10;
  x.rx_bytes = 1500;
  x.tx_packets = 20;
  x.tx_bytes = 2500;
  x.interfaces = {"veth1a2b", "veth3c4d"};
  return x;
}

net_stats hostnet() {
  net_stats x;
  x.id = "d00d";
  x.name = "node-exporter";
  x.netns = 4026531840ull;
  x.note = "host network";
  return x;
}

container_event container(std::string id, std::string name) {
  container_event ev;
  ev.kind = event_kind::added;
  ev.seq = 1;
  auto& c = ev.info.unshared();
  c.id = std::move(id);
  c.name = std::move(name);
  c.pid = 1234;
  c.runtime = "runc";
  c.mntns = 4026532291ull;
  c.netns = 4026532294ull;
  c.k8s.namespace_ = "shop";
  c.k8s.pod = "web-0";
  c.bundle = "/run/containerd/" + c.id;
  return ev;
}

/// The column of each header word (where it starts).
size_t column_of(const std::string& header, const std::string& word) {
  auto pos = header.find(word);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "no column " << word);
  return pos;
}

/// The word of `row` starting at the column of `word` in `header`.
std::string cell(const std::string& header, const std::string& row,
                 const std::string& word) {
  auto pos = column_of(header, word);
  BOOST_REQUIRE_MESSAGE(pos < row.size(), "row too short: " << row);
  BOOST_REQUIRE_MESSAGE(pos == 0 || row[pos - 1] == ' ',
                        "column " << word << " not aligned in: " << row);
  return row.substr(pos, row.find(' ', pos) - pos);
}

} // namespace

// -- net -o json --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(net_json_has_exactly_the_contract_keys_in_order) {
  auto out = format_net({web(), hostnet()}, output_format::json);
  auto lines = lines_of(out);
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(out.back() == '\n');
  BOOST_TEST(lines[0]
             == R"({"id":"c0ffee0123456789abcdef","name":"web",)"
                R"("rx_packets":10,"rx_bytes":1500,"tx_packets":20,)"
                R"("tx_bytes":2500})");
  // Not counted: zeros (the table says why; JSON keeps to the six keys).
  BOOST_TEST(lines[1]
             == R"({"id":"d00d","name":"node-exporter","rx_packets":0,)"
                R"("rx_bytes":0,"tx_packets":0,"tx_bytes":0})");
  for (auto& line : lines) {
    auto j = nlohmann::ordered_json::parse(line);
    strings keys;
    for (auto& [k, v] : j.items())
      keys.push_back(k);
    BOOST_TEST(keys
                 == strings({"id", "name", "rx_packets", "rx_bytes",
                             "tx_packets", "tx_bytes"}),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(net_json_escapes_and_keeps_full_ids_and_big_counts) {
  auto x = web();
  x.id = std::string(64, 'a');
  x.name = "we\"b\\\n\xff";
  x.tx_bytes = UINT64_MAX;
  auto line = format_net({x}, output_format::json);
  auto j = nlohmann::json::parse(line);
  BOOST_TEST(j["id"].get<std::string>() == x.id);
  BOOST_TEST(j["name"].get<std::string>() == "we\"b\\\n\xef\xbf\xbd");
  BOOST_TEST(j["tx_bytes"].get<uint64_t>() == UINT64_MAX);
  BOOST_TEST(format_net({}, output_format::json).empty());
}

// -- net table ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(net_table_columns) {
  auto x = web();
  x.rx_bytes = 123456789012345ull; // wider than its column: never cut
  auto lines = lines_of(format_net({x, hostnet()}, output_format::table));
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  auto& header = lines[0];
  BOOST_TEST(words_of(header)
               == strings({"ID", "NAME", "RX_PKTS", "RX_BYTES", "TX_PKTS",
                           "TX_BYTES", "INTERFACES/NOTE"}),
             boost::test_tools::per_element());
  BOOST_TEST(words_of(lines[1])
               == strings({"c0ffee012345", "web", "10", "123456789012345", "20",
                           "2500", "veth1a2b,veth3c4d"}),
             boost::test_tools::per_element());
  BOOST_TEST(cell(header, lines[1], "ID") == "c0ffee012345");
  BOOST_TEST(cell(header, lines[1], "RX_PKTS") == "10");
  BOOST_TEST(cell(header, lines[1], "RX_BYTES") == "123456789012345");
  BOOST_TEST(cell(header, lines[1], "TX_BYTES") == "2500");
  // Not counted: "-" rather than zeros, and the note says why.
  BOOST_TEST(cell(header, lines[2], "RX_PKTS") == "-");
  BOOST_TEST(cell(header, lines[2], "TX_BYTES") == "-");
  auto note = column_of(header, "INTERFACES/NOTE");
  BOOST_TEST(lines[2].substr(note) == "host network");
  // Only the header without containers.
  BOOST_TEST(lines_of(format_net({}, output_format::table)).size() == 1u);
}

// -- ps -o wide ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(ps_wide_joins_the_counters_by_id) {
  std::vector<container_event> xs{container("c0ffee0123456789abcdef", "web"),
                                  container("d00d", "node-exporter"),
                                  container("e1e1", "fresh")};
  // Another order than the list's, an id the list does not have, none for
  // e1e1 (started after the counters were read).
  auto other = web();
  other.id = "ffff";
  other.rx_packets = 99;
  std::vector<net_stats> net{hostnet(), other, web()};
  auto lines = lines_of(format_ps(xs, output_format::wide, net));
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  auto& header = lines[0];
  BOOST_TEST(words_of(header)
               == strings({"ID", "NAME", "RUNTIME", "PID", "NAMESPACE", "POD",
                           "MNTNS", "NETNS", "RX_PKTS", "RX_BYTES", "TX_PKTS",
                           "TX_BYTES", "BUNDLE"}),
             boost::test_tools::per_element());
  BOOST_TEST(cell(header, lines[1], "ID") == "c0ffee012345");
  BOOST_TEST(cell(header, lines[1], "RX_PKTS") == "10");
  BOOST_TEST(cell(header, lines[1], "RX_BYTES") == "1500");
  BOOST_TEST(cell(header, lines[1], "TX_PKTS") == "20");
  BOOST_TEST(cell(header, lines[1], "TX_BYTES") == "2500");
  BOOST_TEST(cell(header, lines[1], "BUNDLE")
             == "/run/containerd/c0ffee0123456789abcdef");
  for (size_t row : {2, 3}) {
    BOOST_TEST_CONTEXT("row " << row) {
      for (auto col : {"RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES"})
        BOOST_TEST(cell(header, lines[row], col) == "-");
      BOOST_TEST(cell(header, lines[row], "NETNS") == "4026532294");
    }
  }
  BOOST_TEST(cell(header, lines[3], "BUNDLE") == "/run/containerd/e1e1");
}

BOOST_AUTO_TEST_CASE(ps_wide_without_counters_prints_dashes) {
  std::vector<container_event> xs{container("c0ffee0123456789abcdef", "web"),
                                  container("d00d", "node-exporter")};
  auto without = format_ps(xs, output_format::wide);
  BOOST_TEST(without == format_ps(xs, output_format::wide, std::nullopt));
  auto lines = lines_of(without);
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  for (size_t row : {1, 2})
    for (auto col : {"RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES"})
      BOOST_TEST(cell(lines[0], lines[row], col) == "-");
  // An empty answer (no container tracked) looks the same.
  BOOST_TEST(format_ps(xs, output_format::wide, std::vector<net_stats>{})
             == without);
  // No containers: the header alone.
  BOOST_TEST(lines_of(format_ps({}, output_format::wide)).size() == 1u);
}

BOOST_AUTO_TEST_CASE(ps_table_and_json_ignore_the_counters) {
  std::vector<container_event> xs{container("c0ffee0123456789abcdef", "web")};
  std::vector<net_stats> net{web()};
  for (auto fmt : {output_format::table, output_format::json})
    BOOST_TEST(format_ps(xs, fmt, net) == format_ps(xs, fmt));
  BOOST_TEST(format_ps(xs, output_format::table).find("RX_")
             == std::string::npos);
}

// -- agent --tc-program, --tc-iface -------------------------------------------

BOOST_AUTO_TEST_CASE(tc_program_shape) {
  test::temp_dir dir;
  auto base = dir.path().string();
  auto obj = base + "/prog.o";
  std::ofstream{obj} << "ELF";
  std::string error;
  BOOST_TEST(check_tc_program(obj + ":tc", error), error);
  BOOST_TEST(check_tc_program(obj + ":classifier/ingress", error), error);
  struct bad {
    std::string text;
    std::string says;
  };
  for (auto& [text, says] : std::vector<bad>{
         {"prog.o", "no ':'"},
         {"", "no ':'"},
         {":tc", "no FILE"},
         {obj + ":", "no SECTION"},
         {base + "/prog.c:tc", "is not a .o file"},
         {".o:tc", "is not a .o file"},
         {base + "/missing.o:tc", "No such file"},
         {base + ":tc", "is not a .o file"},
       }) {
    BOOST_TEST_CONTEXT("'" << text << "'") {
      error.clear();
      BOOST_TEST(!check_tc_program(text, error));
      BOOST_TEST(error.find(says) != std::string::npos, error);
    }
  }
  auto sub = base + "/d.o";
  BOOST_REQUIRE(std::filesystem::create_directory(sub));
  BOOST_TEST(!check_tc_program(sub + ":tc", error));
  BOOST_TEST(error.find("not a regular file") != std::string::npos, error);
}

BOOST_AUTO_TEST_CASE(tc_iface_names) {
  std::string error;
  for (const std::string& ok : std::vector<std::string>{
         "eth0", "cni0", "veth1a2b3c4d", "a", "br-0123456789a",
         "123456789012345", "vlan.10", "we@ird"})
    BOOST_TEST(check_iface_name(ok, error), ok << ": " << error);
  for (const std::string& bad : std::vector<std::string>{
         "", "1234567890123456", "a/b", "eth0:1", "eth 0", "eth\t0", ".", "..",
         std::string("a\0b", 3)}) {
    BOOST_TEST_CONTEXT("'" << bad << "'") {
      error.clear();
      BOOST_TEST(!check_iface_name(bad, error));
      BOOST_TEST(!error.empty());
    }
  }
}

// `status -o json`: exactly one object with CONTRACTS.md's four keys, in
// order; the table: VERSION, KERNEL, FEATURES (NAME=on|off), then one
// NAME VALUE line per counter, sorted.
BOOST_AUTO_TEST_CASE(status_json_and_table) {
  node_status st;
  st.version = "0.1.0";
  st.kernel = "6.1.0-test";
  st.features = {{"tc", true}, {"pidfd", false}};
  st.counters
    = {{"registry_added", 3}, {"edge_held", 8}, {"status_sources_missing", 0}};
  auto json = format_status(st, output_format::json);
  BOOST_TEST(lines_of(json).size() == 1u, json);
  auto j = nlohmann::ordered_json::parse(json);
  strings keys;
  for (auto& kv : j.items())
    keys.push_back(kv.key());
  BOOST_TEST(keys == (strings{"version", "kernel", "features", "counters"}),
             json);
  BOOST_TEST(j["version"] == "0.1.0");
  BOOST_TEST(j["kernel"] == "6.1.0-test");
  BOOST_TEST(j["features"]["tc"] == true);
  BOOST_TEST(j["features"]["pidfd"] == false);
  BOOST_TEST(j["counters"]["registry_added"] == 3);
  BOOST_TEST(j["counters"]["edge_held"] == 8);
  BOOST_TEST(j["counters"].size() == 3u);
  // Empty maps are objects, not null.
  auto empty = nlohmann::json::parse(
    format_status(node_status{"v", "k", {}, {}}, output_format::json));
  BOOST_TEST(empty["features"].is_object());
  BOOST_TEST(empty["counters"].is_object());

  auto table = lines_of(format_status(st, output_format::table));
  BOOST_TEST_REQUIRE(table.size() == 7u);
  BOOST_TEST(words_of(table[0]) == (strings{"VERSION", "0.1.0"}));
  BOOST_TEST(words_of(table[1]) == (strings{"KERNEL", "6.1.0-test"}));
  BOOST_TEST(words_of(table[2]) == (strings{"FEATURES", "pidfd=off", "tc=on"}));
  BOOST_TEST(words_of(table[3]) == (strings{"COUNTER", "VALUE"}));
  BOOST_TEST(words_of(table[4]) == (strings{"edge_held", "8"}));
  BOOST_TEST(words_of(table[5]) == (strings{"registry_added", "3"}));
  BOOST_TEST(words_of(table[6]) == (strings{"status_sources_missing", "0"}));
  // The values line up.
  BOOST_TEST(table[4].find('8') == table[5].find('3'));
}
