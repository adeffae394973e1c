// Parsing a runtime's per-container state file, as the start-up scan finds
// it under a state root: runc's `<root>/<id>/state.json` (libcontainer's
// state: `id`, `init_process_pid`, `init_process_start`, `config.labels`
// holding `bundle=<path>`) and crun's `<root>/<id>/status` (`pid`,
// `process-start-time`, `bundle`; no id: the directory names it).
//
// A state file is untrusted: anyone who can run a runtime with a root of
// their own writes one, and its id becomes part of paths. The parser is
// bounded in size, nesting and what it keeps (it reads events, never builds
// a document), validates every field it returns, names the offending field
// when it rejects, and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/runtime_watcher/parse_result.hpp"

namespace nw {

// -- bounds -------------------------------------------------------------------

/// Largest state file accepted. runc's state.json holds the whole
/// libcontainer config (seccomp rules included): 6 KiB for `runc spec`'s,
/// tens of KiB with a seccomp profile.
inline constexpr size_t max_state_file_bytes = size_t{4} << 20;

/// Deepest nesting of arrays and objects accepted (runc's reach ~6).
inline constexpr size_t max_state_depth = 64;

/// Most `config.labels` entries accepted (runc writes one per annotation,
/// plus `bundle=`; config.json allows at most 1024 annotations).
inline constexpr size_t max_state_labels = 4096;

// -- the state ----------------------------------------------------------------

/// What the scan needs from a state file.
struct runtime_state {
  /// The container id: valid per check_container_id() and equal to the name
  /// of the directory holding the file.
  std::string id;
  /// The init process, in the host's pid namespace: 1..INT32_MAX.
  uint32_t pid = 0;
  /// The init's start time (/proc/PID/stat field 22, clock ticks since
  /// boot), to tell it from a later process that got the same pid.
  uint64_t start_time = 0;
  /// The OCI bundle directory: absolute, at most max_path_bytes, no NUL.
  std::string bundle;
  /// The runtime whose format this was: "runc" or "crun".
  std::string runtime;
};

/// Parses runc's state.json found in the directory `dir_name`. Rejects
/// (returns why): input over max_state_file_bytes, nesting over
/// max_state_depth, invalid JSON (or UTF-8), a top level that is not an
/// object, a missing, repeated or mistyped `id`, `init_process_pid`,
/// `init_process_start` or `config.labels`, more than max_state_labels
/// labels, an id that check_container_id() refuses or that differs from
/// `dir_name`, a pid outside 1..INT32_MAX, no `bundle=` label or two, a
/// bundle that is not an acceptable absolute path.
parse_result<runtime_state> parse_runc_state(std::string_view text,
                                             std::string_view dir_name);

/// Parses crun's status file found in the directory `dir_name` (the id):
/// the same bounds and checks, on `pid`, `process-start-time` and `bundle`.
parse_result<runtime_state> parse_crun_status(std::string_view text,
                                              std::string_view dir_name);

} // namespace nw
