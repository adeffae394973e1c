#define BOOST_TEST_MODULE traceloop_decode
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/traceloop/decode.hpp"
#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/syscalls.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw::traceloop;

namespace {

const syscall_table& names() {
  return syscall_table::native();
}

const format_table& formats() {
  static const format_table t = format_table::load(NW_TRACEFS_DATA, names());
  return t;
}

int32_t nr_of(const char* name) {
  auto nr = names().number(name);
  BOOST_TEST_REQUIRE(nr.has_value(), "libseccomp does not know " << name);
  return *nr;
}

/// 2025-11-23 21:10:12.345678901 UTC.
constexpr uint64_t ts = 1763932212345678901ull;

syscall_record record(const char* syscall) {
  syscall_record r;
  r.ts_ns = ts;
  r.cpu = 1;
  r.pid = 4242;
  r.tid = 4243;
  r.comm = "sh";
  r.nr = nr_of(syscall);
  r.has_exit = true;
  return r;
}

capture captured(std::string bytes, bool truncated = false) {
  capture c;
  c.bytes = std::move(bytes);
  c.truncated = truncated;
  return c;
}

syscall_record hello_write() {
  auto r = record("write");
  r.args = {1, 0x7ffd1000, 6, 0, 0, 0};
  r.captures[1] = captured("hello\n");
  r.ret = 6;
  return r;
}

syscall_record enoent_openat() {
  auto r = record("openat");
  r.args = {static_cast<uint64_t>(-100), 0x5555a000, 0x80000, 0, 0, 0};
  r.captures[1] = captured("/nonexistent");
  r.ret = -ENOENT;
  return r;
}

/// The table line's columns: TIME CPU PID COMM SYSCALL, then PARAMS and RET
/// split at the last "  = " (RET alone when it follows SYSCALL).
struct table_fields {
  std::string time, cpu, pid, comm, syscall, params, ret;
};

table_fields split_line(const std::string& line) {
  table_fields out;
  BOOST_TEST_REQUIRE(!line.empty());
  BOOST_TEST(line.back() == '\n');
  auto body = line.substr(0, line.size() - 1);
  BOOST_TEST(body.find('\n') == std::string::npos);
  std::string* cols[]
    = {&out.time, &out.cpu, &out.pid, &out.comm, &out.syscall};
  size_t pos = 0;
  for (auto* c : cols) {
    auto start = body.find_first_not_of(' ', pos);
    auto end = body.find(' ', start);
    *c = body.substr(start, end - start);
    pos = end;
  }
  auto rest = body.substr(body.find_first_not_of(' ', pos));
  if (rest.rfind("= ", 0) == 0) { // no params
    out.ret = rest;
    return out;
  }
  auto eq = rest.rfind("  = ");
  BOOST_TEST_REQUIRE(eq != std::string::npos);
  out.params = rest.substr(0, eq);
  out.ret = rest.substr(eq + 2);
  return out;
}

nlohmann::json parse_json(const std::string& line) {
  BOOST_TEST_REQUIRE(!line.empty());
  BOOST_TEST(line.back() == '\n');
  BOOST_TEST(line.find('\n') == line.size() - 1);
  return nlohmann::json::parse(line);
}

std::vector<std::string> keys_in_order(const std::string& line) {
  std::vector<std::string> out;
  auto j = nlohmann::ordered_json::parse(line);
  for (auto& [k, v] : j.items())
    out.push_back(k);
  return out;
}

std::string value_of(const decoded_syscall& d, const std::string& name) {
  for (auto& p : d.params)
    if (p.name == name)
      return p.value;
  BOOST_FAIL("no param " + name);
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(write_hello_table) {
  auto d = decode(hello_write(), names(), formats());
  auto f = split_line(table_line(d));
  BOOST_TEST(f.time == "21:10:12.345678");
  BOOST_TEST(f.cpu == "1");
  BOOST_TEST(f.pid == "4242");
  BOOST_TEST(f.comm == "sh");
  BOOST_TEST(f.syscall == "write");
  BOOST_TEST(f.params == R"(fd=1, buf="hello\n", count=6)");
  BOOST_TEST(f.ret == "= 6");
}

BOOST_AUTO_TEST_CASE(write_hello_json) {
  auto line = json_line(decode(hello_write(), names(), formats()));
  BOOST_TEST(keys_in_order(line)
             == (std::vector<std::string>{"ts_ns", "cpu", "pid", "tid", "comm",
                                          "syscall", "params", "ret", "errno",
                                          "unfinished"}));
  auto j = parse_json(line);
  BOOST_TEST(j["ts_ns"].get<uint64_t>() == ts);
  BOOST_TEST(j["cpu"].get<int>() == 1);
  BOOST_TEST(j["pid"].get<int>() == 4242);
  BOOST_TEST(j["tid"].get<int>() == 4243);
  BOOST_TEST(j["comm"] == "sh");
  BOOST_TEST(j["syscall"] == "write");
  BOOST_TEST_REQUIRE(j["params"].size() == 3u);
  BOOST_TEST(j["params"][0]["name"] == "fd");
  BOOST_TEST(j["params"][0]["value"] == "1");
  BOOST_TEST(j["params"][1]["name"] == "buf");
  BOOST_TEST(j["params"][1]["value"] == "\"hello\\n\"");
  BOOST_TEST(j["params"][2]["name"] == "count");
  BOOST_TEST(j["params"][2]["value"] == "6");
  BOOST_TEST(j["ret"].get<int64_t>() == 6);
  BOOST_TEST(j["errno"].is_null());
  BOOST_TEST(j["unfinished"] == false);
  // CONTRACTS.md's example, byte for byte where it is literal.
  BOOST_TEST(contains(line, R"({"name":"buf","value":"\"hello\\n\""})"));
}

BOOST_AUTO_TEST_CASE(openat_enoent_both_formats) {
  auto d = decode(enoent_openat(), names(), formats());
  BOOST_TEST(value_of(d, "dfd") == "AT_FDCWD");
  BOOST_TEST(value_of(d, "filename") == "\"/nonexistent\"");
  BOOST_TEST(value_of(d, "flags") == std::to_string(0x80000));
  BOOST_TEST(value_of(d, "mode") == "0");
  auto f = split_line(table_line(d));
  BOOST_TEST(f.syscall == "openat");
  BOOST_TEST(
    f.params
    == R"(dfd=AT_FDCWD, filename="/nonexistent", flags=524288, mode=0)");
  BOOST_TEST(f.ret == "= -1 ENOENT (No such file or directory)");
  auto j = parse_json(json_line(d));
  BOOST_TEST(j["syscall"] == "openat");
  BOOST_TEST(j["params"][0]["name"] == "dfd");
  BOOST_TEST(j["params"][0]["value"] == "AT_FDCWD");
  BOOST_TEST(j["params"][1]["name"] == "filename");
  BOOST_TEST(j["params"][1]["value"] == "\"/nonexistent\"");
  BOOST_TEST(j["ret"].get<int64_t>() == -1);
  BOOST_TEST(j["errno"] == "ENOENT");
  BOOST_TEST(j["unfinished"] == false);
}

BOOST_AUTO_TEST_CASE(integers_pointers_and_modes) {
  auto r = record("openat");
  // An int in a register whose upper half is not the caller's: cut, then
  // sign-extended. A dfd that is not -100 stays a number.
  r.args = {0xdeadbeef00000003ull, 0, 0x241, 0644, 0, 0};
  r.ret = 3;
  auto d = decode(r, names(), formats());
  BOOST_TEST(value_of(d, "dfd") == "3");
  BOOST_TEST(value_of(d, "filename") == "NULL"); // not captured, 0
  BOOST_TEST(value_of(d, "flags") == "577");
  BOOST_TEST(value_of(d, "mode") == "0644");
  r.args[0] = 0xffffffffu; // -1 as a 32-bit int
  r.args[1] = 0x7ffe0000abcdull;
  d = decode(r, names(), formats());
  BOOST_TEST(value_of(d, "dfd") == "-1");
  BOOST_TEST(value_of(d, "filename") == "0x7ffe0000abcd");
  // A failed capture shows the pointer.
  r.captures[1] = capture{"", false, true};
  d = decode(r, names(), formats());
  BOOST_TEST(value_of(d, "filename") == "0x7ffe0000abcd");
  // size_t is 64-bit unsigned.
  auto w = hello_write();
  w.args[2] = ~uint64_t{0};
  BOOST_TEST(value_of(decode(w, names(), formats()), "count")
             == "18446744073709551615");
}

BOOST_AUTO_TEST_CASE(escaping) {
  BOOST_TEST(quote_bytes("hello\n", false) == R"("hello\n")");
  BOOST_TEST(quote_bytes("", false) == R"("")");
  BOOST_TEST(quote_bytes("a\"b\\c", false) == R"("a\"b\\c")");
  BOOST_TEST(quote_bytes("\t\r\v\f", false) == R"("\t\r\v\f")");
  BOOST_TEST(quote_bytes(std::string("\0\x01\x1b\x7f\x80\xff", 6), false)
             == R"("\x00\x01\x1b\x7f\x80\xff")");
  BOOST_TEST(quote_bytes("caf\xc3\xa9", false) == R"("caf\xc3\xa9")");
  // A buffer with NULs inside (write of binary data).
  auto w = hello_write();
  w.captures[1] = captured(std::string("a\0b", 3));
  BOOST_TEST(value_of(decode(w, names(), formats()), "buf") == R"("a\x00b")");
}

BOOST_AUTO_TEST_CASE(truncated) {
  BOOST_TEST(quote_bytes("abc", true) == R"("abc"...)");
  auto w = hello_write();
  w.args[2] = 4096;
  w.ret = 4096;
  w.captures[1] = captured(std::string(capture_max, 'x'), true);
  auto d = decode(w, names(), formats());
  BOOST_TEST(value_of(d, "buf")
             == "\"" + std::string(capture_max, 'x') + "\"...");
  auto j = parse_json(json_line(d));
  BOOST_TEST(j["params"][1]["value"]
             == "\"" + std::string(capture_max, 'x') + "\"...");
}

BOOST_AUTO_TEST_CASE(unknown_number_decodes_raw) {
  auto r = record("write");
  r.nr = 100000;
  r.args = {1, 0x7ffd1000, 0, 0, 0, 0xffffffffffffffffull};
  r.captures[1] = captured("hi");
  r.ret = 0;
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.syscall == "syscall_100000");
  BOOST_TEST(d.raw);
  BOOST_TEST_REQUIRE(d.params.size() == 6u);
  BOOST_TEST(d.params[0].name == "arg0");
  BOOST_TEST(d.params[0].value == "0x1");
  BOOST_TEST(d.params[1].value == "\"hi\""); // what was captured still shows
  BOOST_TEST(d.params[2].value == "0");
  BOOST_TEST(d.params[5].name == "arg5");
  BOOST_TEST(d.params[5].value == "0xffffffffffffffff");
  auto f = split_line(table_line(d));
  BOOST_TEST(f.syscall == "syscall_100000");
  BOOST_TEST(
    f.params
    == R"(arg0=0x1, arg1="hi", arg2=0, arg3=0, arg4=0, arg5=0xffffffffffffffff)");
  BOOST_TEST(f.ret == "= 0");
  r.nr = -1;
  BOOST_TEST(decode(r, names(), formats()).syscall == "syscall_-1");
}

BOOST_AUTO_TEST_CASE(a_malformed_format_decodes_that_syscall_raw_only) {
  auto r = record("close"); // its fixture is malformed
  r.args = {3, 0, 0, 0, 0, 0};
  r.ret = 0;
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.syscall == "close");
  BOOST_TEST(d.raw);
  BOOST_TEST(d.params[0].name == "arg0");
  BOOST_TEST(d.params[0].value == "0x3");
  // A known syscall with no format at all (getppid has no fixture).
  auto g = record("getppid");
  g.ret = 1;
  BOOST_TEST(decode(g, names(), formats()).raw);
  // The read goes on: the next record decodes with its names.
  auto w = decode(hello_write(), names(), formats());
  BOOST_TEST(!w.raw);
  BOOST_TEST(w.params[0].name == "fd");
}

