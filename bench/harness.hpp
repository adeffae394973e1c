// What every benchmark shares: an actor system configured like the agent's
// (2 workers, nodewatch's types), a realistic container, medians over
// repeated rounds, and the row format that run.sh turns into one table.
//
// A benchmark prints only `row|...` and `note|...` lines on stdout:
//   row|BENCHMARK|CASE|MEDIAN|P10..P90|ROUNDS|TARGET|RESULT
//   note|free text, printed above the table
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "messages/type_ids.hpp"

namespace nw::bench {

// -- configuration ------------------------------------------------------------

/// Worker threads of every actor system here: the target machine has 2 cores.
inline constexpr size_t worker_threads = 2;

/// The value after `--name` on the command line, or `fallback`.
inline std::string option_arg(int argc, char** argv, const char* name,
                              std::string fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0)
      return argv[i + 1];
  return fallback;
}

/// `--rounds N` from the command line, else `fallback`.
inline size_t rounds_arg(int argc, char** argv, size_t fallback) {
  auto n
    = std::strtoul(option_arg(argc, argv, "--rounds", "").c_str(), nullptr, 10);
  return n > 0 ? n : fallback;
}

/// `--policy stealing|sharing` from the command line: CAF's scheduler
/// policy; the agent runs `sharing` (runtime/agent/agent.cpp).
inline std::string policy_arg(int argc, char** argv) {
  return option_arg(argc, argv, "--policy", "sharing");
}

/// Configures `cfg` as the agent does, with `worker_threads` workers.
inline void configure(caf::actor_system_config& cfg,
                      const std::string& policy) {
  // CAF 0.17 stores any integral value as config_value::integer and reads
  // it back with get_or<size_t>; a string here would be silently ignored,
  // and so would a policy given as a string rather than an atom.
  cfg.set("scheduler.max-threads", worker_threads);
  cfg.set("scheduler.policy", caf::atom_from_string(policy));
  cfg.add_message_types<caf::id_block::nodewatch>();
}

/// Aborts the benchmark: a wrong answer makes every number meaningless.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "benchmark failed: %s\n", what.c_str());
  std::exit(1);
}

// -- payload ------------------------------------------------------------------

/// 64 hex digits derived from `i`, shaped like an OCI container id.
inline std::string hex_id(uint64_t i) {
  std::string out;
  uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  for (int part = 0; part < 4; ++part) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx",
                  static_cast<unsigned long long>(x));
    out += buf;
  }
  return out;
}

/// The `i`-th container of a Kubernetes node run by containerd: four
/// containers per pod, pods spread round-robin over `namespaces` namespaces
/// named `ns-000`, `ns-001`, ...
inline container_info sample_container(uint64_t i, uint64_t namespaces) {
  char ns[32];
  std::snprintf(ns, sizeof(ns), "ns-%03llu",
                static_cast<unsigned long long>((i / 4) % namespaces));
  auto pod_no = std::to_string(i / 4);
  auto sandbox_id = hex_id(i / 4 + (uint64_t{1} << 40));
  auto pod_uid = sandbox_id.substr(0, 8) + "-" + sandbox_id.substr(8, 4) + "-"
                 + sandbox_id.substr(12, 4) + "-" + sandbox_id.substr(16, 4)
                 + "-" + sandbox_id.substr(20, 12);
  container_info c;
  c.id = hex_id(i);
  c.name = "worker-" + std::to_string(i % 4);
  c.pid = static_cast<uint32_t>(10000 + i);
  c.start_time = 500000 + i;
  c.mntns = 4026532000ULL + i;
  c.netns = 4026542000ULL + i / 4;
  c.mntns_id64 = (uint64_t{1} << 32) + i;
  c.cgroup_path = "/kubepods.slice/kubepods-burstable.slice/"
                  "kubepods-burstable-pod"
                  + pod_uid + ".slice/cri-containerd-" + c.id + ".scope";
  c.cgroup_id = 9000 + i;
  c.bundle = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + c.id;
  c.runtime = "runc";
  c.k8s.namespace_ = ns;
  c.k8s.pod = "app-" + pod_no;
  c.k8s.container = c.name;
  c.k8s.pod_uid = pod_uid;
  c.annotations = {
    {"io.kubernetes.cri.container-name", c.name},
    {"io.kubernetes.cri.container-type", "container"},
    {"io.kubernetes.cri.image-name", "registry.example.com/app:1.4.2"},
    {"io.kubernetes.cri.sandbox-id", sandbox_id},
    {"io.kubernetes.cri.sandbox-name", c.k8s.pod},
    {"io.kubernetes.cri.sandbox-namespace", c.k8s.namespace_},
    {"io.kubernetes.cri.sandbox-uid", pod_uid},
  };
  return c;
}

