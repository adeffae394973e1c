// Small text checks shared by tests.
#pragma once

#include <string>
#include <string_view>

namespace nw::test {

/// Whether `part` occurs in `text`.
inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

} // namespace nw::test
