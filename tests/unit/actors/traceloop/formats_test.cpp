#define BOOST_TEST_MODULE traceloop_formats
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/syscalls.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw::traceloop;

namespace nw::traceloop {

// For Boost.Test's messages.
std::ostream& operator<<(std::ostream& os, value_kind x) {
  return os << "value_kind " << static_cast<int>(x);
}

std::ostream& operator<<(std::ostream& os, capture_kind x) {
  return os << "capture_kind " << static_cast<int>(x);
}

} // namespace nw::traceloop

namespace {

const syscall_table& names() {
  return syscall_table::native();
}

const format_table& fixtures() {
  static const format_table t = format_table::load(NW_TRACEFS_DATA, names());
  return t;
}

int32_t nr_of(const char* name) {
  auto nr = names().number(name);
  BOOST_TEST_REQUIRE(nr.has_value(), "libseccomp does not know " << name);
  return *nr;
}

const syscall_format& format_of(const char* name) {
  auto* f = fixtures().find(nr_of(name));
  BOOST_TEST_REQUIRE(f != nullptr, "no format for " << name);
  return *f;
}

std::vector<std::string> param_names(const syscall_format& f) {
  std::vector<std::string> out;
  for (auto& p : f.params)
    out.push_back(p.name);
  return out;
}

bool rule_is(const nw_traceloop_capture_rule& r, int kind, int arg,
             int len_arg) {
  return r.kind == kind && r.arg == arg && r.len_arg == len_arg && r.pad == 0;
}

/// The problem line about `event`, or "".
std::string problem_of(const std::string& event) {
  for (auto& p : fixtures().problems())
    if (p.rfind(event + ": ", 0) == 0)
      return p;
  return {};
}

/// A well-formed format text with the given parameter lines.
std::string format_text(const std::string& name, const std::string& params) {
  return "name: sys_enter_" + name
         + "\nID: 1\nformat:\n"
           "\tfield:unsigned short "
           "common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
           "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
           "\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
         + params + "\nprint fmt: \"\"\n";
}

std::string param_line(const std::string& decl, int offset) {
  return "\tfield:" + decl + ";\toffset:" + std::to_string(offset)
         + ";\tsize:8;\tsigned:0;\n";
}

} // namespace

BOOST_AUTO_TEST_CASE(loads_the_fixtures) {
  auto& t = fixtures();
  BOOST_TEST(t.error().empty());
  BOOST_TEST_MESSAGE("loaded " << t.size() << " formats in "
                               << t.load_time().count() << " us");
  for (auto& p : t.problems())
    BOOST_TEST_MESSAGE("problem: " << p);
  // 12 recorded sys_enter_* files map to syscalls (uretprobe does not), 8
  // hand-made ones are malformed.
  BOOST_TEST(t.size() == 12u);
  BOOST_TEST(t.problems().size() == 8u);
  BOOST_TEST(t.unmapped() == std::vector<std::string>{"sys_enter_uretprobe"});
}

BOOST_AUTO_TEST_CASE(openat) {
  auto& f = format_of("openat");
  BOOST_TEST(f.name == "openat");
  BOOST_TEST(param_names(f)
             == (std::vector<std::string>{"dfd", "filename", "flags", "mode"}));
  BOOST_TEST(f.params[0].type == "int");
  BOOST_TEST(f.params[0].kind == value_kind::signed_int);
  BOOST_TEST(f.params[0].width == 4);
  BOOST_TEST(f.params[1].type == "const char *");
  BOOST_TEST(f.params[1].is_pointer());
  BOOST_TEST(f.params[1].is_string());
  BOOST_TEST(!f.params[2].is_pointer());
  BOOST_TEST(f.params[3].type == "umode_t");
  BOOST_TEST(f.params[3].kind == value_kind::octal);
  BOOST_TEST(rule_is(f.capture.rules[0], NW_TRACELOOP_CAPTURE_STRING, 1,
                     NW_TRACELOOP_NO_ARG));
  BOOST_TEST(rule_is(f.capture.rules[1], NW_TRACELOOP_CAPTURE_NONE, 0, 0));
}

