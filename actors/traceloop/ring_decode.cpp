#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <tuple>

#include "actors/traceloop/ring.hpp"
#include "bpf/traceloop_ring.h"

// decode_rings: the pure half of ring.hpp (no libbpf), also fuzzed
// (tests/fuzz/traceloop_ring_fuzz.cpp): whatever the bytes, it counts
// what cannot be and never reads outside them.
namespace nw::traceloop {

namespace {

template <class T>
T load_at(const std::string& bytes, size_t off) {
  T x{};
  std::memcpy(&x, bytes.data() + off, sizeof(T));
  return x;
}

/// Offset of the data area in a struct nw_tl_ring.
constexpr size_t data_off = offsetof(struct nw_tl_ring, data);

/// A syscall being put together from its records.
struct pending {
  syscall_record rec;
  bool has_enter = false;
  uint64_t first_ts = ~uint64_t{0};
};

} // namespace

void decode_rings(const std::vector<cpu_copy>& cpus, int64_t mono_to_real,
                  ring_read& out) {
  // (tid, seq) -> the syscall; seq 0 (an exit whose enter we never saw) is
  // keyed by its own position so that such exits never merge.
  std::map<std::tuple<uint32_t, uint32_t, uint64_t>, pending> calls;
  uint64_t orphan = 0;
  for (size_t cpu = 0; cpu < cpus.size(); ++cpu) {
    auto& c = cpus[cpu];
    if (c.bytes.size() < sizeof(struct nw_tl_ring)) {
      ++out.corrupt;
      continue;
    }
    auto& b = c.bytes;
    auto total = load_at<uint64_t>(b, offsetof(struct nw_tl_ring, records));
    out.lost += load_at<uint64_t>(b, offsetof(struct nw_tl_ring, lost));
    auto newest = c.written_before;
    auto after = std::max(c.written_after, newest);
    // The writer may have rewritten everything up to RECORD_MAX past
    // `after`, which lands RING_BYTES back: keep only records above that.
    uint64_t floor = after + NW_TL_RECORD_MAX > NW_TL_RING_BYTES
                       ? after + NW_TL_RECORD_MAX - NW_TL_RING_BYTES
                       : 0;
    uint64_t read = 0;
    auto end = newest;
    while (end > floor) {
      if (end < sizeof(struct nw_tl_trailer)) {
        ++out.corrupt;
        break;
      }
      auto t = load_at<struct nw_tl_trailer>(
        b, data_off + ((end - sizeof(struct nw_tl_trailer)) & NW_TL_RING_MASK));
      if (t.size < sizeof(struct nw_tl_trailer) || t.size % 8 != 0
          || t.size > NW_TL_RECORD_MAX || t.size > end) {
        ++out.corrupt;
        break;
      }
      auto start = end - t.size;
      if (start < floor)
        break; // overwritten (or being)
      if (t.kind == NW_TL_PAD) {
        end = start;
        continue;
      }
      auto off = start & NW_TL_RING_MASK;
      if (off + t.size > NW_TL_RING_BYTES) {
        ++out.corrupt; // the writer never straddles the end
        break;
      }
      auto h = load_at<struct nw_tl_header>(b, data_off + off);
      if (h.kind != t.kind || h.size != t.size) {
        ++out.corrupt;
        break;
      }
      auto ts = h.ts;
      if (h.kind == NW_TL_ENTER && t.size == sizeof(struct nw_tl_enter)) {
        auto e = load_at<struct nw_tl_enter>(b, data_off + off);
        auto& p = calls[{h.tid, e.seq, e.seq == 0 ? ++orphan : 0}];
        p.has_enter = true;
        p.first_ts = std::min<uint64_t>(p.first_ts, ts);
        auto& r = p.rec;
        r.ts_ns = ts;
        r.cpu = static_cast<uint32_t>(cpu);
        r.pid = e.pid;
        r.tid = h.tid;
        r.comm.assign(e.comm, ::strnlen(e.comm, sizeof(e.comm)));
        r.nr = static_cast<int32_t>(e.nr);
        for (size_t i = 0; i < 6; ++i)
          r.args[i] = e.args[i];
      } else if (h.kind == NW_TL_EXIT && t.size == sizeof(struct nw_tl_exit)) {
        auto x = load_at<struct nw_tl_exit>(b, data_off + off);
        auto& p = calls[{h.tid, x.seq, x.seq == 0 ? ++orphan : 0}];
        p.first_ts = std::min<uint64_t>(p.first_ts, ts);
        auto& r = p.rec;
        r.has_exit = true;
        r.ret = x.ret;
        if (!p.has_enter) {
          r.ts_ns = ts;
          r.cpu = static_cast<uint32_t>(cpu);
          r.pid = x.pid;
          r.tid = h.tid;
          r.nr = x.nr == 0xffffffffu ? -1 : static_cast<int32_t>(x.nr);
        }
      } else if (h.kind == NW_TL_CAPTURE
                 && t.size >= sizeof(struct nw_tl_capture)
                                + sizeof(struct nw_tl_trailer)) {
        auto k = load_at<struct nw_tl_capture>(b, data_off + off);
        auto room = t.size - sizeof(k) - sizeof(struct nw_tl_trailer);
        if (k.arg >= 6 || k.len > room || k.len > NW_TL_CAPTURE_MAX
            || k.seq == 0) {
          ++out.corrupt;
          break;
        }
        auto& p = calls[{h.tid, k.seq, 0}];
        p.first_ts = std::min<uint64_t>(p.first_ts, ts);
        capture cap;
        cap.bytes.assign(b.data() + data_off + off + sizeof(k), k.len);
        cap.truncated = (k.flags & NW_TL_CAPTURE_TRUNCATED) != 0;
        cap.failed = (k.flags & NW_TL_CAPTURE_FAILED) != 0;
        p.rec.captures[k.arg] = std::move(cap);
      } else {
        ++out.corrupt;
        break;
      }
      ++read;
      end = start;
    }
    if (total > read)
      out.overwritten += total - read;
  }
  std::vector<pending*> order;
  order.reserve(calls.size());
  for (auto& [key, p] : calls)
    if (p.has_enter || p.rec.has_exit) // captures alone: their enter is gone
      order.push_back(&p);
  std::stable_sort(order.begin(), order.end(),
                   [](auto* a, auto* b) { return a->first_ts < b->first_ts; });
  out.records.reserve(out.records.size() + order.size());
  // An exit alone carries no comm: its thread's other records have it.
  std::map<uint32_t, std::string> comm_of;
  for (auto* p : order)
    if (p->has_enter)
      comm_of.emplace(p->rec.tid, p->rec.comm);
  for (auto* p : order) {
    auto r = std::move(p->rec);
    r.has_enter = p->has_enter;
    r.unfinished = p->has_enter && !r.has_exit;
    if (!p->has_enter)
      if (auto i = comm_of.find(r.tid); i != comm_of.end())
        r.comm = i->second;
    r.ts_ns
      = static_cast<uint64_t>(static_cast<int64_t>(r.ts_ns) + mono_to_real);
    out.records.push_back(std::move(r));
  }
}

} // namespace nw::traceloop
