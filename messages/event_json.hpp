// The JSON lines of CONTRACTS.md ("Event lines"): every key always present,
// in a fixed order, so that output is byte-identical for identical events.
#pragma once

#include <string>

#include "messages/container_event.hpp"

namespace nw {

/// Which JSON object to write for an event.
enum class json_shape {
  /// An event line: `type` first, `reason` only on detection_failed.
  event,
  /// A `ps -o json` line: the same object without `type` and `reason`.
  container,
};

/// One JSON object on one line, without a trailing newline. `node` is added
/// only when not empty (a controller merging nodes).
std::string to_json_line(const container_event& ev,
                         json_shape shape = json_shape::event,
                         const std::string& node = {});

} // namespace nw
