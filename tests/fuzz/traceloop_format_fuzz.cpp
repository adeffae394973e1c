// libFuzzer target for traceloop's tracefs format parser: the whole input is
// one format file. A rejection has a one-line reason; an accepted format
// holds what the parser promises: at most six parameters with identifier
// names, one-line types, and a capture spec whose rules point at pointer
// parameters in argument order, buffers with a non-pointer length argument.
// Seed corpus: tests/data/tracefs/events/syscalls (libFuzzer reads it
// recursively).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/traceloop/formats.hpp"

using namespace nw::traceloop;

namespace {

bool is_ident(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto res = parse_format(text);
  if (!res.ok()) {
    if (res.error.find('\n') != std::string::npos)
      __builtin_trap();
    return 0;
  }
  auto& f = res.format;
  if (!is_ident(f.name) || f.params.size() > max_params
      || size > max_format_bytes)
    __builtin_trap();
  for (auto& p : f.params)
    if (!is_ident(p.name) || p.type.empty()
        || p.type.find_first_of("\n\t") != std::string::npos
        || (p.width != 2 && p.width != 4 && p.width != 8))
      __builtin_trap();
  int last_arg = -1;
  bool ended = false;
  for (auto& r : f.capture.rules) {
    if (r.pad != 0)
      __builtin_trap();
    if (r.kind == NW_TRACELOOP_CAPTURE_NONE) {
      if (r.arg != 0 || r.len_arg != 0)
        __builtin_trap();
      ended = true;
      continue;
    }
    if (ended || r.kind > NW_TRACELOOP_CAPTURE_BUFFER_OUT
        || r.arg >= f.params.size() || static_cast<int>(r.arg) <= last_arg
        || !f.params[r.arg].is_pointer())
      __builtin_trap();
    last_arg = r.arg;
    if (r.kind == NW_TRACELOOP_CAPTURE_STRING) {
      if (r.len_arg != NW_TRACELOOP_NO_ARG || !f.params[r.arg].is_string())
        __builtin_trap();
    } else if (r.len_arg != r.arg + 1 || r.len_arg >= f.params.size()
               || f.params[r.len_arg].is_pointer()) {
      __builtin_trap();
    }
  }
  // The same text under its own name is accepted the same way.
  if (!parse_format(text, f.name).ok())
    __builtin_trap();
  return 0;
}
