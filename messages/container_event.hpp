// Lifecycle events the registry publishes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

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

/// A container record shared by every event and listing that carries it:
/// a fan-out to 50 subscribers or a listing of 10,000 containers copies
/// pointers, not records (bench/registry_bench). Immutable once shared;
/// `unshared()` copies on write.
class shared_info {
public:
  shared_info() : ptr_(empty()) {}

  shared_info(container_info x) // NOLINT: implicit on purpose
      : ptr_(std::make_shared<container_info>(std::move(x))) {}

  const container_info& operator*() const noexcept {
    return *ptr_;
  }

  const container_info* operator->() const noexcept {
    return ptr_.get();
  }

  /// A record of our own to modify (copied first if shared).
  container_info& unshared() {
    if (ptr_.use_count() != 1)
      ptr_ = std::make_shared<container_info>(*ptr_);
    return *ptr_;
  }

private:
  static const std::shared_ptr<container_info>& empty() {
    static const auto instance = std::make_shared<container_info>();
    return instance;
  }

  std::shared_ptr<container_info> ptr_;
};

inline bool operator==(const shared_info& a, const shared_info& b) {
  return &*a == &*b || *a == *b;
}

/// @relates shared_info
template <class Inspector>
std::enable_if_t<Inspector::reads_state, typename Inspector::result_type>
inspect(Inspector& f, shared_info& x) {
  return f(const_cast<container_info&>(*x));
}

/// @relates shared_info
template <class Inspector>
std::enable_if_t<Inspector::writes_state, typename Inspector::result_type>
inspect(Inspector& f, shared_info& x) {
  return f(x.unshared());
}

/// One lifecycle event.
struct container_event {
  event_kind kind = event_kind::added;
  /// The registry's sequence number, strictly increasing per agent.
  uint64_t seq = 0;
  /// Realtime nanoseconds (virtual time in a simulation).
  uint64_t ts_ns = 0;
  shared_info info;
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
