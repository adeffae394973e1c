// traceloop's results as they cross actors and the network: decoded
// syscalls (what `traceloop show` prints), the rings an agent holds, and
// one read of a ring.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/fields.hpp"

namespace nw {

/// One parameter of a decoded syscall, ready to print.
struct syscall_param {
  std::string name;
  /// As printed: 1, 0x7ffd..., NULL, "hello\n", AT_FDCWD, 0644.
  std::string value;
};

/// @relates syscall_param
inline auto fields(syscall_param& x) {
  return std::make_tuple(field("name", x.name), field("value", x.value));
}

/// @relates syscall_param
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, syscall_param& x) {
  return inspect_fields(f, "nw::syscall_param", x);
}

inline bool operator==(const syscall_param& a, const syscall_param& b) {
  return fields_equal(a, b);
}

/// One syscall, decoded on the node (names and parameter formats are the
/// node's kernel's), ready to print (actors/traceloop/decode.hpp).
struct syscall_line {
  /// Realtime nanoseconds.
  uint64_t ts_ns = 0;
  uint32_t cpu = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  /// The thread's name, bytes as the kernel had them.
  std::string comm;
  /// libseccomp's name, or "syscall_N".
  std::string syscall;
  std::vector<syscall_param> params;
  /// The raw return value; -1 for an error; 0 when unfinished.
  int64_t ret = 0;
  /// The error's name (ENOENT) and description; empty when not an error.
  std::string errno_name;
  std::string errno_text;
  /// No exit was seen.
  bool unfinished = false;
  /// No format: params are arg0..arg5, raw.
  bool raw = false;
};

/// @relates syscall_line
inline auto fields(syscall_line& x) {
  return std::make_tuple(
    field("ts_ns", x.ts_ns), field("cpu", x.cpu), field("pid", x.pid),
    field("tid", x.tid), field("comm", x.comm), field("syscall", x.syscall),
    field("params", x.params), field("ret", x.ret),
    field("errno_name", x.errno_name), field("errno_text", x.errno_text),
    field("unfinished", x.unfinished), field("raw", x.raw));
}

/// @relates syscall_line
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, syscall_line& x) {
  return inspect_fields(f, "nw::syscall_line", x);
}

inline bool operator==(const syscall_line& a, const syscall_line& b) {
  return fields_equal(a, b);
}

/// One ring an agent holds: a live container's, or a gone one's kept for
/// post-mortem reads.
struct traceloop_ring_info {
  std::string id;
  std::string name;
  uint64_t mntns = 0;
  /// The container is still running (its syscalls still go there).
  bool live = false;
  /// Memory the ring pins.
  uint64_t bytes = 0;
};

/// @relates traceloop_ring_info
inline auto fields(traceloop_ring_info& x) {
  return std::make_tuple(field("id", x.id), field("name", x.name),
                         field("mntns", x.mntns), field("live", x.live),
                         field("bytes", x.bytes));
}

/// @relates traceloop_ring_info
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, traceloop_ring_info& x) {
  return inspect_fields(f, "nw::traceloop_ring_info", x);
}

inline bool operator==(const traceloop_ring_info& a,
                       const traceloop_ring_info& b) {
  return fields_equal(a, b);
}

/// One read of a container's ring: its syscalls oldest first, and what the
/// ring could not keep.
struct traceloop_dump {
  traceloop_ring_info ring;
  std::vector<syscall_line> lines;
  /// Records overwritten by newer ones, and records the kernel side could
  /// not write, since the ring was created.
  uint64_t overwritten = 0;
  uint64_t lost = 0;
};

/// @relates traceloop_dump
inline auto fields(traceloop_dump& x) {
  return std::make_tuple(field("ring", x.ring), field("lines", x.lines),
                         field("overwritten", x.overwritten),
                         field("lost", x.lost));
}

/// @relates traceloop_dump
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, traceloop_dump& x) {
  return inspect_fields(f, "nw::traceloop_dump", x);
}

inline bool operator==(const traceloop_dump& a, const traceloop_dump& b) {
  return fields_equal(a, b);
}

} // namespace nw
