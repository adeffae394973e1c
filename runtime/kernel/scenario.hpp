// A scenario: the answers a scripted kernel gives, record by record, in
// virtual time. Schema version 1 is documented in docs/scenario-format.md;
// files come as JSON lines or as a stream of msgpack maps.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"

namespace nw {

/// The scenario schema version this build reads.
inline constexpr int scenario_version = 1;

/// Largest scenario file accepted.
inline constexpr size_t max_scenario_bytes = 64u << 20;

/// One timed event of the timeline.
struct scenario_step {
  enum class kind { exec, pidfile_read, exit, end };
  kind what = kind::end;
  /// Virtual milliseconds since the scenario started.
  uint64_t at_ms = 0;
  /// The record's line (JSON) or index (msgpack), 1-based, for messages.
  size_t line = 0;
  runtime_exec exec;
  pidfile_read pidfile;
  process_exited exit;
};

/// A parsed scenario: a timeline plus the host's static answers.
struct scenario {
  std::string name;
  /// Realtime nanoseconds at virtual time 0 (events' ts_ns start here).
  uint64_t start_ns = 0;
  /// Timed events, in non-decreasing `at_ms` order.
  std::vector<scenario_step> timeline;
  /// File contents by path.
  std::map<std::string, std::string> files;
  /// /proc answers by pid.
  std::map<uint32_t, proc_status> procs;
  /// Directory listings by path (runtime state roots).
  std::map<std::string, std::vector<std::string>> dirs;
};

/// Parses a whole scenario (JSON lines or msgpack, told apart by the first
/// byte). On error returns false with `error` naming the line and field;
/// `out` is untouched then.
bool parse_scenario(std::string_view bytes, scenario& out, std::string& error);

/// Reads and parses a scenario file.
bool load_scenario(const std::string& path, scenario& out, std::string& error);

/// The scenario's static answers as a host.
std::shared_ptr<const host_view> make_scripted_host(const scenario& sc);

} // namespace nw
