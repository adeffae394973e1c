// Skipping a test binary with a printed reason: ctest maps exit code 77 to
// "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt), so nothing that cannot
// run here is silently passed.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace nw::test {

/// Prints `SKIPPED: reason` and ends the process with ctest's skip code.
[[noreturn]] inline void skip(const char* reason) {
  std::fprintf(stderr, "SKIPPED: %s\n", reason);
  std::fflush(nullptr);
  std::_Exit(77);
}

/// Skips unless the test runs as root.
inline void require_root() {
  if (geteuid() != 0)
    skip("needs root (fanotify, BPF and namespaces)");
}

} // namespace nw::test
