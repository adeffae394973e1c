// What the agent costs a container start, and whether it sees every one.
//
// Added latency: one busybox `/bin/true` container started as containerd's
// shim starts it (runc create, read the pidfile, runc start at once, wait for
// the init to exit, runc delete --force), timed from create to delete, with
// an in-process agent graph on the real kernel and without any agent, in the
// same run, alternating (with-first and without-first in turn). A "with"
// round starts a fresh actor system and graph, runs one unmeasured container
// (the agent's first-container costs are not what a node pays per start),
// runs the measured one and tears the agent down (~actor_system waits for
// every actor, so no mark or BPF link survives into the next "without"
// round); a "without" round runs the same unmeasured + measured pair. The
// bundles are made before the clock starts.
//
// Completeness: one long-lived agent, N containers in a row and N more at
// parallelism P; a container counts when its `added` (held) arrived before
// its pidfile read returned, the read lasted at least the subscriber's ack
// delay, and the subscriber, reading /proc/PID/comm after that delay just
// before acking, still saw runc's init (`runc:[2:INIT]`), never the
// entrypoint. The delay (20 ms) is far longer than `runc start` takes to run
// the entrypoint, so an unheld start cannot pass by winning a race; it also
// makes these starts slower than the latency rows (starts/s is informative).
//
// Needs root, runc and busybox-static; without them it prints a note and
// no rows. Options: --starts N (50), --warmups N (1), --detections N (200),
// --parallelism P (4), --ack-delay-ms D (20), --policy stealing|sharing.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>

#include "bench/agent_harness.hpp"
#include "bench/harness.hpp"
#include "runtime/kernel/log.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace nw::bench {

