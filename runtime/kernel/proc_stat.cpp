#include "runtime/kernel/proc_stat.hpp"

#include <cerrno>
#include <cstdlib>

namespace nw {

bool parse_proc_stat(std::string_view text, proc_stat& out,
                     std::string& error) {
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos
      || close < open) {
    error = "no (comm)";
    return false;
  }
  proc_stat result;
  result.comm = std::string{text.substr(open + 1, close - open - 1)};
  // Fields after comm, separated by one space each, start at field 3.
  size_t pos = close + 1;
  for (int field = 3; field <= 22; ++field) {
    if (pos >= text.size() || text[pos] != ' ' || pos + 1 >= text.size()
        || text[pos + 1] == ' ' || text[pos + 1] == '\n') {
      error = "too few fields (" + std::to_string(field - 1) + ")";
      return false;
    }
    ++pos;
    auto end = text.find_first_of(" \n", pos);
    if (end == std::string_view::npos)
      end = text.size();
    auto value = text.substr(pos, end - pos);
    if (field == 3) {
      if (value.size() != 1) {
        error = "bad state";
        return false;
      }
      result.state = value[0];
    } else if (field == 22) {
      uint64_t n = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) {
          error = "bad start time";
          return false;
        }
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      result.start_time = n;
    }
    pos = end;
  }
  out = std::move(result);
  return true;
}

} // namespace nw
