// One syscall as the traceloop ring reader hands it to the decoder: the
// enter and exit records of one thread paired (by tid and the thread's
// sequence number), with whatever pointer arguments the BPF side captured.
// Plain C++: no CAF, no libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace nw::traceloop {

/// Bytes the BPF side captures from one pointer argument at most; longer
/// strings and buffers arrive cut to this (and `truncated` says so).
inline constexpr size_t capture_max = 128;

/// What was read behind one pointer argument.
struct capture {
  /// The bytes read (for a string: without its NUL).
  std::string bytes;
  /// More was there than `capture_max` (or than the ring record held).
  bool truncated = false;
  /// Reading it failed (an unmapped address): the value is just a pointer.
  bool failed = false;
};

struct syscall_record {
  /// Realtime nanoseconds of the enter (or of the exit, without an enter).
  uint64_t ts_ns = 0;
  uint32_t cpu = 0;
  /// Thread group id (the process) and thread id, in the host's pid ns.
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  /// The syscall number (x86_64 numbering on this host).
  int32_t nr = -1;
  std::array<uint64_t, 6> args{};
  /// Per argument index: what was captured behind it, if anything.
  std::array<std::optional<capture>, 6> captures;
  /// The enter was seen: `args` and `captures` hold what it recorded. An
  /// exit alone (the syscall began before the ring was routed, or a fork
  /// child's first return) has neither.
  bool has_enter = true;
  /// The exit was seen: `ret` holds the raw return value.
  bool has_exit = false;
  int64_t ret = 0;
  /// The enter was seen but no exit (still running, or overwritten, or
  /// the thread died in it: exit_group, execve that succeeded).
  bool unfinished = false;
};

} // namespace nw::traceloop
