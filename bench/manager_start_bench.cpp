// What the agent costs a container started by a manager, and whether it sees
// every one: containerd (`ctr run --rm`: containerd → containerd-shim-runc-v2
// → runc) and podman (`podman run --rm`: podman → conmon → runc), each with
// the busybox image of the integration fixtures (a private containerd; podman
// with private storage) running `/bin/true`.
//
// Added latency: each start is timed whole, from spawning `ctr`/`podman` to
// its exit (create, the held pidfile read, start, the entrypoint's exit, the
// task's and container's removal), with an in-process agent graph on the
// real kernel (the one container_start_bench runs, bench/agent_harness.hpp)
// and without any agent, in the same run. Rounds alternate, with-first and
// without-first in turn; a round is one block of K starts with one agent and
// one block of K starts without. A "with" block starts a fresh actor system
// and graph, runs one unmeasured container (also the agent's readiness
// check: it must be added), the K measured ones, and tears the agent down;
// a "without" block runs the same unmeasured + K measured containers. One
// agent per block rather than per start: a manager's start costs 100s of
// ms, an agent's start some 100 ms more, and per start it would double the
// run.
//
// Completeness: one agent per pass whose subscriber acks an `added` only
// after a delay (20 ms), reading /proc/PID/comm just before the ack; N
// containers per manager in a row, then N more from P threads at once. A
// container counts when it was added, held, and its init's comm was still
// runc's (`runc:[2:INIT]`), never the entrypoint's, at that probe. Both
// managers call the runtime's `start` only after its `create` returned, and
// the create returns only after the shim's or conmon's pidfile read, which
// the agent holds until the ack. The delay makes these starts slower than
// the latency rows (starts/s is informative).
//
// Needs root, runc, busybox-static, and per manager its tools (containerd,
// ctr, containerd-shim-runc-v2, tar, sha256sum; podman, conmon, tar); a
// manager that is missing or cannot run a container is skipped with a note
// and no rows. Options: --starts N (60 per arm and manager), --block K (5),
// --detections N (100), --parallelism P (4; 1: no parallel pass),
// --ack-delay-ms D (20), --managers containerd,podman, --policy
// stealing|sharing.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/agent_harness.hpp"
#include "bench/harness.hpp"
#include "runtime/kernel/log.hpp"
#include "tests/integration/support/containerd_fixture.hpp"
#include "tests/integration/support/podman_fixture.hpp"

