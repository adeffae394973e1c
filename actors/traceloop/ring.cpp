#include "actors/traceloop/ring.hpp"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <tuple>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/traceloop_ring.h"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/libbpf_capture.hpp"
#include "traceloop.skel.h"

namespace nw::traceloop {

namespace {

using kernel::errno_text;

template <class T>
T load_at(const std::string& bytes, size_t off) {
  T x{};
  std::memcpy(&x, bytes.data() + off, sizeof(T));
  return x;
}

/// Offset of the data area in a struct nw_tl_ring.
constexpr size_t data_off = offsetof(struct nw_tl_ring, data);

int64_t mono_to_real_now() {
  timespec mono{}, real{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &real);
  return (int64_t{real.tv_sec} - mono.tv_sec) * 1'000'000'000
         + (int64_t{real.tv_nsec} - mono.tv_nsec);
}

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

// -- recorder -----------------------------------------------------------------

std::unique_ptr<recorder> recorder::load(std::string& error) {
  auto cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    error = "counting the possible CPUs: " + errno_text(-cpus);
    return nullptr;
  }
  std::string messages;
  traceloop_bpf* skel = nullptr;
  int err = 0;
  {
    kernel::libbpf_capture capture{messages};
    skel = traceloop_bpf::open();
    if (skel == nullptr) {
      err = -errno;
    } else {
      err = traceloop_bpf::load(skel);
      if (err == 0)
        err = traceloop_bpf::attach(skel);
    }
  }
  if (err != 0) {
    error = "loading traceloop's BPF programs: " + errno_text(-err);
    if (!messages.empty())
      error += "; libbpf: " + kernel::one_line(std::move(messages));
    traceloop_bpf::destroy(skel);
    return nullptr;
  }
  return std::unique_ptr<recorder>{new recorder(skel, cpus)};
}

recorder::~recorder() {
  traceloop_bpf::destroy(skel_);
}

bool recorder::set_capture_specs(
  const std::vector<nw_traceloop_capture_spec>& specs, std::string& error) {
  auto fd = bpf_map__fd(skel_->maps.capture_specs);
  auto n = std::min<size_t>(specs.size(), NW_TL_MAX_NR);
  for (uint32_t nr = 0; nr < n; ++nr) {
    if (::bpf_map_update_elem(fd, &nr, &specs[nr], BPF_ANY) != 0) {
      error = "filling the capture spec (syscall " + std::to_string(nr)
              + "): " + errno_text(errno);
      return false;
    }
  }
  return true;
}

size_t recorder::ring_bytes() const {
  // An mmapable array's values are laid out back to back, each rounded to
  // 8 bytes; the mapping is whole pages.
  auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t len = ((sizeof(struct nw_tl_ring) + 7) & ~size_t{7})
               * static_cast<size_t>(cpus_);
  return (len + page - 1) / page * page;
}

std::unique_ptr<ring> recorder::create_ring(std::string& error) const {
  // The flags must be the template's (bpf/traceloop.bpf.c).
  LIBBPF_OPTS(bpf_map_create_opts, opts,
              .map_flags = BPF_F_MMAPABLE | BPF_F_INNER_MAP);
  int fd = ::bpf_map_create(BPF_MAP_TYPE_ARRAY, "nw_tl_ring", sizeof(uint32_t),
                            sizeof(struct nw_tl_ring),
                            static_cast<uint32_t>(cpus_), &opts);
  if (fd < 0) {
    error = "creating a traceloop ring: " + errno_text(errno);
    return nullptr;
  }
  auto len = ring_bytes();
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    error = "mapping a traceloop ring: " + errno_text(errno);
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<ring>{new ring(fd, map, len, cpus_)};
}

bool recorder::insert(uint64_t mntns, const ring& r, std::string& error) {
  int inner = r.fd();
  if (::bpf_map_update_elem(bpf_map__fd(skel_->maps.traceloop_rings), &mntns,
                            &inner, BPF_ANY)
      != 0) {
    error = "routing mount namespace " + std::to_string(mntns)
            + " to its ring: " + errno_text(errno);
    return false;
  }
  return true;
}

bool recorder::erase(uint64_t mntns, std::string& error) {
  if (::bpf_map_delete_elem(bpf_map__fd(skel_->maps.traceloop_rings), &mntns)
        != 0
      && errno != ENOENT) {
    error = "unrouting mount namespace " + std::to_string(mntns) + ": "
            + errno_text(errno);
    return false;
  }
  return true;
}

// -- ring ---------------------------------------------------------------------

ring::~ring() {
  ::munmap(map_, len_);
  ::close(fd_);
}

void ring::read(ring_read& out) const {
  constexpr size_t stride = (sizeof(struct nw_tl_ring) + 7) & ~size_t{7};
  std::vector<cpu_copy> copies(static_cast<size_t>(cpus_));
  for (int cpu = 0; cpu < cpus_; ++cpu) {
    auto* base = static_cast<const char*>(map_) + stride * cpu;
    auto* written = reinterpret_cast<const uint64_t*>(
      base + offsetof(struct nw_tl_ring, written));
    auto& c = copies[static_cast<size_t>(cpu)];
    c.written_before = __atomic_load_n(written, __ATOMIC_ACQUIRE);
    c.bytes.assign(base, sizeof(struct nw_tl_ring));
    std::atomic_thread_fence(std::memory_order_acquire);
    c.written_after = __atomic_load_n(written, __ATOMIC_ACQUIRE);
  }
  decode_rings(copies, mono_to_real_now(), out);
}

} // namespace nw::traceloop
