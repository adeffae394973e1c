// libFuzzer target for parse_runtime_argv: the input is split at NUL bytes
// into argv entries (as /proc/PID/cmdline is), so the fuzzer can reach any
// shape; invariants of an accepted command are checked with __builtin_trap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/runtime_watcher/runtime_argv.hpp"

namespace {

void check_path(const std::string& path) {
  if (!path.empty() && !nw::check_absolute_path(path, "p").empty())
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> argv;
  std::string entry;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      argv.push_back(std::move(entry));
      entry.clear();
      // Let oversized argv through now and then: the bound must hold.
      if (argv.size() > 2 * nw::max_argv_entries)
        break;
    } else {
      entry += static_cast<char>(data[i]);
    }
  }
  if (!entry.empty())
    argv.push_back(std::move(entry));
  auto res = nw::parse_runtime_argv(argv);
  if (!res.ok()) {
    if (res.error().empty() || res.error().find('\n') != std::string::npos)
      __builtin_trap();
    return 0;
  }
  const auto& cmd = res.value();
  using kind = nw::runtime_command_kind;
  if (cmd.kind == kind::create || cmd.kind == kind::conmon) {
    if (nw::check_container_id(cmd.id))
      __builtin_trap();
    check_path(cmd.bundle);
    check_path(cmd.pid_file);
    check_path(cmd.root);
    check_path(cmd.config);
    check_path(cmd.runtime_path);
    for (auto c : cmd.name)
      if (static_cast<unsigned char>(c) < 0x20)
        __builtin_trap();
  }
  if (cmd.kind == kind::create && cmd.subcommand != "create")
    __builtin_trap();
  return 0;
}
