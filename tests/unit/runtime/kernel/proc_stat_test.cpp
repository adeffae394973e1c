// parse_proc_stat on what /proc/PID/stat may hold: a comm with spaces and
// parentheses (a process names itself), truncated or garbled lines.
#define BOOST_TEST_MODULE proc_stat
#include <boost/test/unit_test.hpp>

#include <string>

#include "runtime/kernel/proc_stat.hpp"

namespace {

/// A stat line with `comm`, `state` and `start` (fields 4..21 filled).
std::string line(const std::string& comm, char state,
                 const std::string& start) {
  return "4242 (" + comm + ") " + state
         + " 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 " + start
         + " 4096 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n";
}

nw::proc_stat parse_ok(const std::string& text) {
  nw::proc_stat out;
  std::string error;
  BOOST_TEST_REQUIRE(nw::parse_proc_stat(text, out, error), error);
  return out;
}

std::string parse_error(const std::string& text) {
  nw::proc_stat out;
  std::string error;
  BOOST_TEST_REQUIRE(!nw::parse_proc_stat(text, out, error), "accepted");
  return error;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_plain_line) {
  auto st = parse_ok(line("sleep", 'S', "123456"));
  BOOST_TEST(st.comm == "sleep");
  BOOST_TEST(st.state == 'S');
  BOOST_TEST(st.start_time == 123456u);
}

BOOST_AUTO_TEST_CASE(a_comm_with_spaces_and_parentheses_ends_at_the_last_one) {
  auto st = parse_ok(line(") Z 1 2 (x", 'R', "99"));
  BOOST_TEST(st.comm == ") Z 1 2 (x");
  BOOST_TEST(st.state == 'R');
  BOOST_TEST(st.start_time == 99u);
  BOOST_TEST(parse_ok(line("runc:[2:INIT]", 'S', "7")).comm == "runc:[2:INIT]");
  BOOST_TEST(parse_ok(line("", 'Z', "7")).state == 'Z');
}

BOOST_AUTO_TEST_CASE(bad_lines_are_rejected_with_a_reason) {
  BOOST_TEST(parse_error("") == "no (comm)");
  BOOST_TEST(parse_error("4242 sleep S 1") == "no (comm)");
  BOOST_TEST(parse_error("4242 (sleep") == "no (comm)");
  BOOST_TEST(parse_error("4242 (sleep) S 1 2 3\n").find("too few fields")
             == 0u);
  BOOST_TEST(parse_error("4242 (sleep)").find("too few fields") == 0u);
  BOOST_TEST(parse_error(line("sleep", 'S', "12x")) == "bad start time");
  BOOST_TEST(parse_error(line("sleep", 'S', "-1")) == "bad start time");
  BOOST_TEST(parse_error(line("sleep", 'S', "99999999999999999999999"))
             == "bad start time");
  auto two_spaces = line("sleep", 'S', "5");
  two_spaces.insert(two_spaces.find(") S") + 1, " ");
  BOOST_TEST(parse_error(two_spaces).find("too few fields") == 0u);
}
