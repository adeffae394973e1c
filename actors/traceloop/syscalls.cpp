#include "actors/traceloop/syscalls.hpp"

#include <cstdlib>
#include <memory>

#include <seccomp.h>

namespace nw::traceloop {

syscall_table::syscall_table() {
  for (int32_t nr = 0; nr < max_probed_nr; ++nr) {
    // libseccomp returns a malloc'd copy, or nullptr for an unknown number.
    std::unique_ptr<char, decltype(&std::free)> name{
      seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr), &std::free};
    if (name == nullptr || *name == '\0')
      continue;
    if (names_.size() <= static_cast<size_t>(nr))
      names_.resize(nr + 1);
    names_[nr] = name.get();
    numbers_.emplace(names_[nr], nr);
  }
}

const syscall_table& syscall_table::native() {
  static const syscall_table table;
  return table;
}

const std::string* syscall_table::find(int64_t nr) const {
  if (nr < 0 || static_cast<uint64_t>(nr) >= names_.size()
      || names_[nr].empty())
    return nullptr;
  return &names_[nr];
}

std::string syscall_table::name(int64_t nr) const {
  if (auto* name = find(nr))
    return *name;
  return "syscall_" + std::to_string(nr);
}

std::optional<int32_t> syscall_table::number(std::string_view name) const {
  // The table is libseccomp's resolve_num inverted, so this agrees with
  // seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name) for every
  // native name without a call (and an allocation) per lookup.
  auto i = numbers_.find(std::string{name});
  if (i == numbers_.end())
    return std::nullopt;
  return i->second;
}

} // namespace nw::traceloop