namespace {

using namespace std::chrono_literals;
using test::runc_clock;
using test::runc_container;
using test::runc_env;

constexpr double added_target_ns = 1e6;
constexpr auto event_deadline = 5s;

// -- one container ------------------------------------------------------------

/// The shim's steps of one container, timed.
struct start_times {
  double create_ns = 0;
  double read_ns = 0;
  double start_ns = 0;
  double wait_ns = 0;
  double delete_ns = 0;
  double total_ns = 0;
  /// CPU time of this process (the agent's threads, and the driver's) and
  /// of its reaped children (runc, the container) during the start.
  double self_cpu_ns = 0;
  double children_cpu_ns = 0;
  std::string id;
  pid_t pid = 0;
  runc_clock::time_point read_returned{};
};

/// Runs one prepared container through the shim sequence.
start_times shim_start(runc_container& c) {
  start_times t;
  t.id = c.id();
  auto self0 = cpu_ns(RUSAGE_SELF);
  auto children0 = cpu_ns(RUSAGE_CHILDREN);
  auto t0 = clock_type::now();
  c.create();
  auto t1 = clock_type::now();
  t.pid = c.read_pid();
  auto t2 = clock_type::now();
  c.start();
  auto t3 = clock_type::now();
  auto st = c.wait_exit();
  auto t4 = clock_type::now();
  c.remove();
  auto t5 = clock_type::now();
  if (st && (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0))
    fail("container " + c.id() + " ended with status " + std::to_string(*st));
  t.self_cpu_ns = cpu_ns(RUSAGE_SELF) - self0;
  t.children_cpu_ns = cpu_ns(RUSAGE_CHILDREN) - children0;
  t.create_ns = ns_between(t0, t1);
  t.read_ns = ns_between(t1, t2);
  t.start_ns = ns_between(t2, t3);
  t.wait_ns = ns_between(t3, t4);
  t.delete_ns = ns_between(t4, t5);
  t.total_ns = ns_between(t0, t5);
  t.read_returned = c.last_read().returned;
  return t;
}

/// A warm-up container then the measured one (bundles made beforehand).
/// `warmups` unmeasured containers, then the measured one (all bundles made
/// beforehand).
start_times measured_start(runc_env& env, size_t warmups) {
  std::vector<std::unique_ptr<runc_container>> warm;
  for (size_t i = 0; i < warmups; ++i)
    warm.push_back(std::make_unique<runc_container>(
      env, test::bundle_options{{"/bin/true"}}, env.unique_id("nwb-warm")));
  runc_container c{env, {{"/bin/true"}}, env.unique_id("nwb-start")};
  for (auto& w : warm)
    shim_start(*w);
  return shim_start(c);
}

struct step_samples {
  samples create, read, start, wait, remove, total, self_cpu, children_cpu;
  void add(const start_times& t) {
    self_cpu.add(t.self_cpu_ns);
    children_cpu.add(t.children_cpu_ns);
    create.add(t.create_ns);
    read.add(t.read_ns);
    start.add(t.start_ns);
    wait.add(t.wait_ns);
    remove.add(t.delete_ns);
    total.add(t.total_ns);
  }
};

// -- the benchmarks -----------------------------------------------------------

void added_latency(const std::string& policy, size_t n, size_t warmups) {
  runc_env env;
  step_samples with, without;
  samples paired_diff;
  samples agent_up;
  size_t undetected = 0;
  // Taken after the first round: what the first agent opens once for the
  // process (2 fds here) is not a leak.
  size_t fds_before = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i == 1)
      fds_before = test::count_open_fds();
    std::optional<start_times> w, wo;
    for (int half = 0; half < 2; ++half) {
      bool agent_half = (half == 0) == (i % 2 == 0);
      if (!agent_half) {
        wo = measured_start(env, warmups);
        continue;
      }
      auto t0 = clock_type::now();
      agent a{agent_options{policy}};
      agent_up.add(ns_between(t0, clock_type::now()));
      // The warm-up container is also the agent's readiness check.
      w = measured_start(env, warmups);
      auto s = a.seen->wait_added(w->id, runc_clock::now() + event_deadline);
      if (!s || !s->held || s->added_at > w->read_returned)
        ++undetected;
    }
    with.add(*w);
    without.add(*wo);
    paired_diff.add(w->total_ns - wo->total_ns);
  }
  if (auto fds_after = test::count_open_fds(); n > 1 && fds_after > fds_before)
    note("container_start: " + std::to_string(fds_after - fds_before)
         + " fd(s) more after " + std::to_string(n - 1)
         + " more agent lifetimes: the agent leaks at shutdown");
  if (undetected != 0)
    note(std::to_string(undetected) + " of " + std::to_string(n)
         + " measured starts with the agent were not held until added: the "
           "\"with\" figures do not show the agent's full cost");
  const std::string b = "container_start";
  time_row(b, p99_case("shim start, no agent", without.total), without.total);
  time_row(b, p99_case("shim start, agent", with.total), with.total);
  auto added = with.total.median() - without.total.median();
  row(b, "added by the agent (median with - without)", fmt_signed_time(added),
      "paired: median " + fmt_signed_time(paired_diff.median()) + ", p10 "
        + fmt_signed_time(paired_diff.quantile(0.1)) + " .. p90 "
        + fmt_signed_time(paired_diff.quantile(0.9)),
      n, "<= 1 ms", added <= added_target_ns ? "PASS" : "FAIL");
  row(b, "added by the agent at p99 (p99 with - without)",
      fmt_signed_time(with.total.quantile(0.99) - without.total.quantile(0.99)),
      "-", n);
  time_row(b, "  create (exec held), no agent", without.create);
  time_row(b, "  create (exec held), agent", with.create);
  time_row(b, "  pidfile read (held until added), no agent", without.read);
  time_row(b, "  pidfile read (held until added), agent", with.read);
  time_row(b, "  start, no agent", without.start);
  time_row(b, "  start, agent", with.start);
  time_row(b, "  wait for exit, no agent", without.wait);
  time_row(b, "  wait for exit, agent", with.wait);
  time_row(b, "  delete, no agent", without.remove);
  time_row(b, "  delete, agent", with.remove);
  time_row(b, "  CPU of this process (driver), no agent", without.self_cpu);
  time_row(b, "  CPU of this process (driver + agent), agent", with.self_cpu);
  time_row(b, "  CPU of runc and the container, no agent",
           without.children_cpu);
  time_row(b, "  CPU of runc and the container, agent", with.children_cpu);
  time_row(b, "agent start (actor system, graph, fanotify, BPF)", agent_up);
}

