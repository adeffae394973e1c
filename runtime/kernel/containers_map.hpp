// The containers map (bpf/containers_map.h): a BPF hash of mount namespace
// inode → container, created from user space and pinned at
// <pin-path>/containers for other eBPF tools. Plain C++ (libbpf), no CAF:
// the containers_map actor owns one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bpf/containers_map.h"
#include "runtime/kernel/unique_fd.hpp"

namespace nw::kernel {

/// One entry's strings; each is cut to 255 bytes in the map.
struct containers_map_entry {
  std::string container_id;
  std::string k8s_namespace;
  std::string k8s_pod;
  std::string container_name;
};

/// Fills `out` (zeroed first) from `in`, each string cut to 255 bytes.
void to_map_value(const containers_map_entry& in, nw_container_entry& out);

/// Makes `dir` a root-only (0700, owned by root when we are root) directory
/// on a bpffs, mounting bpffs at /sys/fs/bpf first if nothing is mounted
/// there and `dir` is below it. False with `error` set otherwise.
bool ensure_pin_dir(const std::string& dir, std::string& error);

/// The pinned map. Moving is not needed: hold it by unique_ptr.
class containers_map {
public:
  /// Creates the map (BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, `max_entries`)
  /// and pins it at `dir`/containers, after ensure_pin_dir(dir). A pin
  /// already there (an agent that crashed) is unlinked first and
  /// `replaced_stale()` says so. Null with `error` set on failure.
  static std::unique_ptr<containers_map>
  create(const std::string& dir, std::string& error,
         uint32_t max_entries = NW_CONTAINERS_MAP_ENTRIES);

  /// Unpins (if the pin still names this map) and closes the map.
  ~containers_map();

  containers_map(const containers_map&) = delete;
  containers_map& operator=(const containers_map&) = delete;

  /// Inserts or replaces the entry of `mntns`: 0, or the errno
  /// (E2BIG: the map is full).
  int put(uint64_t mntns, const containers_map_entry& entry);

  /// Deletes the entry of `mntns`: 0, or the errno (ENOENT: none).
  int remove(uint64_t mntns);

  /// Reads the entry of `mntns`: 0, or the errno (ENOENT: none).
  int lookup(uint64_t mntns, nw_container_entry& out) const;

  /// The pin's path: `dir`/containers.
  const std::string& pin_path() const {
    return pin_path_;
  }

  int fd() const {
    return fd_.get();
  }

  /// The kernel's id of the map (what `bpftool map show` lists).
  uint32_t id() const {
    return id_;
  }

  uint32_t max_entries() const {
    return max_entries_;
  }

  /// A stale pin was unlinked at creation.
  bool replaced_stale() const {
    return replaced_stale_;
  }

private:
  containers_map() = default;

  unique_fd fd_;
  std::string pin_path_;
  uint32_t id_ = 0;
  uint32_t max_entries_ = 0;
  bool replaced_stale_ = false;
};

} // namespace nw::kernel
