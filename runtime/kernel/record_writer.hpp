// Writes what the kernel adapters answered on a real node as a scenario
// (docs/scenario-format.md, JSON lines), so that `nodewatch simulate`
// replays it: the timeline (runtime execs, pidfile reads, exits, containers'
// state appearing) and the host's answers (files, directory listings,
// /proc), each answer once unless it changed. Plain C++ without CAF: one
// owner calls it (the recording edge actor, runtime/kernel/recording_edge).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"

namespace nw {

/// The default cap on a record file: the largest scenario `simulate` reads.
inline constexpr uint64_t default_record_max_bytes = uint64_t{64} << 20;

/// The header of a recorded scenario.
struct record_header {
  std::string name;
  /// Realtime nanoseconds at the recording's start (virtual time 0).
  uint64_t start_ns = 0;
  /// The start-up scan's roots, so a replay scans the same ones.
  std::vector<std::string> state_roots;
};

/// One host answer, formatted by the reading thread: `key` names what was
/// asked (a path or a pid), `record` is the scenario record without `at_ms`.
struct host_answer {
  std::string key;
  std::string record;
};

/// read_file's or exists()'s answer for `path`: its bytes, or the error.
host_answer file_answer(const std::string& path, bool ok,
                        const std::string& content, const std::string& error);

/// list_dir's answer for `path`: the names, or the error.
host_answer dir_answer(const std::string& path, bool ok,
                       const std::vector<std::string>& entries,
                       const std::string& error);

/// proc()'s answer for `pid`: what /proc told, or the error.
host_answer proc_answer_of(uint32_t pid, bool ok, const proc_status& status,
                           const std::string& error);

/// Writes one scenario, record by record, flushed after each.
///
/// Times: a timed record's `at_ms` is the milliseconds since the start, but
/// at least 1 ms after the previous timed record, so that whatever the
/// actors did about one (a pidfile watch, an exit watch) is in place before
/// the next one plays in a replay. A host answer is written the first time
/// its key is asked (no `at_ms`: it answers from the start); an answer that
/// differs from the last one written for its key gets `at_ms` = 1 ms after
/// the timeline's position at that key's previous read.
///
/// Bounded: a record that would take the file past `max_bytes` stops the
/// recording (logged once); an `end` record closes the file either way.
class record_writer {
public:
  /// Writes to `out`; `name` names it in logs.
  record_writer(std::unique_ptr<std::ostream> out, std::string name,
                uint64_t max_bytes = default_record_max_bytes);

  /// Creates (truncates) the file at `path`; null with `error` set if it
  /// cannot be written.
  static std::unique_ptr<record_writer>
  open(const std::string& path, uint64_t max_bytes, std::string& error);

  void header(const record_header& h);

  /// Timed records; `elapsed_ms` since the start.
  void exec(uint64_t elapsed_ms, const runtime_exec& ev);
  void pidfile(uint64_t elapsed_ms, const pidfile_read& ev);
  void exit(uint64_t elapsed_ms, const process_exited& ev);
  void state(uint64_t elapsed_ms, const state_appeared& ev);

  /// A host answer: written unless it equals the last one for its key.
  void answer(const host_answer& a);

  /// Closes the timeline (idempotent); nothing is written after it.
  void end(uint64_t elapsed_ms);

  /// Whether nothing more is written (ended, the cap hit, a write error).
  bool stopped() const {
    return stopped_;
  }

  uint64_t bytes() const {
    return bytes_;
  }

  /// Records written, header and end included.
  uint64_t records() const {
    return records_;
  }

private:
  uint64_t timed_at(uint64_t elapsed_ms);
  bool put(const std::string& line, bool is_end = false);

  struct seen {
    size_t hash = 0;
    /// The timeline's position at the key's last read.
    uint64_t last_read_at = 0;
  };

  std::unique_ptr<std::ostream> out_;
  std::string name_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  uint64_t records_ = 0;
  uint64_t last_at_ = 0;
  bool stopped_ = false;
  std::map<std::string, seen> answers_;
};

} // namespace nw