/// Drives `count` containers with `parallelism` threads against one agent;
/// the number added before their entrypoint, and of those removed.
void completeness(const std::string& policy, size_t count, size_t parallelism,
                  caf::timespan probe_delay, const std::string& what) {
  runc_env env;
  agent a{agent_options{policy, probe_delay}};
  {
    // Readiness: one container detected, outside the count.
    runc_container warm{env, {{"/bin/true"}}, env.unique_id("nwb-warm")};
    auto t = shim_start(warm);
    if (!a.seen->wait_added(t.id, runc_clock::now() + event_deadline))
      fail("the agent did not detect its warm-up container");
  }
  auto edge_before = a.edge_counters();
  std::mutex mx;
  std::vector<start_times> done;
  std::vector<std::string> errors;
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  auto t0 = clock_type::now();
  for (size_t k = 0; k < parallelism; ++k)
    threads.emplace_back([&] {
      while (next.fetch_add(1) < count) {
        try {
          runc_container c{env, {{"/bin/true"}}, env.unique_id("nwb-det")};
          auto t = shim_start(c);
          std::lock_guard<std::mutex> guard{mx};
          done.push_back(std::move(t));
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> guard{mx};
          errors.push_back(e.what());
        }
      }
    });
  for (auto& t : threads)
    t.join();
  auto elapsed = ns_between(t0, clock_type::now());
  if (!errors.empty())
    fail(what + ": " + std::to_string(errors.size())
         + " container(s) failed, first: " + errors.front());
  size_t before_entrypoint = 0;
  size_t late = 0;
  size_t wrong_comm = 0;
  size_t missing = 0;
  std::vector<std::string> ids;
  for (auto& t : done) {
    ids.push_back(t.id);
    auto s = a.seen->wait_added(t.id, runc_clock::now() + event_deadline);
    if (!s)
      ++missing;
    else if (s->added_at > t.read_returned || !s->held
             || t.read_ns < static_cast<double>(probe_delay.count()))
      ++late;
    else if (s->comm != "runc:[2:INIT]")
      ++wrong_comm;
    else
      ++before_entrypoint;
  }
  auto removed = a.seen->wait_removed(ids, runc_clock::now() + 5s);
  auto edge_after = a.edge_counters();
  note("detection, " + what + ": edge counters per start:"
       + edge_counters_per(edge_before, edge_after, count));
  auto pct = 100.0 * static_cast<double>(before_entrypoint)
             / static_cast<double>(count);
  row("detection", what + ": added before the entrypoint",
      std::to_string(before_entrypoint) + "/" + std::to_string(count) + " ("
        + printf_string("%.1f", pct) + " %)",
      "missing " + std::to_string(missing) + ", late " + std::to_string(late)
        + ", comm " + std::to_string(wrong_comm) + "; removed "
        + std::to_string(removed) + "; "
        + printf_string("%.1f starts/s",
                        static_cast<double>(count) / (elapsed / 1e9)),
      count, "100 %", before_entrypoint == count ? "PASS" : "FAIL");
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto skip = [](const std::string& why) {
    note("container_start_bench skipped: " + why);
    return 0;
  };
  if (geteuid() != 0)
    return skip("needs root (runc, fanotify, BPF)");
  if (nw::test::find_program("runc").empty())
    return skip("runc not found (apt-get install runc)");
  if (nw::test::busybox_static_path().empty())
    return skip("no static busybox (apt-get install busybox-static)");
  auto positive = [&](const char* name, size_t fallback) {
    return positive_arg(argc, argv, name, fallback);
  };
  auto starts = positive("--starts", 50);
  auto detections = positive("--detections", 200);
  auto parallelism = positive("--parallelism", 4);
  auto warmups = positive("--warmups", 1);
  auto ack_delay = caf::timespan{std::chrono::milliseconds{
    static_cast<int64_t>(positive("--ack-delay-ms", 20))}};
  auto policy = policy_arg(argc, argv);
  // The agent's own per-container info lines would drown the table.
  nw::log::configure(nw::log::format::text, nw::log::level::warn);
  try {
    note("container_start: busybox /bin/true started as a shim does (create, "
         "read pidfile, start, wait, delete), with vs without an in-process "
         "agent on the real kernel, alternating; a fresh agent per \"with\" "
         "round, "
         + std::to_string(warmups)
         + " unmeasured container(s) first in every round (--warmups); "
           "CAF scheduler policy "
         + policy);
    added_latency(policy, starts, warmups);
    completeness(policy, detections, 1, ack_delay, "sequential");
    completeness(policy, detections, parallelism, ack_delay,
                 "parallelism " + std::to_string(parallelism));
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