namespace nw::bench {

namespace {

using namespace std::chrono_literals;

constexpr auto event_deadline = 5s;

// -- the managers -------------------------------------------------------------

/// One manager: how to name a container and run one `/bin/true` to its end.
struct manager {
  /// `containerd`, `podman`.
  std::string name;
  /// The command, for the notes.
  std::string how;
  std::function<std::string()> unique_name;
  /// Runs `/bin/true` in a container named `name` in the foreground, to its
  /// exit and removal; throws if the manager reports a failure.
  std::function<void(const std::string&)> run;
};

/// Throws what a manager's command printed.
[[noreturn]] void fail_run(const std::string& what,
                           const test::process_output& r) {
  throw std::runtime_error(what + ": "
                           + test::runc_detail::describe_status(r.status) + ": "
                           + r.output);
}

/// `ctr run --rm` with the fixture's flags (those of containerd_env::run(),
/// which only offers `-d`): the runtime, runc root and FIFO dir private to
/// the fixture. The name is the id, and the agent names the container by
/// its id.
manager containerd_manager(test::containerd_env& ctrd) {
  auto runc = test::find_program("runc");
  return {
    "containerd",
    "ctr run --rm",
    [&ctrd] { return ctrd.unique_id("nwb-ctr"); },
    [&ctrd, runc](const std::string& id) {
      auto r = ctrd.ctr({"run", "--rm", "--runc-binary", runc, "--runc-root",
                         (ctrd.dir() / "runc").string(), "--fifo-dir",
                         (ctrd.dir() / "fifo").string(),
                         test::containerd_env::image, id, "/bin/true"});
      if (!r.ok())
        fail_run("ctr run --rm " + id, r);
    },
  };
}

/// `podman run --rm` with the fixture's flags (those of podman_env::run(),
/// which only offers `-d`). The agent names the container after conmon's
/// `-n`, the name given here.
manager podman_manager(test::podman_env& pm) {
  return {
    "podman",
    "podman run --rm",
    [&pm] { return pm.unique_name("nwb-pod"); },
    [&pm](const std::string& name) {
      auto r
        = pm.podman({"run", "--rm", "--network", "none", "--ulimit",
                     "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                     "--name", name, test::podman_env::image, "/bin/true"});
      if (!r.ok())
        fail_run("podman run --rm " + name, r);
    },
  };
}

/// One timed start: the whole `run`, and this process's CPU time meanwhile
/// (the driver's, and the agent's threads' with an agent).
struct start_time {
  double total_ns = 0;
  double self_cpu_ns = 0;
};

start_time timed_run(manager& m, const std::string& name) {
  auto cpu0 = cpu_ns(RUSAGE_SELF);
  auto t0 = clock_type::now();
  m.run(name);
  auto t1 = clock_type::now();
  return {ns_between(t0, t1), cpu_ns(RUSAGE_SELF) - cpu0};
}

/// Whether `s` is of a container added while its start was held.
bool added_held(const std::optional<sighting>& s) {
  return s && s->held;
}

std::string count_of(size_t n, size_t of) {
  return std::to_string(n) + "/" + std::to_string(of);
}

// -- added latency ------------------------------------------------------------

void added_latency(manager& m, const std::string& policy, size_t starts,
                   size_t block) {
  samples with, without, paired_diff, with_cpu, without_cpu, agent_up;
  size_t undetected = 0;
  size_t warm_undetected = 0;
  // Containers of other processes on the host the "with" agents saw.
  size_t others = 0;
  // The edges' counters over the measured starts of every "with" block.
  counters edge_sum;
  size_t measured = 0;
  for (size_t round = 0; measured < starts; ++round) {
    auto k = std::min(block, starts - measured);
    std::vector<start_time> w, wo;
    for (int half = 0; half < 2; ++half) {
      bool agent_half = (half == 0) == (round % 2 == 0);
      std::optional<agent> a;
      if (agent_half) {
        auto t0 = clock_type::now();
        a.emplace(agent_options{policy});
        agent_up.add(ns_between(t0, clock_type::now()));
      }
      auto warm = m.unique_name();
      m.run(warm);
      if (a
          && !added_held(a->seen->wait_added_named(warm, clock_type::now()
                                                           + event_deadline)))
        ++warm_undetected;
      counters edge_before;
      if (a)
        edge_before = a->edge_counters();
      std::vector<std::string> names;
      for (size_t i = 0; i < k; ++i) {
        names.push_back(m.unique_name());
        (agent_half ? w : wo).push_back(timed_run(m, names.back()));
      }
      if (a)
        for (auto& [name, value] : a->edge_counters()) {
          auto i = edge_before.find(name);
          edge_sum[name] += value - (i != edge_before.end() ? i->second : 0);
        }
      if (a)
        others
          += a->seen->added_count() - std::min(a->seen->added_count(), k + 1);
      if (a)
        for (auto& name : names)
          if (!added_held(a->seen->wait_added_named(name, clock_type::now()
                                                            + event_deadline)))
            ++undetected;
    }
    for (size_t i = 0; i < k; ++i) {
      with.add(w[i].total_ns);
      without.add(wo[i].total_ns);
      with_cpu.add(w[i].self_cpu_ns);
      without_cpu.add(wo[i].self_cpu_ns);
      paired_diff.add(w[i].total_ns - wo[i].total_ns);
    }
    measured += k;
  }
  const std::string b = "manager_start";
  const auto& n = m.name;
  if (undetected + warm_undetected != 0)
    note(b + ", " + n + ": " + std::to_string(undetected) + " of "
         + std::to_string(starts) + " measured starts (and "
         + std::to_string(warm_undetected)
         + " warm-ups) with the agent were not added held: the \"with\" "
           "figures do not show the agent's full cost");
  if (others != 0)
    note(b + ", " + n + ": the \"with\" agents also saw "
         + std::to_string(others)
         + " container(s) of other processes on the host (their CPU is in "
           "the agent's)");
  note(b + ", " + n + ": edge counters per measured start with the agent:"
       + edge_counters_per(counters{}, edge_sum, starts));
  time_row(b, p99_case(n + ": " + m.how + " /bin/true, no agent", without),
           without);
  time_row(b, p99_case(n + ": " + m.how + " /bin/true, agent", with), with);
  row(b, n + ": added by the agent (median with - without)",
      fmt_signed_time(with.median() - without.median()),
      "paired: median " + fmt_signed_time(paired_diff.median()) + ", p10 "
        + fmt_signed_time(paired_diff.quantile(0.1)) + " .. p90 "
        + fmt_signed_time(paired_diff.quantile(0.9)),
      starts);
  row(b, n + ": added by the agent at p99 (p99 with - without)",
      fmt_signed_time(with.quantile(0.99) - without.quantile(0.99)), "-",
      starts);
  time_row(b, n + ":   CPU of this process (driver), no agent", without_cpu);
  time_row(b, n + ":   CPU of this process (driver + agent), agent", with_cpu);
  time_row(b, n + ":   agent start (actor system, graph, fanotify, BPF)",
           agent_up);
}

// -- completeness -------------------------------------------------------------

/// What one container of the completeness run came to.
enum class outcome { ok, missing, unheld, wrong_comm, failed };

void completeness(manager& m, const std::string& policy, size_t count,
                  size_t parallelism, caf::timespan probe_delay) {
  agent a{agent_options{policy, probe_delay}};
  {
    // Readiness: one container detected, outside the count.
    auto warm = m.unique_name();
    m.run(warm);
    if (!a.seen->wait_added_named(warm, clock_type::now() + event_deadline))
      throw std::runtime_error("the agent did not detect its warm-up "
                               "container");
  }
  auto edge_before = a.edge_counters();
  std::mutex mx;
  std::map<outcome, size_t> outcomes;
  std::vector<std::string> errors;
  std::vector<std::string> ids;
  std::atomic<size_t> next{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < parallelism; ++t)
    threads.emplace_back([&] {
      while (next.fetch_add(1) < count) {
        auto name = m.unique_name();
        try {
          m.run(name);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> guard{mx};
          errors.push_back(e.what());
          ++outcomes[outcome::failed];
          continue;
        }
        auto s
          = a.seen->wait_added_named(name, clock_type::now() + event_deadline);
        auto o = !s                           ? outcome::missing
                 : !s->held                   ? outcome::unheld
                 : s->comm != "runc:[2:INIT]" ? outcome::wrong_comm
                                              : outcome::ok;
        std::lock_guard<std::mutex> guard{mx};
        ++outcomes[o];
        if (s)
          ids.push_back(a.seen->id_of(name));
      }
    });
  for (auto& t : threads)
    t.join();
  auto elapsed = ns_between(t0, clock_type::now());
  auto others
    = a.seen->added_count() - std::min(a.seen->added_count(), ids.size() + 1);
  auto removed = a.seen->wait_removed(ids, clock_type::now() + 5s);
  auto what
    = m.name + ", "
      + (parallelism == 1 ? std::string{"sequential"}
                          : "parallelism " + std::to_string(parallelism));
  note("detection, " + what + ": edge counters per start:"
       + edge_counters_per(edge_before, a.edge_counters(), count));
  if (others != 0)
    note("detection, " + what + ": the agent also saw " + std::to_string(others)
         + " container(s) of other processes");
  if (!errors.empty())
    note("detection, " + what + ": " + std::to_string(errors.size())
         + " container(s) failed to run, first: " + errors.front());
  auto ok = outcomes[outcome::ok];
  auto pct = 100.0 * static_cast<double>(ok) / static_cast<double>(count);
  row("detection", what + ": added before the entrypoint",
      count_of(ok, count) + " (" + printf_string("%.1f", pct) + " %)",
      "missing " + std::to_string(outcomes[outcome::missing]) + ", not held "
        + std::to_string(outcomes[outcome::unheld]) + ", comm "
        + std::to_string(outcomes[outcome::wrong_comm]) + ", failed "
        + std::to_string(outcomes[outcome::failed]) + "; removed "
        + count_of(removed, ids.size()) + "; "
        + printf_string("%.2f starts/s",
                        static_cast<double>(count) / (elapsed / 1e9)),
      count, "100 %", ok == count ? "PASS" : "FAIL");
}

// -- one manager, or a note -------------------------------------------------

/// The first of `tools` not found, or "".
std::string missing_tool(const std::vector<std::string>& tools) {
  for (auto& t : tools)
    if (test::find_program(t).empty())
      return t;
  return {};
}

struct settings {
  std::string policy;
  size_t starts = 0;
  size_t block = 0;
  size_t detections = 0;
  size_t parallelism = 0;
  caf::timespan ack_delay{0};
};

/// Sets up the manager (`make_env`), checks that it runs a container
/// without an agent, then measures; a note and no rows if it cannot run.
template <class Env>
void bench_manager(const std::string& name,
                   const std::vector<std::string>& tools,
                   const std::function<manager(Env&)>& make_manager,
                   const settings& s) {
  auto skip = [&](const std::string& why) {
    note("manager_start: " + name + " skipped: " + why);
  };
  if (auto t = missing_tool(tools); !t.empty())
    return skip(t + " not found");
  std::unique_ptr<Env> env;
  auto t0 = clock_type::now();
  try {
    env = std::make_unique<Env>();
  } catch (const std::exception& e) {
    return skip(std::string{"cannot set it up: "} + e.what());
  }
  auto m = make_manager(*env);
  try {
    m.run(m.unique_name());
  } catch (const std::exception& e) {
    return skip(std::string{"cannot run a container: "} + e.what());
  }
  note("manager_start: " + name + " set up and first container in "
       + fmt_time(ns_between(t0, clock_type::now())) + "; " + m.how
       + " /bin/true, " + std::to_string(s.starts)
       + " starts per arm (--starts) in blocks of " + std::to_string(s.block)
       + " (--block), one fresh agent per \"with\" block");
  try {
    added_latency(m, s.policy, s.starts, s.block);
    completeness(m, s.policy, s.detections, 1, s.ack_delay);
    if (s.parallelism > 1)
      completeness(m, s.policy, s.detections, s.parallelism, s.ack_delay);
  } catch (const std::exception& e) {
    // A manager's failure half-way: say so, keep the other manager's rows.
    note("manager_start: " + name + " stopped: " + e.what());
  }
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto skip = [](const std::string& why) {
    note("manager_start_bench skipped: " + why);
    return 0;
  };
  if (geteuid() != 0)
    return skip("needs root (managers, fanotify, BPF)");
  if (nw::test::find_program("runc").empty())
    return skip("runc not found (apt-get install runc)");
  if (nw::test::busybox_static_path().empty())
    return skip("no static busybox (apt-get install busybox-static)");
  settings s;
  s.policy = policy_arg(argc, argv);
  s.starts = positive_arg(argc, argv, "--starts", 60);
  s.block = positive_arg(argc, argv, "--block", 5);
  s.detections = positive_arg(argc, argv, "--detections", 100);
  s.parallelism = positive_arg(argc, argv, "--parallelism", 4);
  s.ack_delay = caf::timespan{std::chrono::milliseconds{
    static_cast<int64_t>(positive_arg(argc, argv, "--ack-delay-ms", 20))}};
  auto managers = option_arg(argc, argv, "--managers", "containerd,podman");
  auto wanted = [&](const std::string& name) {
    return ("," + managers + ",").find("," + name + ",") != std::string::npos;
  };
  // The agent's own per-container info lines would drown the table.
  nw::log::configure(nw::log::format::text, nw::log::level::warn);
  note("manager_start: whole `run --rm` of /bin/true with vs without an "
       "in-process agent on the real kernel, alternating blocks; CAF "
       "scheduler policy "
       + s.policy + "; completeness: " + std::to_string(s.detections)
       + " per manager (--detections), the subscriber probing comm "
       + std::to_string(
         std::chrono::duration_cast<std::chrono::milliseconds>(s.ack_delay)
           .count())
       + " ms after `added` (--ack-delay-ms)");
  try {
    if (wanted("containerd"))
      bench_manager<nw::test::containerd_env>(
        "containerd",
        {"containerd", "ctr", "containerd-shim-runc-v2", "tar", "sha256sum"},
        containerd_manager, s);
    if (wanted("podman"))
      bench_manager<nw::test::podman_env>("podman", {"podman", "conmon", "tar"},
                                          podman_manager, s);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
