// SELECTOR, one grammar everywhere (CONTRACTS.md): `key=v1,v2;key2=!v3` with
// keys namespace, pod, container (matches the container's name) and runtime.
// AND across clauses, OR within a clause's plain values, `!v` excludes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "messages/container_info.hpp"

namespace nw {

/// The field a selector clause looks at.
enum class selector_key : uint8_t { namespace_ = 0, pod, container, runtime };

/// One `key=values` clause.
struct selector_clause {
  selector_key key = selector_key::namespace_;
  /// Plain values: the field must equal one of them (any field if empty).
  std::vector<std::string> include;
  /// `!` values: the field must equal none of them.
  std::vector<std::string> exclude;
};

/// @relates selector_clause
inline auto fields(selector_clause& x) {
  return std::make_tuple(field("key", x.key), field("include", x.include),
                         field("exclude", x.exclude));
}

/// @relates selector_clause
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, selector_clause& x) {
  return inspect_fields(f, "nw::selector_clause", x);
}

/// A parsed selector; the empty selector matches every container.
struct selector {
  std::vector<selector_clause> clauses;
};

/// @relates selector
inline auto fields(selector& x) {
  return std::make_tuple(field("clauses", x.clauses));
}

/// @relates selector
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, selector& x) {
  return inspect_fields(f, "nw::selector", x);
}

/// Longest selector text accepted (it arrives from users and remote peers).
inline constexpr size_t max_selector_length = 4096;

/// Parses `text`; on error returns false and sets `error` to a reason that
/// names the offending clause.
bool parse_selector(std::string_view text, selector& out, std::string& error);

/// Whether `info` satisfies every clause of `sel`.
bool matches(const selector& sel, const container_info& info);

/// The canonical text of `sel` (parses back to the same selector).
std::string to_string(const selector& sel);

inline bool operator==(const selector_clause& a, const selector_clause& b) {
  return fields_equal(a, b);
}

inline bool operator==(const selector& a, const selector& b) {
  return fields_equal(a, b);
}

} // namespace nw
