// Lifecycle events the registry publishes.
#pragma once

#include <cstdint>
#include <string>

#include "messages/container_info.hpp"

namespace nw {

/// What happened to a container.
enum class event_kind : uint8_t {
  added = 0,
  removed = 1,
  /// A `create` was seen but the container never appeared.
  detection_failed = 2,
};

/// The JSON spelling of an event kind (`added`, `removed`, ...).
const char* to_string(event_kind x);

/// Parses the JSON spelling; false if `text` names no kind.
bool from_string(const std::string& text, event_kind& out);

/// One lifecycle event.
struct container_event {
  event_kind kind = event_kind::added;
  /// The registry's sequence number, strictly increasing per agent.
  uint64_t seq = 0;
  /// Realtime nanoseconds (virtual time in a simulation).
  uint64_t ts_ns = 0;
  container_info info;
  /// Why detection failed; empty for other kinds.
  std::string reason;
};

/// @relates container_event
inline auto fields(container_event& x) {
  return std::make_tuple(field("type", x.kind), field("seq", x.seq),
                         field("ts_ns", x.ts_ns), field("info", x.info),
                         field("reason", x.reason));
}

/// @relates container_event
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_event& x) {
  return inspect_fields(f, "nw::container_event", x);
}

inline bool operator==(const container_event& a, const container_event& b) {
  return fields_equal(a, b);
}

/// The registry's answer to an `add`, once the fan-out is over.
struct add_result {
  /// Sequence number of the `added` event (of the earlier one if duplicate).
  uint64_t seq = 0;
  /// The id was already registered: nothing was published.
  bool duplicate = false;
  /// Subscribers that acknowledged before the deadline.
  uint32_t acked = 0;
  /// Subscribers that missed the deadline (or died meanwhile).
  uint32_t late = 0;
};

/// @relates add_result
inline auto fields(add_result& x) {
  return std::make_tuple(field("seq", x.seq), field("duplicate", x.duplicate),
                         field("acked", x.acked), field("late", x.late));
}

/// @relates add_result
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, add_result& x) {
  return inspect_fields(f, "nw::add_result", x);
}

inline bool operator==(const add_result& a, const add_result& b) {
  return fields_equal(a, b);
}

} // namespace nw
