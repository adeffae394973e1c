// /proc/PID/stat, parsed: the one place that knows its layout. A process
// names its own comm (up to 15 bytes, any of them spaces or parentheses),
// so the text is untrusted: comm ends at the LAST ')'.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nw {

/// The fields of /proc/PID/stat nodewatch uses.
struct proc_stat {
  std::string comm;
  /// Field 3: R, S, D, Z (zombie), X (dead), ...
  char state = '?';
  /// Field 22: clock ticks since boot.
  uint64_t start_time = 0;
};

/// Parses the text of /proc/PID/stat; false (and why in `error`) when it
/// has no `(comm)`, too few fields, or a start time that is not a number.
bool parse_proc_stat(std::string_view text, proc_stat& out, std::string& error);

} // namespace nw