// -- statistics ---------------------------------------------------------------

/// One value per measured round.
class samples {
public:
  void add(double x) {
    xs_.push_back(x);
  }

  size_t size() const {
    return xs_.size();
  }

  /// The `q`-quantile (0..1), linearly interpolated between ranks.
  double quantile(double q) const {
    if (xs_.empty())
      return 0;
    auto xs = xs_;
    std::sort(xs.begin(), xs.end());
    auto pos = q * static_cast<double>(xs.size() - 1);
    auto lo = static_cast<size_t>(std::floor(pos));
    auto hi = std::min(lo + 1, xs.size() - 1);
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
  }

  double median() const {
    return quantile(0.5);
  }

private:
  std::vector<double> xs_;
};

using clock_type = std::chrono::steady_clock;

/// Nanoseconds between two points of `clock_type`.
inline double ns_between(clock_type::time_point t0, clock_type::time_point t1) {
  return static_cast<double>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
}

// -- formatting ---------------------------------------------------------------

inline std::string printf_string(const char* fmt, double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, x);
  return buf;
}

/// A duration in ns as `812 ns`, `143.2 us` or `3.41 ms` (ASCII: run.sh
/// aligns columns by bytes).
inline std::string fmt_time(double ns) {
  if (ns < 1e3)
    return printf_string("%.0f ns", ns);
  if (ns < 1e6)
    return printf_string("%.1f us", ns / 1e3);
  return printf_string("%.2f ms", ns / 1e6);
}

/// A rate as `3.12 M msg/s` or `812.4 k msg/s`.
inline std::string fmt_rate(double per_s) {
  if (per_s >= 1e6)
    return printf_string("%.2f M msg/s", per_s / 1e6);
  return printf_string("%.1f k msg/s", per_s / 1e3);
}

/// fmt_time() for a difference that may be negative.
inline std::string fmt_signed_time(double ns) {
  return ns < 0 ? "-" + fmt_time(-ns) : fmt_time(ns);
}

/// `WHAT (p99 T)`: a case name carrying the samples' 99th percentile.
inline std::string p99_case(const std::string& what, const samples& xs) {
  return what + " (p99 " + fmt_time(xs.quantile(0.99)) + ")";
}

inline std::string fmt_ratio(double x) {
  return printf_string("%.2fx", x);
}

inline const char* verdict(double value, double limit) {
  return value < limit ? "PASS" : "FAIL";
}

// -- output -------------------------------------------------------------------

/// One table row; `-` stands for an empty cell.
inline void row(const std::string& benchmark, const std::string& what,
                const std::string& median, const std::string& spread,
                size_t rounds, const std::string& target = "-",
                const std::string& result = "-") {
  std::printf("row|%s|%s|%s|%s|%zu|%s|%s\n", benchmark.c_str(), what.c_str(),
              median.c_str(), spread.c_str(), rounds, target.c_str(),
              result.c_str());
  std::fflush(stdout);
}

/// A row of durations (ns) with their p10..p90 spread.
inline void time_row(const std::string& benchmark, const std::string& what,
                     const samples& xs, const std::string& target = "-",
                     const std::string& result = "-") {
  row(benchmark, what, fmt_time(xs.median()),
      fmt_time(xs.quantile(0.1)) + " .. " + fmt_time(xs.quantile(0.9)),
      xs.size(), target, result);
}

/// A line of context printed above the table.
inline void note(const std::string& text) {
  std::printf("note|%s\n", text.c_str());
  std::fflush(stdout);
}

} // namespace nw::bench