BOOST_AUTO_TEST_CASE(write_is_buffer_in_read_is_buffer_out) {
  auto& w = format_of("write");
  BOOST_TEST(param_names(w)
             == (std::vector<std::string>{"fd", "buf", "count"}));
  BOOST_TEST(w.params[1].is_pointer());
  BOOST_TEST(!w.params[1].is_string()); // const char *, but a buffer
  BOOST_TEST(w.params[1].capture == capture_kind::buffer_in);
  BOOST_TEST(w.params[2].kind == value_kind::unsigned_int);
  BOOST_TEST(rule_is(w.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_IN, 1, 2));
  BOOST_TEST(rule_is(w.capture.rules[1], 0, 0, 0));

  auto& r = format_of("read");
  BOOST_TEST(r.params[1].type == "char *");
  BOOST_TEST(
    rule_is(r.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2));
  auto& p = format_of("pread64");
  BOOST_TEST(
    rule_is(p.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2));
  // sendto's buff is `void *` (no const) but only read: buffer_in.
  auto& s = format_of("sendto");
  BOOST_TEST(s.params[1].name == "buff");
  BOOST_TEST(rule_is(s.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_IN, 1, 2));
  BOOST_TEST(rule_is(s.capture.rules[1], 0, 0, 0)); // addr: a struct
  auto& rf = format_of("recvfrom");
  BOOST_TEST(
    rule_is(rf.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2));
  // sethostname's `char * name` is followed by its length: a buffer the
  // kernel reads, not a string.
  auto& h = format_of("sethostname");
  BOOST_TEST(rule_is(h.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_IN, 0, 1));
}

BOOST_AUTO_TEST_CASE(strings_and_non_strings) {
  auto& g = format_of("getpid");
  BOOST_TEST(g.params.empty());
  BOOST_TEST(rule_is(g.capture.rules[0], 0, 0, 0));

  auto& e = format_of("execve");
  BOOST_TEST(param_names(e)
             == (std::vector<std::string>{"filename", "argv", "envp"}));
  BOOST_TEST(e.params[1].type == "const char *const *");
  BOOST_TEST(e.params[1].is_pointer());
  BOOST_TEST(!e.params[1].is_string());
  BOOST_TEST(rule_is(e.capture.rules[0], NW_TRACELOOP_CAPTURE_STRING, 0,
                     NW_TRACELOOP_NO_ARG));
  BOOST_TEST(rule_is(e.capture.rules[1], 0, 0, 0));

  // mount: three `char *` strings (no const: `char __user *` prints so);
  // the first two fit the spec, all three are strings.
  auto& m = format_of("mount");
  BOOST_TEST(m.params[0].type == "char *");
  BOOST_TEST(m.params[0].is_string());
  BOOST_TEST(m.params[2].name == "type");
  BOOST_TEST(m.params[2].is_string());
  BOOST_TEST(!m.params[4].is_string()); // void * data
  BOOST_TEST(rule_is(m.capture.rules[0], NW_TRACELOOP_CAPTURE_STRING, 0,
                     NW_TRACELOOP_NO_ARG));
  BOOST_TEST(rule_is(m.capture.rules[1], NW_TRACELOOP_CAPTURE_STRING, 1,
                     NW_TRACELOOP_NO_ARG));
}

BOOST_AUTO_TEST_CASE(renamed_events_map_to_libseccomp_names) {
  auto& st = format_of("stat");
  BOOST_TEST(st.name == "newstat");
  BOOST_TEST(param_names(st)
             == (std::vector<std::string>{"filename", "statbuf"}));
  auto& um = format_of("umount2");
  BOOST_TEST(um.name == "umount");
  BOOST_TEST(um.params[0].is_string());
  BOOST_TEST(fixtures().find(nr_of("write"))->name == "write");
}

BOOST_AUTO_TEST_CASE(a_malformed_format_degrades_that_syscall_only) {
  struct {
    const char* syscall;
    const char* reason;
  } cases[] = {
    {"close", "lacks ';'"},
    {"dup", "more than 6 parameters"},
    {"pipe", "field fildes before __syscall_nr"},
    {"kill", "'getpid' in the format of 'kill'"},
    {"fsync", "no name: line"},
    {"dup2", "bad type"},
    {"chdir", "is an array"},
    {"lseek", "unexpected line 10: 'this is not a field'"},
  };
  for (auto& c : cases) {
    BOOST_TEST(fixtures().find(nr_of(c.syscall)) == nullptr, c.syscall);
    auto why = problem_of(std::string{"sys_enter_"} + c.syscall);
    BOOST_TEST(contains(why, c.reason), c.syscall << ": " << why);
  }
  // Their neighbours are all there.
  for (auto* ok : {"openat", "write", "read", "getpid", "execve"})
    BOOST_TEST(fixtures().find(nr_of(ok)) != nullptr, ok);
}

