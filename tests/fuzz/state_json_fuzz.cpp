// libFuzzer target for the start-up scan's state-file parsers: the first
// input byte picks the format (runc's state.json or crun's status) and the
// directory name's length, the rest is the file. An accepted state must
// hold what the parser promises: a valid id equal to the directory name, a
// pid in 1..INT32_MAX, an absolute bundle path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/initial_scan/state_json.hpp"
#include "actors/runtime_watcher/runtime_argv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto crun = (data[0] & 1) != 0;
  size_t dir_len = data[0] >> 1;
  std::string_view rest{reinterpret_cast<const char*>(data + 1), size - 1};
  // The directory name comes from the front of the rest: both id checks
  // (charset, equality) see fuzzed bytes.
  auto dir = rest.substr(0, dir_len);
  auto text = rest.substr(dir.size());
  auto res
    = crun ? nw::parse_crun_status(text, dir) : nw::parse_runc_state(text, dir);
  if (!res.ok()) {
    if (res.error().empty() || res.error().find('\n') != std::string::npos)
      __builtin_trap();
    return 0;
  }
  auto& st = res.value();
  if (st.id != dir || nw::check_container_id(st.id).has_value())
    __builtin_trap();
  if (st.pid == 0 || st.pid > 2147483647u)
    __builtin_trap();
  if (st.bundle.empty() || st.bundle.front() != '/'
      || st.bundle.find('\0') != std::string::npos
      || st.bundle.size() > nw::max_path_bytes)
    __builtin_trap();
  if (st.runtime != (crun ? "crun" : "runc"))
    __builtin_trap();
  return 0;
}
