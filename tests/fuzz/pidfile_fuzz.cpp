// libFuzzer target for parse_pidfile: an accepted pid must be positive and
// must be what the trimmed input spells in decimal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/pidfile_watcher/pidfile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto res = nw::parse_pidfile(bytes);
  if (!res.ok()) {
    if (res.error().empty() || res.error().find('\n') != std::string::npos)
      __builtin_trap();
    return 0;
  }
  if (res.value() <= 0 || size > nw::max_pidfile_bytes)
    __builtin_trap();
  auto digits = std::to_string(res.value());
  auto first = bytes.find_first_of("123456789");
  if (first == std::string_view::npos
      || bytes.substr(first, digits.size()) != digits)
    __builtin_trap();
  return 0;
}
