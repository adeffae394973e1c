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

int64_t mono_to_real_now() {
  timespec mono{}, real{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &real);
  return (int64_t{real.tv_sec} - mono.tv_sec) * 1'000'000'000
         + (int64_t{real.tv_nsec} - mono.tv_nsec);
}

} // namespace

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
