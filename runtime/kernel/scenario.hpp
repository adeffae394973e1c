// A scenario: the answers a scripted kernel gives, record by record, in
// virtual time. Schema version 1 is documented in docs/scenario-format.md;
// files come as JSON lines or as a stream of msgpack maps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
  enum class kind { exec, pidfile_read, exit, state, end };
  kind what = kind::end;
  /// Virtual milliseconds since the scenario started.
  uint64_t at_ms = 0;
  /// The record's line (JSON) or index (msgpack), 1-based, for messages.
  size_t line = 0;
  runtime_exec exec;
  pidfile_read pidfile;
  process_exited exit;
  state_appeared state;
};

/// One answer of the host for a path, from `at_ms` on: a file's bytes, a
/// directory's entries, or an error (read_file and list_dir fail with it,
/// exists() is false).
struct path_answer {
  enum class kind { file, dir, error };
  kind what = kind::file;
  uint64_t at_ms = 0;
  std::string content;
  std::vector<std::string> entries;
  std::string error;
};

/// One /proc answer for a pid, from `at_ms` on (`error` empty: found).
struct proc_answer {
  uint64_t at_ms = 0;
  proc_status status;
  std::string error;
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
  /// Every answer for each path (`file` and `dir` records, errors
  /// included), in `at_ms` order, file order among equal times; `files` and
  /// `dirs` above hold the last successful one of each.
  std::map<std::string, std::vector<path_answer>> path_answers;
  /// Every /proc answer for each pid, in `at_ms` order; `procs` above holds
  /// the last successful one.
  std::map<uint32_t, std::vector<proc_answer>> proc_answers;
  /// The state roots the start-up scan reads (`state_roots` in the header);
  /// unset: the command's own (simulate: the defaults).
  bool has_state_roots = false;
  std::vector<std::string> state_roots;
};

/// Parses a whole scenario (JSON lines or msgpack, told apart by the first
/// byte). On error returns false with `error` naming the line and field;
/// `out` is untouched then.
bool parse_scenario(std::string_view bytes, scenario& out, std::string& error);

/// Reads and parses a scenario file.
bool load_scenario(const std::string& path, scenario& out, std::string& error);

/// The scenario's static answers as a host. `now_ms` tells the virtual
/// milliseconds since the timeline started (none: always 0): a path or pid
/// answers with its last record whose `at_ms` is at most that, or with its
/// first record if all are later.
std::shared_ptr<const host_view>
make_scripted_host(const scenario& sc,
                   std::function<uint64_t()> now_ms = nullptr);

} // namespace nw