BOOST_AUTO_TEST_CASE(no_params) {
  auto r = record("getpid");
  r.ret = 4242;
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.params.empty());
  auto f = split_line(table_line(d));
  BOOST_TEST(f.syscall == "getpid");
  BOOST_TEST(f.params == "");
  BOOST_TEST(f.ret == "= 4242");
  BOOST_TEST(contains(json_line(d), R"("params":[],"ret":4242,)"));
}

BOOST_AUTO_TEST_CASE(unfinished) {
  auto r = record("execve");
  r.has_exit = false;
  r.unfinished = true;
  r.args = {0x1000, 0x2000, 0x3000, 0, 0, 0};
  r.captures[0] = captured("/bin/sh");
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.unfinished);
  auto f = split_line(table_line(d));
  BOOST_TEST(f.params == R"(filename="/bin/sh", argv=0x2000, envp=0x3000)");
  BOOST_TEST(f.ret == "= ? <unfinished>");
  auto j = parse_json(json_line(d));
  BOOST_TEST(j["ret"].get<int64_t>() == 0);
  BOOST_TEST(j["errno"].is_null());
  BOOST_TEST(j["unfinished"] == true);
  // Without an exit but not flagged: the same.
  r.unfinished = false;
  BOOST_TEST(decode(r, names(), formats()).unfinished);
}

