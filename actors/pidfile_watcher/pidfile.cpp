#include "actors/pidfile_watcher/pidfile.hpp"

#include <limits>
#include <string>

namespace nw {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
         || c == '\f';
}

} // namespace

parse_result<int32_t> parse_pidfile(std::string_view bytes) {
  if (bytes.size() > max_pidfile_bytes)
    return parse_error{"pidfile is " + std::to_string(bytes.size())
                       + " bytes (at most " + std::to_string(max_pidfile_bytes)
                       + ")"};
  while (!bytes.empty() && is_space(bytes.front()))
    bytes.remove_prefix(1);
  while (!bytes.empty() && is_space(bytes.back()))
    bytes.remove_suffix(1);
  if (bytes.empty())
    return parse_error{"pidfile is empty"};
  if (bytes.front() == '+' || bytes.front() == '-')
    return parse_error{"pidfile " + quote_input(bytes)
                       + " has a sign; a pid is a plain decimal number"};
  constexpr int64_t limit = std::numeric_limits<int32_t>::max();
  int64_t value = 0;
  for (auto c : bytes) {
    if (c < '0' || c > '9')
      return parse_error{"pidfile " + quote_input(bytes)
                         + " is not a decimal number"};
    value = value * 10 + (c - '0');
    // Checked per digit, so `value` never leaves int64_t (at most 32 bytes
    // of digits would not fit otherwise).
    if (value > limit)
      return parse_error{"pidfile " + quote_input(bytes)
                         + " is out of range for a pid (at most "
                         + std::to_string(limit) + ")"};
  }
  if (value == 0)
    return parse_error{"pidfile holds pid 0, which is no process"};
  return static_cast<int32_t>(value);
}

} // namespace nw
