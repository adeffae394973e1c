// Termination: how soon a container's end reaches subscribers, and what one
// poller tick costs.
//
// 1. Removal latency: real busybox runc containers (`sleep 600`) driven as
//    a shim does, detected by an in-process agent on the real kernel; the
//    driver SIGKILLs each init, noting the time just before the kill, and
//    reaps it at once (as a shim does); a subscriber notes when `removed`
//    arrives. Same run, same containers'
//    shape: the pidfd path (the agent's default) against the agent with
//    `--no-pidfd` and the 1 s poller alone (the anchor's way, though ours
//    reads only the watched pids). Containers are killed in batches, after
//    a random 0..999 ms and then one at a time, spaced by a random 0..50 ms,
//    so that they fall at random points of the poller's period.
// 2. One poller tick with N idle processes on the machine and W of them
//    watched: the agent's proc_watch_set (O(watched): an fstatat on a /proc
//    handle per watched process; also by path, as without handles) against
//    the anchor's full scan (list all of /proc, look the watched pids up),
//    alternating, same processes.
#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actors/termination/proc_watch_set.hpp"
#include "bench/agent_harness.hpp"
#include "bench/harness.hpp"
#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/log.hpp"
#include "runtime/kernel/proc_stat.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace nw::bench {

namespace {

using namespace std::chrono_literals;
using test::runc_clock;
using test::runc_container;
using test::runc_env;

// -- removal latency ----------------------------------------------------------

/// Kill-to-`removed` latency of `n` containers, in batches of `batch`.
samples removal_latency(const std::string& policy, bool pidfd, size_t n,
                        size_t batch) {
  runc_env env;
  agent_options opts{policy};
  opts.use_pidfd = pidfd;
  opts.poll_interval = 1000ms;
  agent a{opts};
  samples latency;
  std::mt19937_64 rng{42};
  std::uniform_int_distribution<int> spacing_ms{0, 50};
  std::uniform_int_distribution<int> phase_ms{0, 999};
  for (size_t done = 0; done < n;) {
    std::vector<std::unique_ptr<runc_container>> cs;
    std::vector<pid_t> pids;
    for (size_t i = 0; i < batch && done + i < n; ++i) {
      cs.push_back(std::make_unique<runc_container>(
        env, test::bundle_options{{"/bin/sleep", "600"}},
        env.unique_id("nwb-term")));
      auto& c = *cs.back();
      c.create();
      pids.push_back(c.read_pid());
      c.start();
      if (!a.seen->wait_added(c.id(), clock_type::now() + 10s))
        fail("container " + c.id() + " was not added");
    }
    // A random phase against the poller's period, then the kills.
    std::this_thread::sleep_for(std::chrono::milliseconds{phase_ms(rng)});
    std::vector<clock_type::time_point> killed;
    for (size_t i = 0; i < cs.size(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{spacing_ms(rng)});
      killed.push_back(clock_type::now());
      ::kill(pids[i], SIGKILL);
      // Reaped at once, as a shim reaps its container's init.
      cs[i]->wait_exit();
    }
    for (size_t i = 0; i < cs.size(); ++i) {
      auto removed = a.seen->wait_removed(cs[i]->id(), clock_type::now() + 10s);
      if (!removed)
        fail("container " + cs[i]->id() + " was not removed");
      latency.add(ns_between(killed[i], *removed));
      cs[i]->remove();
    }
    done += cs.size();
  }
  return latency;
}

// -- one poller tick ----------------------------------------------------------

/// `n` idle children (each blocked in pause()), killed and reaped on exit.
class idle_processes {
public:
  explicit idle_processes(size_t n) {
    pids_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto pid = ::fork();
      if (pid < 0)
        fail("fork: " + std::string{std::strerror(errno)});
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
          ::pause();
      }
      pids_.push_back(pid);
    }
  }

  ~idle_processes() {
    for (auto pid : pids_)
      ::kill(pid, SIGKILL);
    for (auto pid : pids_)
      ::waitpid(pid, nullptr, 0);
  }

  const std::vector<pid_t>& pids() const {
    return pids_;
  }

private:
  std::vector<pid_t> pids_;
};

/// The anchor's tick: list every process on the machine (getdents of /proc)
/// and look each watched pid up in that list. With `read_stats` it also
/// reads every process's /proc/PID/stat, as a scan must to tell a reused
/// pid; without, it is the cheapest form of that design.
size_t full_scan(const host_view& host, const std::vector<process_key>& watched,
                 bool read_stats) {
  std::set<uint32_t> running;
  auto* dir = ::opendir("/proc");
  if (dir == nullptr)
    fail("opendir /proc");
  std::string text;
  std::string error;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    if (read_stats) {
      proc_stat st;
      if (!host.read_file(std::string{"/proc/"} + e->d_name + "/stat", 4096,
                          text, error)
          || !parse_proc_stat(text, st, error))
        continue;
    }
    running.insert(static_cast<uint32_t>(std::strtoul(e->d_name, nullptr, 10)));
  }
  ::closedir(dir);
  for (auto& key : watched)
    if (running.count(key.first) == 0)
      fail("an idle process was missing from /proc");
  return running.size();
}

