#define BOOST_TEST_MODULE pidfile
#include <boost/test/unit_test.hpp>

#include <string>

#include "actors/pidfile_watcher/pidfile.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw;

namespace {

std::string parse_err(std::string_view bytes) {
  auto res = parse_pidfile(bytes);
  BOOST_TEST_REQUIRE(!res.ok(), "unexpectedly accepted");
  BOOST_TEST(!res.error().empty());
  BOOST_TEST(res.error().find('\n') == std::string::npos);
  return res.error();
}

} // namespace

BOOST_AUTO_TEST_CASE(accepted) {
  struct {
    std::string_view bytes;
    int32_t pid;
  } cases[] = {
    {"1234", 1234},   // runc, crun: no newline
    {"1234\n", 1234}, // conmon-style, hand-written files
    {" \t42 \r\n", 42},
    {"\v\f7\f", 7},
    {"1", 1},
    {"00042", 42},              // leading zeros are still decimal
    {"2147483647", 2147483647}, // INT32_MAX
    {"4194304", 4194304},       // PID_MAX_LIMIT
  };
  for (auto& c : cases) {
    auto res = parse_pidfile(c.bytes);
    BOOST_TEST_REQUIRE(res.ok(),
                       "rejected '" << c.bytes << "': " << res.error());
    BOOST_TEST(res.value() == c.pid);
    BOOST_TEST(res.error().empty());
  }
  // Exactly 32 bytes, whitespace included.
  std::string edge = "12" + std::string(max_pidfile_bytes - 2, ' ');
  BOOST_TEST(parse_pidfile(edge).value() == 12);
}

BOOST_AUTO_TEST_CASE(rejected) {
  BOOST_TEST(contains(parse_err("0"), "pid 0"));
  BOOST_TEST(contains(parse_err("000\n"), "pid 0"));
  BOOST_TEST(contains(parse_err("-1"), "has a sign"));
  BOOST_TEST(contains(parse_err("+1"), "has a sign"));
  BOOST_TEST(contains(parse_err("12a"), "'12a' is not a decimal number"));
  BOOST_TEST(contains(parse_err("0x10"), "not a decimal number"));
  BOOST_TEST(contains(parse_err("1 2"), "not a decimal number"));
  BOOST_TEST(contains(parse_err("1e3"), "not a decimal number"));
  BOOST_TEST(contains(parse_err("\xd9\xa1"), "not a decimal number"));
  BOOST_TEST(contains(parse_err(std::string_view{"12\0", 3}),
                      "'12\\x00' is not a decimal number"));
  BOOST_TEST(contains(parse_err("99999999999"), "out of range"));
  BOOST_TEST(contains(parse_err("2147483648"), "out of range"));
  BOOST_TEST(contains(parse_err(std::string(32, '9')), "out of range"));
  BOOST_TEST(contains(parse_err(""), "empty"));
  BOOST_TEST(contains(parse_err(" \n\t"), "empty"));
  // 33 bytes is over the bound even if the content would parse.
  std::string big = "12" + std::string(max_pidfile_bytes - 1, ' ');
  BOOST_REQUIRE_EQUAL(big.size(), 33u);
  BOOST_TEST(contains(parse_err(big), "33 bytes"));
  BOOST_TEST(contains(parse_err(std::string(1 << 20, '1')), "1048576 bytes"));
}
