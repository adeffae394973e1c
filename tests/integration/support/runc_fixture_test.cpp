// The runc fixture itself, without an agent: a busybox container driven as a
// shim drives runc is still runc's init when its pidfile has been read, runs
// its entrypoint once started, exits, and leaves nothing behind — also when
// the test fails half-way (no runc state, no cgroup, no process, no bundle).
#define BOOST_TEST_MODULE runc_fixture
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/support/runc_fixture.hpp"
#include "tests/support/text.hpp"

namespace {

namespace fs = std::filesystem;
using nw::test::contains;
using nw::test::runc_clock;
using nw::test::runc_container;
using nw::test::runc_env;

struct require_runc_here {
  require_runc_here() {
    nw::test::require_runc();
  }
};

BOOST_TEST_GLOBAL_FIXTURE(require_runc_here);

std::string comm_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/comm"};
  std::string line;
  std::getline(in, line);
  return line;
}

ino_t ns_inode(const std::string& pid, const char* ns) {
  struct stat st {};
  if (::stat(("/proc/" + pid + "/ns/" + ns).c_str(), &st) != 0)
    return 0;
  return st.st_ino;
}

/// Everything runc leaves for a container while it exists.
void require_gone(const runc_env& env, const std::string& id, pid_t pid,
                  const fs::path& bundle) {
  BOOST_TEST(!fs::exists(env.root() / id), "runc state of " << id << " left");
  BOOST_TEST(!fs::exists(bundle), "bundle " << bundle << " left");
  for (auto ctl : {"pids", "cpu", "memory", "unified"})
    BOOST_TEST(!fs::exists(fs::path{"/sys/fs/cgroup"} / ctl / id),
               "cgroup " << ctl << "/" << id << " left");
  if (pid > 0)
    BOOST_TEST(::kill(pid, 0) != 0, "init " << pid << " still exists");
}

} // namespace

BOOST_AUTO_TEST_CASE(shim_sequence_runs_busybox) {
  runc_env env;
  runc_container c{env,
                   {{"/bin/sh", "-c", "echo hi; cat /proc/sys/kernel/hostname"},
                    "nw-fixture"}};
  auto t0 = runc_clock::now();
  c.create();
  auto pid = c.read_pid();
  // Read before start: still runc's init, in a mount namespace of its own.
  BOOST_TEST(comm_of(pid) == "runc:[2:INIT]");
  BOOST_TEST(ns_inode(std::to_string(pid), "mnt") != ns_inode("self", "mnt"));
  BOOST_TEST(c.last_read().duration().count() < 100 * 1000 * 1000);
  c.start();
  auto st = c.wait_exit();
  BOOST_REQUIRE(st.has_value()); // we are the subreaper: we reaped it
  BOOST_TEST(WIFEXITED(*st));
  BOOST_TEST(WEXITSTATUS(*st) == 0);
  c.remove();
  auto took = std::chrono::duration<double, std::milli>(runc_clock::now() - t0);
  BOOST_TEST_MESSAGE("create+read+start+wait+delete: " << took.count()
                                                       << " ms");
  BOOST_TEST(c.output() == "hi\nnw-fixture\n");
  BOOST_TEST(!fs::exists(env.root() / c.id()));
}

BOOST_AUTO_TEST_CASE(exit_status_is_reported) {
  runc_env env;
  runc_container c{env, {{"/bin/sh", "-c", "exit 7"}}};
  auto st = c.run();
  BOOST_REQUIRE(st.has_value());
  BOOST_TEST(WEXITSTATUS(*st) == 7);
}

BOOST_AUTO_TEST_CASE(created_but_never_started_is_cleaned_up) {
  runc_env env;
  std::string id;
  pid_t pid = 0;
  fs::path bundle;
  try {
    runc_container c{env, {{"/bin/sleep", "30"}}};
    id = c.id();
    bundle = c.bundle().dir();
    c.create();
    pid = c.read_pid();
    BOOST_TEST(fs::exists(fs::path{"/sys/fs/cgroup/pids"} / id));
    throw std::runtime_error{"a test failing half-way"};
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string{e.what()} == "a test failing half-way");
  }
  require_gone(env, id, pid, bundle);
}

BOOST_AUTO_TEST_CASE(started_and_still_running_is_cleaned_up) {
  runc_env env;
  std::string id;
  pid_t pid = 0;
  fs::path bundle;
  {
    runc_container c{env, {{"/bin/sleep", "30"}}};
    id = c.id();
    bundle = c.bundle().dir();
    c.create();
    pid = c.read_pid();
    c.start();
    // `runc start` returns once it has opened the exec fifo; the exec follows.
    auto deadline = runc_clock::now() + std::chrono::seconds{10};
    while (comm_of(pid) != "sleep" && runc_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    BOOST_TEST(comm_of(pid) == "sleep");
  }
  require_gone(env, id, pid, bundle);
}

BOOST_AUTO_TEST_CASE(failed_create_throws_and_cleans_up) {
  runc_env env;
  std::string id;
  fs::path bundle;
  {
    runc_container c{env, {{"/bin/no-such-binary"}}};
    id = c.id();
    bundle = c.bundle().dir();
    BOOST_CHECK_EXCEPTION(c.create(), nw::test::runc_error,
                          [](const nw::test::runc_error& e) {
                            BOOST_TEST_MESSAGE("create failed: " << e.what());
                            return contains(e.what(), "no-such-binary");
                          });
  }
  require_gone(env, id, 0, bundle);
}

BOOST_AUTO_TEST_CASE(env_deletes_what_runc_still_knows) {
  fs::path dir;
  std::string id;
  pid_t pid = 0;
  {
    runc_env env;
    dir = env.dir();
    nw::test::runc_bundle b{
      env, env.unique_id("orphan"), {{"/bin/sleep", "30"}}};
    id = b.dir().filename().string();
    // Created behind the fixture's back, as a crashed test would leave it.
    auto st = nw::test::run_process(
      {env.real_runc(), "--root", env.root().string(), "create", "--bundle",
       b.dir().string(), "--pid-file", b.pid_file().string(), id},
      {}, std::chrono::seconds{10});
    BOOST_REQUIRE(st == 0);
    std::ifstream in{b.pid_file()};
    in >> pid;
    BOOST_REQUIRE(pid > 0);
  }
  BOOST_TEST(!fs::exists(dir));
  BOOST_TEST(!fs::exists(fs::path{"/sys/fs/cgroup/pids"} / id));
  // Not our child's zombie any more: runc delete killed it and we reaped it
  // (subreaper) or it is gone.
  int status = 0;
  ::waitpid(pid, &status, WNOHANG);
  BOOST_TEST(::kill(pid, 0) != 0);
}

BOOST_AUTO_TEST_CASE(four_in_parallel) {
  runc_env env;
  constexpr int n = 4;
  std::vector<std::string> outputs(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        runc_container c{env, {{"/bin/echo", "c" + std::to_string(i)}}};
        c.run();
        outputs[i] = c.output();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < n; ++i) {
    BOOST_TEST(errors[i] == "");
    BOOST_TEST(outputs[i] == "c" + std::to_string(i) + "\n");
  }
}
