// The termination poller's watch set on real processes: a handle per
// process, an exit seen at the next tick once the process is reaped, a
// reused pid never taken for the watched process, and the same by path.
#define BOOST_TEST_MODULE proc_watch_set
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/termination/proc_watch_set.hpp"
#include "runtime/kernel/host_view.hpp"

namespace {

/// A child blocked in pause(); killed and reaped by reap() or at the end.
struct child {
  child() {
    pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0)
      for (;;)
        ::pause();
  }
  ~child() {
    reap();
  }
  void reap() {
    if (pid <= 0)
      return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  pid_t pid = -1;
};

uint64_t start_time_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  std::istringstream fields{stat.substr(stat.rfind(')') + 2)};
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i)
    if (i == 22)
      return std::stoull(field);
  return 0;
}

nw::process_key key_of(const child& c) {
  return {static_cast<uint32_t>(c.pid), start_time_of(c.pid)};
}

void exits_are_seen(const std::string& proc_root) {
  nw::proc_watch_set set{nw::make_linux_host(""), proc_root};
  child a;
  child b;
  auto ka = key_of(a);
  auto kb = key_of(b);
  BOOST_TEST(set.add(ka));
  BOOST_TEST(set.add(kb));
  BOOST_TEST(set.with_handles() == (proc_root.empty() ? 0u : 2u));
  BOOST_TEST(set.tick().empty(), "an idle process taken for gone");
  a.reap();
  auto gone = set.tick();
  BOOST_TEST_REQUIRE(gone.size() == 1u);
  BOOST_TEST((gone[0] == ka));
  BOOST_TEST(set.size() == 1u);
  BOOST_TEST(set.tick().empty(), "reported twice");
}

} // namespace

BOOST_AUTO_TEST_CASE(with_proc_handles_an_exit_is_seen_once_reaped) {
  exits_are_seen("/proc");
}

BOOST_AUTO_TEST_CASE(by_path_an_exit_is_seen_once_reaped) {
  exits_are_seen("");
}

BOOST_AUTO_TEST_CASE(a_zombie_is_gone_by_path) {
  nw::proc_watch_set set{nw::make_linux_host(""), ""};
  child a;
  BOOST_TEST(set.add(key_of(a)));
  ::kill(a.pid, SIGKILL);
  siginfo_t info{};
  // Waits for the exit without reaping: `a` stays a zombie.
  BOOST_TEST_REQUIRE(
    ::waitid(P_PID, static_cast<id_t>(a.pid), &info, WEXITED | WNOWAIT) == 0);
  BOOST_TEST(set.tick().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_process_gone_or_not_matching_is_not_added) {
  nw::proc_watch_set set{nw::make_linux_host(""), "/proc"};
  child a;
  auto k = key_of(a);
  BOOST_TEST(!set.add({k.first, k.second + 1}), "another start time");
  a.reap();
  BOOST_TEST(!set.add(k), "a reaped process");
  BOOST_TEST(set.size() == 0u);
}