BOOST_AUTO_TEST_CASE(errno_names) {
  BOOST_TEST(errno_name(ENOENT) == "ENOENT");
  BOOST_TEST(errno_text(ENOENT) == "No such file or directory");
  BOOST_TEST(errno_name(EAGAIN) == "EAGAIN");
  BOOST_TEST(errno_name(512) == "ERESTARTSYS");
  BOOST_TEST(errno_name(516) == "ERESTART_RESTARTBLOCK");
  BOOST_TEST(errno_name(4000) == "ERRNO_4000");
  BOOST_TEST(errno_text(4000) == "Unknown error 4000");
  auto r = record("read");
  r.args = {0, 0x1000, 10, 0, 0, 0};
  r.ret = -512;
  auto f = split_line(table_line(decode(r, names(), formats())));
  BOOST_TEST(f.ret
             == "= -1 ERESTARTSYS (To be restarted if SA_RESTART is set)");
  // -4095 is the last error; -4096 is a value (an mmap address, say).
  r.ret = -4095;
  BOOST_TEST(decode(r, names(), formats()).errno_name == "ERRNO_4095");
  r.ret = -4096;
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.errno_name.empty());
  BOOST_TEST(d.ret == -4096);
}

BOOST_AUTO_TEST_CASE(read_buffer_out) {
  auto r = record("read");
  r.args = {3, 0x1000, 4096, 0, 0, 0};
  r.captures[1] = captured("root:x:0:0");
  r.ret = 10;
  auto f = split_line(table_line(decode(r, names(), formats())));
  BOOST_TEST(f.params == R"(fd=3, buf="root:x:0:0", count=4096)");
  BOOST_TEST(f.ret == "= 10");
}