void poll_tick(size_t processes, size_t watched_n, size_t rounds) {
  idle_processes idle{processes};
  auto host = make_linux_host("");
  std::vector<process_key> watched;
  for (size_t i = 0; i < watched_n; ++i) {
    auto pid = idle.pids()[i * processes / watched_n];
    proc_stat st;
    std::string text;
    std::string error;
    if (!host->read_file("/proc/" + std::to_string(pid) + "/stat", 4096, text,
                         error)
        || !parse_proc_stat(text, st, error))
      fail("cannot read /proc/" + std::to_string(pid) + "/stat: " + error);
    watched.emplace_back(static_cast<uint32_t>(pid), st.start_time);
  }
  proc_watch_set with_handles{host, "/proc"};
  proc_watch_set by_path{host, ""};
  for (auto& key : watched)
    if (!with_handles.add(key) || !by_path.add(key))
      fail("an idle process was taken for gone");
  if (with_handles.with_handles() != watched.size())
    fail("no /proc handle for some watched processes");
  samples ours;
  samples paths;
  samples scan;
  samples scan_stats;
  size_t total = 0;
  for (size_t r = 0; r < rounds; ++r) {
    auto t0 = clock_type::now();
    auto gone = with_handles.tick();
    auto t1 = clock_type::now();
    auto gone_by_path = by_path.tick();
    auto t2 = clock_type::now();
    total = full_scan(*host, watched, false);
    auto t3 = clock_type::now();
    full_scan(*host, watched, true);
    auto t4 = clock_type::now();
    if (!gone.empty() || !gone_by_path.empty())
      fail("an idle process was taken for gone");
    ours.add(ns_between(t0, t1));
    paths.add(ns_between(t1, t2));
    scan.add(ns_between(t2, t3));
    scan_stats.add(ns_between(t3, t4));
  }
  auto b = "termination";
  auto what = std::to_string(watched_n) + " watched of " + std::to_string(total)
              + " processes";
  time_row(b, "poll tick, " + what + ": full /proc scan reading each stat",
           scan_stats);
  time_row(b, "poll tick, " + what + ": full /proc scan, listing only (anchor)",
           scan);
  auto ratio = scan.median() / ours.median();
  time_row(b, "poll tick, " + what + ": watched, /proc/PID/stat by path",
           paths);
  time_row(b, "poll tick, " + what + ": watched, /proc handles (the agent)",
           ours, ">= 10x cheaper", verdict(10, ratio));
  row(b, "  poll tick: listing / handles", fmt_ratio(ratio),
      "reading each stat / handles "
        + fmt_ratio(scan_stats.median() / ours.median()),
      rounds);
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto positive = [&](const char* name, size_t fallback) {
    return positive_arg(argc, argv, name, fallback);
  };
  auto containers = positive("--containers", 200);
  auto batch = positive("--batch", 20);
  auto processes = positive("--processes", 5000);
  auto watched = positive("--watched", 500);
  auto rounds = rounds_arg(argc, argv, 30);
  auto policy = policy_arg(argc, argv);
  nw::log::configure(nw::log::format::text, std::getenv("NW_BENCH_DEBUG")
                                              ? nw::log::level::debug
                                              : nw::log::level::warn);
  try {
    note("termination: poll tick with " + std::to_string(processes)
         + " idle processes (--processes), " + std::to_string(watched)
         + " watched (--watched), alternating with a full /proc scan");
    poll_tick(processes, watched, rounds);
    if (geteuid() != 0 || nw::test::find_program("runc").empty()
        || nw::test::busybox_static_path().empty()) {
      note("termination: removal latency skipped: needs root, runc and "
           "busybox-static");
      return 0;
    }
    note("termination: removal latency, SIGKILL of a runc container's init "
         "to `removed`, "
         + std::to_string(containers) + " containers per path (--containers) "
         + "in batches of " + std::to_string(batch) + " (--batch)");
    auto by_pidfd = removal_latency(policy, true, containers, batch);
    auto by_poller = removal_latency(policy, false, containers, batch);
    auto b = "termination";
    time_row(b,
             "removal, 1 s poller alone (--no-pidfd; p99 "
               + fmt_time(by_poller.quantile(0.99)) + ")",
             by_poller);
    time_row(b,
             "removal, pidfd (p99 " + fmt_time(by_pidfd.quantile(0.99)) + ")",
             by_pidfd, "p99 < 10 ms", verdict(by_pidfd.quantile(0.99), 10e6));
    row(b, "  removal: poller / pidfd at the median",
        fmt_ratio(by_poller.median() / by_pidfd.median()),
        "p99 " + fmt_ratio(by_poller.quantile(0.99) / by_pidfd.quantile(0.99)),
        containers);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
