// libFuzzer target for traceloop's decoder: a syscall_record built from the
// input (any number, arguments, captured bytes, comm, return value) decoded
// with the recorded fixture formats and with none. Every table line is one
// line; every JSON line parses, with CONTRACTS.md's keys in order; an error
// has a name and ret -1; a string value is quoted and printable ASCII.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "actors/traceloop/decode.hpp"
#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/syscalls.hpp"

using namespace nw::traceloop;

namespace {

void check(const decoded_syscall& d) {
  if (d.params.size() > max_params)
    __builtin_trap();
  for (auto& p : d.params)
    for (char c : p.value)
      if (c < 0x20 || c > 0x7e)
        __builtin_trap();
  if (!d.errno_name.empty() && (d.ret != -1 || d.unfinished))
    __builtin_trap();
  auto line = table_line(d);
  if (line.empty() || line.find('\n') != line.size() - 1)
    __builtin_trap();
  auto json = json_line(d);
  if (json.find('\n') != json.size() - 1)
    __builtin_trap();
  auto j = nlohmann::ordered_json::parse(json, nullptr, false);
  if (j.is_discarded() || j.size() != 10)
    __builtin_trap();
  static const char* keys[]
    = {"ts_ns",   "cpu",    "pid", "tid",   "comm",
       "syscall", "params", "ret", "errno", "unfinished"};
  size_t i = 0;
  for (auto& [k, v] : j.items())
    if (k != keys[i++])
      __builtin_trap();
  if (!j["ret"].is_number_integer() || j["params"].size() != d.params.size())
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const format_table fixtures
    = format_table::load(NW_TRACEFS_DATA, syscall_table::native());
  static const format_table none;
  FuzzedDataProvider in{data, size};
  syscall_record r;
  r.ts_ns = in.ConsumeIntegral<uint64_t>();
  r.cpu = in.ConsumeIntegral<uint32_t>();
  r.pid = in.ConsumeIntegral<uint32_t>();
  r.tid = in.ConsumeIntegral<uint32_t>();
  // Mostly numbers around the fixtures' (all below 300), sometimes any.
  r.nr = in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(0, 300)
                          : in.ConsumeIntegral<int32_t>();
  for (auto& a : r.args)
    a = in.ConsumeIntegral<uint64_t>();
  r.has_exit = in.ConsumeBool();
  r.unfinished = in.ConsumeBool();
  r.ret = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(-4200, 10)
                           : in.ConsumeIntegral<int64_t>();
  for (auto& c : r.captures) {
    if (!in.ConsumeBool())
      continue;
    capture cap;
    cap.truncated = in.ConsumeBool();
    cap.failed = in.ConsumeBool();
    cap.bytes = in.ConsumeRandomLengthString(2 * capture_max);
    c = std::move(cap);
  }
  r.comm = in.ConsumeRandomLengthString(32);
  check(decode(r, syscall_table::native(), fixtures));
  check(decode(r, syscall_table::native(), none));
  return 0;
}
