// The one result type of the parsers of untrusted input (runtime argv, OCI
// config.json, pidfiles), and the small checks they share.
//
// Shared with actors/pidfile_watcher/ for now (an exception to "never include
// another actor's folder"); it belongs in runtime/kernel/ once a third user
// appears. No CAF here: the parsers stay pure, fuzzable and cheap to link.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nw {

/// Why a parser rejected its input: one line of text, safe to log. Any input
/// bytes it quotes went through quote_input(), so a hostile runtime cannot
/// forge log lines or flood them.
struct parse_error {
  /// What is wrong, naming the offending field or argument.
  std::string reason;
};

/// The outcome of parsing untrusted input: a value, or why there is none.
/// Parsers return it instead of throwing: nothing a container or runtime
/// controls may raise an exception into an actor.
template <class T>
class parse_result {
public:
  // -- constructors -----------------------------------------------------------

  /// A successful parse.
  parse_result(T value) : state_(std::in_place_index<0>, std::move(value)) {
    // nop
  }

  /// A rejection.
  parse_result(parse_error error)
      : state_(std::in_place_index<1>, std::move(error)) {
    // nop
  }

  // -- properties -------------------------------------------------------------

  /// Whether the input was accepted.
  bool ok() const noexcept {
    return state_.index() == 0;
  }

  /// Whether the input was accepted.
  explicit operator bool() const noexcept {
    return ok();
  }

  /// The parsed value. Precondition: ok(); calling it on a rejection is a
  /// broken invariant and throws std::bad_variant_access.
  T& value() & {
    return std::get<0>(state_);
  }

  /// @copydoc value()
  const T& value() const& {
    return std::get<0>(state_);
  }

  /// @copydoc value()
  T&& value() && {
    return std::get<0>(std::move(state_));
  }

  /// Member access to the parsed value. Precondition: ok().
  T* operator->() {
    return &value();
  }

  /// @copydoc operator->()
  const T* operator->() const {
    return &value();
  }

  /// The reason for a rejection; the empty string when ok().
  const std::string& error() const noexcept {
    static const std::string none;
    auto* err = std::get_if<1>(&state_);
    return err != nullptr ? err->reason : none;
  }

private:
  std::variant<T, parse_error> state_;
};

/// Longest path accepted anywhere: PATH_MAX (4096) counts the terminating NUL,
/// so any longer path fails in the kernel with ENAMETOOLONG anyway.
inline constexpr size_t max_path_bytes = 4095;

/// Renders untrusted bytes for a parse_error reason: quoted, printable ASCII
/// only (everything else as \xNN), at most `max_bytes` input bytes then "...".
inline std::string quote_input(std::string_view input, size_t max_bytes = 64) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(input.size(), max_bytes) + 8);
  out += '\'';
  for (size_t i = 0; i < input.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(input[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0x0f];
    }
  }
  out += '\'';
  if (input.size() > max_bytes)
    out += "...";
  return out;
}

/// Checks a path handed to us by a runtime or a config: non-empty, absolute
/// (a relative path would be resolved against a cwd we do not share), at most
/// max_path_bytes, no NUL. `what` names the field in the reason. Returns an
/// empty reason when the path is acceptable.
inline std::string check_absolute_path(std::string_view path,
                                       std::string_view what) {
  std::string prefix{what};
  if (path.empty())
    return prefix + " is empty";
  if (path.find('\0') != std::string_view::npos)
    return prefix + " contains a NUL byte";
  if (path.size() > max_path_bytes)
    return prefix + " is " + std::to_string(path.size())
           + " bytes long (at most " + std::to_string(max_path_bytes) + ")";
  if (path.front() != '/')
    return prefix + " " + quote_input(path) + " is not an absolute path";
  return {};
}

} // namespace nw
