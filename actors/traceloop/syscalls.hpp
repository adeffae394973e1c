// Syscall names of the native architecture, from libseccomp: nr -> name and
// name -> nr, in a table built once per process. Plain C++: no CAF, no
// libbpf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nw::traceloop {

/// The native architecture's syscall names as libseccomp knows them
/// (seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr) for nr 0..max).
/// libseccomp may be older than the kernel: a newer syscall, or a hole in
/// the numbering, has no name here and shows as "syscall_N".
class syscall_table {
public:
  // -- constructors -----------------------------------------------------------

  /// Builds the table by asking libseccomp about every nr below
  /// `max_probed_nr`. Prefer native(), which does this once.
  syscall_table();

  /// The process-wide table, built on first use (thread-safe, immutable
  /// afterwards).
  static const syscall_table& native();

  // -- properties -------------------------------------------------------------

  /// Numbers probed: x86_64 numbers its syscalls densely below 512 (x32's
  /// have bit 30 set and are not native).
  static constexpr int32_t max_probed_nr = 1024;

  /// The name of `nr`: libseccomp's name, or "syscall_N" for a number it
  /// does not know (beyond the table, a hole, negative). Never fails.
  std::string name(int64_t nr) const;

  /// The name of `nr`, or nullptr when libseccomp does not know it.
  const std::string* find(int64_t nr) const;

  /// The number of `name` on the native architecture, if libseccomp knows
  /// it there.
  std::optional<int32_t> number(std::string_view name) const;

  /// One past the highest known number: the table covers 0..size()-1.
  size_t size() const noexcept {
    return names_.size();
  }

  /// How many numbers have a name.
  size_t known() const noexcept {
    return numbers_.size();
  }

private:
  /// Indexed by nr; empty for a number libseccomp does not know.
  std::vector<std::string> names_;
  std::unordered_map<std::string, int32_t> numbers_;
};

} // namespace nw::traceloop
