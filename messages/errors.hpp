// nodewatch's error codes, carried in caf::error with the category `nodewatch`.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace nw {

/// The error category atom of nodewatch's errors.
inline constexpr caf::atom_value error_category = caf::atom("nodewatch");

/// Error codes; the context message says what exactly.
enum class errc : uint8_t {
  none = 0,
  /// No container matches the id, prefix, name or namespace asked for.
  unknown_container,
  /// Several containers match; the context lists them.
  ambiguous_container,
  /// A selector did not parse.
  bad_selector,
  /// Input from outside (a file, a runtime, a peer) was rejected.
  bad_input,
  /// The kernel refused an operation.
  kernel_refused,
  /// Shutting down: no new work is taken.
  shutting_down,
  /// An `add` of a container whose mount namespace already belongs to
  /// another live container (a state file or pidfile naming another
  /// container's init).
  mntns_in_use,
};

/// A short name per code, for logs and error messages.
const char* to_string(errc x);

/// @relates errc
inline caf::error make_error(errc x, std::string context = {}) {
  return caf::error{static_cast<uint8_t>(x), error_category,
                    caf::make_message(std::move(context))};
}

/// Renders any caf::error, ours or CAF's, as one line of text.
std::string render(const caf::error& err);

} // namespace nw