BOOST_AUTO_TEST_CASE(comm_cannot_forge_lines) {
  auto r = hello_write();
  r.comm = std::string("a\nb\xff", 4) + std::string(3, '\0');
  auto d = decode(r, names(), formats());
  BOOST_TEST(d.comm == "a\nb\xff");
  auto line = table_line(d);
  BOOST_TEST(line.find('\n') == line.size() - 1);
  BOOST_TEST(contains(line, R"( a\nb\xff )"));
  auto j = parse_json(json_line(d));
  BOOST_TEST(j["comm"] == "a\nb\xef\xbf\xbd"); // invalid UTF-8 replaced
}

BOOST_AUTO_TEST_CASE(time_column) {
  BOOST_TEST(format_time(0) == "00:00:00.000000");
  BOOST_TEST(format_time(ts) == "21:10:12.345678");
  BOOST_TEST(format_time(86399999999999ull) == "23:59:59.999999");
}

BOOST_AUTO_TEST_CASE(header_footer_summary) {
  BOOST_TEST(table_header()
             == "TIME            CPU PID     COMM             SYSCALL          "
                "PARAMS  RET\n");
  BOOST_TEST(table_footer(12, 3) == "-- overwritten: 12, lost: 3\n");
  auto s = json_summary(12, 3);
  BOOST_TEST(s == "{\"type\":\"summary\",\"overwritten\":12,\"lost\":3}\n");
  auto j = parse_json(s);
  BOOST_TEST(j["overwritten"].get<uint64_t>() == 12u);
}