BOOST_AUTO_TEST_CASE(capture_specs_by_number) {
  auto specs = fixtures().capture_specs();
  BOOST_TEST_REQUIRE(specs.size() > static_cast<size_t>(nr_of("openat")));
  BOOST_TEST(rule_is(specs[nr_of("write")].rules[0],
                     NW_TRACELOOP_CAPTURE_BUFFER_IN, 1, 2));
  BOOST_TEST(rule_is(specs[nr_of("read")].rules[0],
                     NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2));
  BOOST_TEST(rule_is(specs[nr_of("openat")].rules[0],
                     NW_TRACELOOP_CAPTURE_STRING, 1, NW_TRACELOOP_NO_ARG));
  // Malformed and missing formats capture nothing.
  BOOST_TEST(rule_is(specs[nr_of("close")].rules[0], 0, 0, 0));
  BOOST_TEST(rule_is(specs[nr_of("getppid")].rules[0], 0, 0, 0));
}

BOOST_AUTO_TEST_CASE(a_missing_tracefs_is_an_error_not_a_throw) {
  auto t = format_table::load("/nonexistent/tracefs", names());
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(contains(t.error(), "cannot read /nonexistent/tracefs"));
  BOOST_TEST(t.find(nr_of("openat")) == nullptr);
  BOOST_TEST(t.capture_specs().empty());
}

BOOST_AUTO_TEST_CASE(parse_format_accepts) {
  // Spacing as the kernel varies it, a file without print fmt, a kernel-added
  // __data_loc field after the arguments, a pointer typedef.
  auto text = "name: sys_enter_capget\nformat:\n"
              "  field:int __syscall_nr; offset:8; size:4; signed:1;\n"
              "  field:cap_user_header_t   header; offset:16; size:8; "
              "signed:0;\n"
              "  field:const  int   *  x; offset:24; size:8; signed:0;\n"
              "  field:__data_loc char[] __filename_val; offset:32; "
              "size:4; signed:0;\n";
  auto res = parse_format(text, "capget");
  BOOST_TEST_REQUIRE(res.ok(), res.error);
  BOOST_TEST(param_names(res.format)
             == (std::vector<std::string>{"header", "x"}));
  BOOST_TEST(res.format.params[0].is_pointer());
  BOOST_TEST(res.format.params[1].type == "const int *");
  BOOST_TEST(res.format.params[1].is_pointer());

  // Widths and signs from the C types.
  auto ints = parse_format(format_text(
    "t", param_line("pid_t a", 16) + param_line("uid_t b", 24)
           + param_line("loff_t c", 32) + param_line("unsigned long d", 40)
           + param_line("some_new_t e", 48)));
  BOOST_TEST_REQUIRE(ints.ok(), ints.error);
  auto& p = ints.format.params;
  BOOST_TEST((p[0].kind == value_kind::signed_int && p[0].width == 4));
  BOOST_TEST((p[1].kind == value_kind::unsigned_int && p[1].width == 4));
  BOOST_TEST((p[2].kind == value_kind::signed_int && p[2].width == 8));
  BOOST_TEST((p[3].kind == value_kind::unsigned_int && p[3].width == 8));
  BOOST_TEST((p[4].kind == value_kind::signed_int && p[4].width == 8));
}

