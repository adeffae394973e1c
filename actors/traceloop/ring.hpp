// traceloop's kernel side: the loaded recorder (bpf/traceloop.bpf.c, its
// raw tracepoints attached) and the per-container rings it writes
// (bpf/traceloop_ring.h). Plain C++: the skeleton and libbpf stay inside
// ring.cpp. One owner (the traceloop actor); not thread-safe.
//
//   std::string error;
//   auto rec = nw::traceloop::recorder::load(error);   // attached
//   rec->set_capture_specs(specs, error);              // from formats.hpp
//   auto ring = rec->create_ring(error);               // mmapped, empty
//   rec->insert(mntns, *ring, error);                  // traced from now
//   ...
//   rec->erase(mntns, error);                          // no longer written
//   nw::traceloop::ring_read r;
//   ring->read(r, error);                              // any time after
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/traceloop/syscall_record.hpp"
#include "bpf/traceloop.h"

struct traceloop_bpf;

namespace nw::traceloop {

/// What one read of a ring gives.
struct ring_read {
  /// Syscalls oldest first (by the time of their first record), enter,
  /// exit and captures of one (tid, seq) paired into one record.
  std::vector<syscall_record> records;
  /// Records written but no longer in the ring (overwritten by newer
  /// ones), and records the BPF side could not write.
  uint64_t overwritten = 0;
  uint64_t lost = 0;
  /// Records that failed validation (a size or kind that cannot be): the
  /// walk of that CPU stopped there.
  uint64_t corrupt = 0;
};

class ring;

/// The loaded recorder.
class recorder {
public:
  /// Loads the programs with the rings' template sized for this host's
  /// possible CPUs and attaches them (raw tracepoints sys_enter/sys_exit).
  /// Null and the reason in `error`.
  static std::unique_ptr<recorder> load(std::string& error);
  ~recorder();
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  /// Fills the capture spec, index = syscall number (at most
  /// NW_TL_MAX_NR entries; the rest stay "capture nothing").
  bool set_capture_specs(const std::vector<nw_traceloop_capture_spec>& specs,
                         std::string& error);

  /// A new, empty ring (one element per possible CPU), mmapped for reading.
  std::unique_ptr<ring> create_ring(std::string& error) const;

  /// Routes the syscalls of tasks in mount namespace `mntns` to `r`.
  bool insert(uint64_t mntns, const ring& r, std::string& error);

  /// Stops routing `mntns` anywhere (unknown: fine).
  bool erase(uint64_t mntns, std::string& error);

  int cpus() const {
    return cpus_;
  }

  /// Bytes of memory each ring pins (every CPU's element, whole pages).
  size_t ring_bytes() const;

private:
  recorder(traceloop_bpf* skel, int cpus) : skel_(skel), cpus_(cpus) {}
  traceloop_bpf* skel_;
  int cpus_;
};

/// One container's ring: its map fd and a read-only mapping of it.
class ring {
public:
  ~ring();
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  int fd() const {
    return fd_;
  }

  /// Bytes of memory the ring pins (every CPU's element).
  size_t bytes() const {
    return len_;
  }

  /// Copies every CPU's part, keeps what was not overwritten while copying,
  /// pairs enters, exits and captures and converts times to realtime.
  /// Never fails on the ring's contents: a record that cannot be is
  /// counted (`corrupt`) and ends that CPU's walk.
  void read(ring_read& out) const;

private:
  friend class recorder;
  ring(int fd, void* map, size_t len, int cpus)
      : fd_(fd), map_(map), len_(len), cpus_(cpus) {}
  int fd_;
  void* map_;
  size_t len_;
  int cpus_;
};

/// One CPU's part of a ring as the reader copied it.
struct cpu_copy {
  /// The bytes of its struct nw_tl_ring (the header's own `written` is
  /// not trusted: the two below bracket the copy).
  std::string bytes;
  /// `written` read just before and just after copying.
  uint64_t written_before = 0;
  uint64_t written_after = 0;
};

/// Walks the copies newest -> oldest, keeps what the writer cannot have
/// touched while they were made, pairs enters, exits and captures by (tid,
/// seq) and adds `mono_to_real` to every timestamp. For read() and for
/// tests and the fuzzer: `cpus[i]` is CPU i's copy. Never fails on their
/// contents.
void decode_rings(const std::vector<cpu_copy>& cpus, int64_t mono_to_real,
                  ring_read& out);

} // namespace nw::traceloop
