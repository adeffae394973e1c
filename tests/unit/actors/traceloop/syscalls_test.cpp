#define BOOST_TEST_MODULE traceloop_syscalls
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>

#include <seccomp.h>

#include "actors/traceloop/syscalls.hpp"

using namespace nw::traceloop;

BOOST_AUTO_TEST_CASE(known_numbers) {
  auto& t = syscall_table::native();
  // x86_64 numbering (arch/x86/entry/syscalls/syscall_64.tbl).
  struct {
    int64_t nr;
    const char* name;
  } cases[] = {{0, "read"},      {1, "write"},   {2, "open"},
               {39, "getpid"},   {59, "execve"}, {257, "openat"},
               {166, "umount2"}, {4, "stat"},    {231, "exit_group"}};
  for (auto& c : cases) {
    BOOST_TEST(t.name(c.nr) == c.name);
    BOOST_TEST_REQUIRE(t.number(c.name).has_value(), c.name);
    BOOST_TEST(*t.number(c.name) == c.nr);
  }
  BOOST_TEST(&syscall_table::native() == &t);
  BOOST_TEST_MESSAGE("libseccomp knows " << t.known() << " syscalls, 0.."
                                         << t.size() - 1);
  BOOST_TEST(t.known() > 300u);
}

BOOST_AUTO_TEST_CASE(unknown_numbers_are_named_not_failed) {
  auto& t = syscall_table::native();
  BOOST_TEST(t.name(static_cast<int64_t>(t.size()))
             == "syscall_" + std::to_string(t.size()));
  BOOST_TEST(t.name(100000) == "syscall_100000");
  BOOST_TEST(t.name(-1) == "syscall_-1");
  BOOST_TEST(t.name(INT64_MAX) == "syscall_9223372036854775807");
  BOOST_TEST(t.find(100000) == nullptr);
  BOOST_TEST(t.find(-1) == nullptr);
  // A hole in x86_64's numbering (335..423 are unused, bar two syscalls
  // newer than libseccomp 2.5.4).
  BOOST_TEST(t.name(400) == "syscall_400");
  BOOST_TEST(!t.number("no_such_syscall").has_value());
  BOOST_TEST(!t.number("").has_value());
  // A name libseccomp knows only on another architecture.
  BOOST_TEST(!t.number("sendfile64").has_value());
}

BOOST_AUTO_TEST_CASE(agrees_with_libseccomp_both_ways) {
  auto& t = syscall_table::native();
  for (int32_t nr = 0; nr < syscall_table::max_probed_nr; ++nr) {
    std::unique_ptr<char, decltype(&std::free)> name{
      seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr), &std::free};
    if (name == nullptr) {
      BOOST_TEST(t.find(nr) == nullptr, nr);
      continue;
    }
    BOOST_TEST(t.name(nr) == name.get());
    auto back = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name.get());
    BOOST_TEST(back == nr, name.get());
    BOOST_TEST(t.number(name.get()).value_or(-1) == nr, name.get());
  }
}

BOOST_AUTO_TEST_CASE(build_time) {
  auto t0 = std::chrono::steady_clock::now();
  syscall_table t;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - t0)
              .count();
  BOOST_TEST_MESSAGE("building the syscall table took " << us << " us");
  BOOST_TEST(t.known() == syscall_table::native().known());
}
