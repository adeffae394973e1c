// libFuzzer target for decode_rings (actors/traceloop/ring.hpp): the bytes
// of a ring's CPU element are whatever the kernel side (or a bug, or a
// hostile writer of the mapping) left there. The input's first 16 bytes
// are the `written` values bracketing the copy, the rest lands at the
// start of the element's data area (the element is zero elsewhere). It
// must never read outside the copy (ASan), and every record it returns
// must be well-formed: captures within bounds, an argument index below 6.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "actors/traceloop/ring.hpp"
#include "bpf/traceloop_ring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16)
    return 0;
  nw::traceloop::cpu_copy c;
  std::memcpy(&c.written_before, data, 8);
  std::memcpy(&c.written_after, data + 8, 8);
  c.bytes.assign(sizeof(struct nw_tl_ring), '\0');
  auto rest = size - 16;
  auto room = sizeof(struct nw_tl_ring) - offsetof(struct nw_tl_ring, data);
  std::memcpy(&c.bytes[offsetof(struct nw_tl_ring, data)], data + 16,
              rest < room ? rest : room);
  // Also the header: the input's tail decides records/lost.
  if (rest >= 24)
    std::memcpy(&c.bytes[0], data + 16, 24);
  nw::traceloop::ring_read out;
  nw::traceloop::decode_rings({c, c}, 0, out);
  for (auto& r : out.records)
    for (auto& cap : r.captures)
      if (cap && cap->bytes.size() > NW_TL_CAPTURE_MAX)
        __builtin_trap();
  return 0;
}
