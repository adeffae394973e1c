// The formats of this host's kernel, through format_table::native() (which
// mounts tracefs if needed and we are root). Skips, with the reason, when
// tracefs cannot be read.
#define BOOST_TEST_MODULE traceloop_host_formats
#include <boost/test/unit_test.hpp>

#include <string>

#include "actors/traceloop/decode.hpp"
#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/syscalls.hpp"
#include "tests/support/skip.hpp"

using namespace nw::traceloop;

namespace {

struct host_tracefs {
  host_tracefs() {
    auto& t = format_table::native();
    if (!t.error().empty() || t.size() == 0) {
      auto why = "tracefs not readable: "
                 + (t.error().empty() ? std::string{"no formats"} : t.error());
      nw::test::skip(why.c_str());
    }
  }
};

const syscall_format& format_of(const char* name) {
  auto nr = syscall_table::native().number(name);
  BOOST_TEST_REQUIRE(nr.has_value(), name);
  auto* f = format_table::native().find(*nr);
  BOOST_TEST_REQUIRE(f != nullptr, "no format for " << name);
  return *f;
}

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(host_tracefs);

BOOST_AUTO_TEST_CASE(loads_once) {
  auto& t = format_table::native();
  BOOST_TEST_MESSAGE("loaded " << t.size() << " formats from "
                               << default_tracefs << " in "
                               << t.load_time().count() << " us");
  for (auto& p : t.problems())
    BOOST_TEST_MESSAGE("problem: " << p);
  for (auto& u : t.unmapped())
    BOOST_TEST_MESSAGE("not known to libseccomp: " << u);
  BOOST_TEST(t.problems().empty());
  BOOST_TEST(t.size() > 300u);
  BOOST_TEST(&format_table::native() == &t);
}

BOOST_AUTO_TEST_CASE(openat_write_read) {
  auto& o = format_of("openat");
  BOOST_TEST_REQUIRE(o.params.size() == 4u);
  BOOST_TEST(o.params[0].name == "dfd");
  BOOST_TEST(o.params[1].name == "filename");
  BOOST_TEST(o.params[1].is_string());
  BOOST_TEST(o.params[2].name == "flags");
  BOOST_TEST(o.params[3].name == "mode");
  BOOST_TEST(o.capture.rules[0].kind == NW_TRACELOOP_CAPTURE_STRING);
  BOOST_TEST(o.capture.rules[0].arg == 1);

  auto& w = format_of("write");
  BOOST_TEST(w.capture.rules[0].kind == NW_TRACELOOP_CAPTURE_BUFFER_IN);
  BOOST_TEST(w.capture.rules[0].arg == 1);
  BOOST_TEST(w.capture.rules[0].len_arg == 2);

  auto& r = format_of("read");
  BOOST_TEST(r.capture.rules[0].kind == NW_TRACELOOP_CAPTURE_BUFFER_OUT);
  BOOST_TEST(r.capture.rules[0].arg == 1);
  BOOST_TEST(r.capture.rules[0].len_arg == 2);

  // Renamed events.
  BOOST_TEST(format_of("stat").name == "newstat");
  BOOST_TEST(format_of("umount2").name == "umount");
  BOOST_TEST(format_of("sendfile").name == "sendfile64");
}

BOOST_AUTO_TEST_CASE(every_spec_is_consistent) {
  auto specs = format_table::native().capture_specs();
  size_t strings = 0, in = 0, out = 0;
  for (size_t nr = 0; nr < specs.size(); ++nr) {
    auto* f = format_table::native().find(static_cast<int64_t>(nr));
    for (auto& rule : specs[nr].rules) {
      if (rule.kind == NW_TRACELOOP_CAPTURE_NONE)
        continue;
      BOOST_TEST_REQUIRE(f != nullptr);
      BOOST_TEST_REQUIRE(rule.arg < f->params.size());
      BOOST_TEST(f->params[rule.arg].is_pointer(), f->name);
      if (rule.kind == NW_TRACELOOP_CAPTURE_STRING) {
        ++strings;
        BOOST_TEST(rule.len_arg == NW_TRACELOOP_NO_ARG);
      } else {
        rule.kind == NW_TRACELOOP_CAPTURE_BUFFER_IN ? ++in : ++out;
        BOOST_TEST_REQUIRE(rule.len_arg < f->params.size());
        BOOST_TEST(!f->params[rule.len_arg].is_pointer(), f->name);
      }
    }
  }
  BOOST_TEST_MESSAGE("capture rules: " << strings << " strings, " << in
                                       << " buffers in, " << out
                                       << " buffers out");
  BOOST_TEST(strings > 50u);
}

BOOST_AUTO_TEST_CASE(decodes_with_the_host_formats) {
  syscall_record r;
  r.nr = *syscall_table::native().number("write");
  r.args = {1, 0x1000, 6, 0, 0, 0};
  r.captures[1] = capture{"hello\n", false, false};
  r.has_exit = true;
  r.ret = 6;
  auto d = decode(r, syscall_table::native(), format_table::native());
  BOOST_TEST(!d.raw);
  BOOST_TEST(table_line(d).find(R"(fd=1, buf="hello\n", count=6  = 6)")
             != std::string::npos);
}
