// bpf/execruntime as the kernel edge uses it: the skeleton loaded and
// attached once, and the argv of an exec in flight looked up by the tid of
// its FAN_OPEN_EXEC_PERM event (FAN_REPORT_TID) while the event holds the
// exec — the exec completing deletes the entry. Plain C++: the skeleton and
// libbpf stay inside execruntime_reader.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct execruntime_bpf;

namespace nw::kernel {

/// What execruntime recorded at sys_enter_execve.
struct exec_record {
  /// At most NW_EXECRUNTIME_ARGV_MAX entries of at most 255 bytes each.
  std::vector<std::string> argv;
  /// comm before the exec (the caller).
  std::string comm;
  uint64_t mntns = 0;
  uint32_t euid = 0;
  /// The program could not read some entry (a page not faulted in); argv
  /// was read from the held caller's memory instead.
  bool refetched = false;
};

/// Reads up to NW_EXECRUNTIME_ARGV_MAX argv entries of at most 255 bytes
/// each from the memory of `tid` (held in its exec), starting at the user
/// address `argv_ptr`; false if the array cannot be read.
bool read_remote_argv(uint32_t tid, uint64_t argv_ptr,
                      std::vector<std::string>& out);

/// Mounts tracefs at /sys/kernel/tracing unless it or the debugfs copy
/// (/sys/kernel/debug/tracing) is there: libbpf resolves tracepoint ids
/// through it. Tries once per process and logs what it did; false and the
/// reason in `error` when tracefs is absent and cannot be mounted.
bool ensure_tracefs(std::string& error);

/// The loaded and attached execruntime programs and their map.
class execruntime_reader {
public:
  /// Opens, loads and attaches the skeleton (mounting tracefs if needed);
  /// nullptr and libbpf's reason in `error` on failure.
  static std::unique_ptr<execruntime_reader> load(std::string& error);

  /// Detaches the programs and frees the map (skeleton destroy).
  ~execruntime_reader();

  execruntime_reader(const execruntime_reader&) = delete;
  execruntime_reader& operator=(const execruntime_reader&) = delete;

  /// Looks the entry of `tid` up. False when there is none (`error` empty)
  /// or the lookup failed (`error` says why).
  bool lookup(uint32_t tid, exec_record& out, std::string& error) const;

private:
  explicit execruntime_reader(execruntime_bpf* skel) : skel_(skel) {}

  execruntime_bpf* skel_;
};

} // namespace nw::kernel