BOOST_AUTO_TEST_CASE(parse_format_rejects) {
  auto err = [](const std::string& text) {
    auto res = parse_format(text);
    BOOST_TEST(!res.ok(), "accepted: " << text);
    BOOST_TEST(res.error.find('\n') == std::string::npos);
    return res.error;
  };
  BOOST_TEST(
    contains(err(std::string(max_format_bytes + 1, 'x')), "bytes (at most"));
  BOOST_TEST(contains(err(format_text("t", "") + std::string(1, '\0')), "NUL"));
  BOOST_TEST(
    contains(err("name: sys_exit_write\nformat:\n"), "not sys_enter_"));
  BOOST_TEST(contains(err("name: sys_enter_a b\n"), "bad syscall name"));
  BOOST_TEST(contains(err("format:\n"), "format: before name:"));
  BOOST_TEST(contains(err("name: sys_enter_x\n"), "no format: line"));
  BOOST_TEST(
    contains(err("name: sys_enter_x\nname: sys_enter_x\n"), "two name: lines"));
  BOOST_TEST(contains(err("name: sys_enter_x\nID: -3\n"), "bad ID"));
  BOOST_TEST(contains(
    err(format_text("t", param_line("int a", 16) + param_line("int a", 24))),
    "parameter a twice"));
  BOOST_TEST(contains(
    err(format_text("t", param_line("int a", 16) + param_line("int b", 16))),
    "does not follow"));
  BOOST_TEST(contains(
    err(format_text("t", "\tfield:int a;\toffset:16;\tsize:2;\tsigned:0;\n")),
    "has size 2"));
  BOOST_TEST(contains(
    err(format_text("t", "\tfield:int a;\toffset:x;\tsize:8;\tsigned:0;\n")),
    "bad offset:"));
  BOOST_TEST(contains(
    err(format_text("t", "\tfield:int a;\toffset:16;\tsize:8;\tsigned:2;\n")),
    "bad signed:"));
  BOOST_TEST(
    contains(err(format_text(
               "t", "\tfield:int a;\toffset:16;\tsize:8;\tsigned:0; junk\n")),
             "trailing text"));
  BOOST_TEST(contains(err(format_text("t", param_line("a", 16))), "bad type"));
  BOOST_TEST(contains(err(format_text("t", param_line("int 9a", 16))),
                      "bad field name"));
  BOOST_TEST(contains(
    err("name: sys_enter_x\nformat:\n\tfield:int foo;\toffset:0;\tsize:4;"
        "\tsigned:1;\n"),
    "field foo before __syscall_nr"));
  std::string many = "name: sys_enter_x\nformat:\n";
  for (int i = 0; i < 70; ++i)
    many += "\n";
  BOOST_TEST(contains(err(many), "more than 64 lines"));
  // Hostile bytes are quoted, never echoed raw.
  auto why = err("name: sys_enter_x\nformat:\n\x1b[31m\n");
  BOOST_TEST(contains(why, "'\\x1b[31m'"));
}

BOOST_AUTO_TEST_CASE(derive_capture_spec_by_hand) {
  // The rules on a format built by hand: a const buffer then a string.
  syscall_format f;
  f.name = "t";
  for (auto [n, t] : {std::pair{"buf", "const void *"},
                      {"len", "size_t"},
                      {"pathname", "const char *"},
                      {"path", "char * *"},
                      {"out", "char *"},
                      {"size", "int"}}) {
    syscall_param p;
    p.name = n;
    p.type = t;
    p.kind = std::string{t}.find('*') != std::string::npos
               ? value_kind::pointer
               : value_kind::unsigned_int;
    f.params.push_back(p);
  }
  derive_capture_spec(f);
  BOOST_TEST(rule_is(f.capture.rules[0], NW_TRACELOOP_CAPTURE_BUFFER_IN, 0, 1));
  BOOST_TEST(rule_is(f.capture.rules[1], NW_TRACELOOP_CAPTURE_STRING, 2,
                     NW_TRACELOOP_NO_ARG));
  BOOST_TEST(!f.params[3].is_string()); // char ** is not a string
  // Capturable, but the spec is full.
  BOOST_TEST(f.params[4].capture == capture_kind::buffer_out);
  BOOST_TEST(f.params[4].len_arg == 5);
  // syslog is never captured.
  f.name = "syslog";
  derive_capture_spec(f);
  BOOST_TEST(rule_is(f.capture.rules[0], NW_TRACELOOP_CAPTURE_STRING, 2,
                     NW_TRACELOOP_NO_ARG));
  BOOST_TEST(rule_is(f.capture.rules[1], 0, 0, 0));
}
