// Parsing the pid a runtime wrote to its --pid-file.
//
// The bytes come from a file in a directory the runtime's caller chose, read
// through the fanotify event's fd; they are untrusted and parsed strictly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/runtime_watcher/parse_result.hpp"

namespace nw {

/// Largest pidfile accepted. runc and crun write the bare decimal pid (at
/// most 7 digits: PID_MAX_LIMIT is 2^22); 32 leaves room for whitespace.
inline constexpr size_t max_pidfile_bytes = 32;

/// Parses pidfile contents: at most max_pidfile_bytes, surrounding ASCII
/// whitespace ignored, then decimal digits only (no sign, no inner space),
/// a value in 1..INT32_MAX. Rejects anything else with the reason.
parse_result<int32_t> parse_pidfile(std::string_view bytes);

} // namespace nw
