// nw_example_containers_map: which container is process PID in, asked from
// inside the kernel. Opens nodewatch's pinned containers map, loads a
// tracepoint program (cmap_example.bpf.c) that uses it as its own map, and
// waits until PID makes a syscall: the program then looks the task's mount
// namespace up in the map and this prints what it found.
//
//   nw_example_containers_map --pid PID
//                             [--pin /sys/fs/bpf/nodewatch/containers]
//                             [--timeout-ms 5000]
//
// Prints `pid=PID mntns=N container_name=... container_id=...
// k8s_namespace=... k8s_pod=...` and exits 0 when found; prints `pid=PID
// mntns=N not in the containers map` and exits 1 when PID's mount namespace
// is no container's; exits 3 when PID made no syscall in time, 2 on bad
// usage, 4 when the pin or BPF cannot be used. Needs root.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <sys/mount.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/containers_map.h"
#include "cmap_example.skel.h"

namespace {

int usage() {
  std::fprintf(stderr, "usage: nw_example_containers_map --pid PID "
                       "[--pin /sys/fs/bpf/nodewatch/containers] "
                       "[--timeout-ms MS]\n");
  return 2;
}

/// libbpf attaches tracepoints through tracefs: mount it if nothing is.
void ensure_tracefs() {
  if (::access("/sys/kernel/tracing/events", F_OK) == 0
      || ::access("/sys/kernel/debug/tracing/events", F_OK) == 0)
    return;
  if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    std::fprintf(stderr, "tracefs is not mounted and mounting it failed: %s\n",
                 std::strerror(errno));
}

std::string field(const char* s) {
  return std::string{s, ::strnlen(s, NW_CONTAINERS_MAP_FIELD_SIZE)};
}

} // namespace

int main(int argc, char** argv) {
  std::string pin = "/sys/fs/bpf/nodewatch/" NW_CONTAINERS_MAP_PIN_NAME;
  long pid = 0;
  long timeout_ms = 5000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc)
      return usage();
    if (arg == "--pid")
      pid = std::strtol(argv[++i], nullptr, 10);
    else if (arg == "--pin")
      pin = argv[++i];
    else if (arg == "--timeout-ms")
      timeout_ms = std::strtol(argv[++i], nullptr, 10);
    else
      return usage();
  }
  if (pid <= 0 || timeout_ms <= 0)
    return usage();

  int map_fd = ::bpf_obj_get(pin.c_str());
  if (map_fd < 0) {
    std::fprintf(stderr, "cannot open the pinned map %s: %s\n", pin.c_str(),
                 std::strerror(errno));
    return 4;
  }
  ensure_tracefs();
  auto* skel = cmap_example_bpf::open();
  if (skel == nullptr) {
    std::fprintf(stderr, "cannot open the BPF object: %s\n",
                 std::strerror(errno));
    return 4;
  }
  skel->rodata->target_tgid = static_cast<__u32>(pid);
  // The program's `containers` map becomes the pinned one: no map of its
  // own is created, and lookups read the agent's entries.
  int err = bpf_map__reuse_fd(skel->maps.containers, map_fd);
  if (err == 0)
    err = cmap_example_bpf::load(skel);
  if (err == 0)
    err = cmap_example_bpf::attach(skel);
  if (err != 0) {
    std::fprintf(stderr, "cannot load the example program: %s\n",
                 std::strerror(-err));
    cmap_example_bpf::destroy(skel);
    ::close(map_fd);
    return 4;
  }
  auto deadline
    = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  int rc = 3;
  while (std::chrono::steady_clock::now() < deadline) {
    auto result = __atomic_load_n(&skel->bss->result, __ATOMIC_ACQUIRE);
    if (result == 1) {
      auto& e = skel->bss->found;
      std::printf("pid=%ld mntns=%llu container_name=%s container_id=%s "
                  "k8s_namespace=%s k8s_pod=%s\n",
                  pid, static_cast<unsigned long long>(skel->bss->seen_mntns),
                  field(e.container_name).c_str(),
                  field(e.container_id).c_str(), field(e.k8s_namespace).c_str(),
                  field(e.k8s_pod).c_str());
      rc = 0;
      break;
    }
    if (result == 2) {
      std::printf("pid=%ld mntns=%llu not in the containers map\n", pid,
                  static_cast<unsigned long long>(skel->bss->seen_mntns));
      rc = 1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  if (rc == 3)
    std::fprintf(stderr, "pid %ld made no syscall within %ld ms\n", pid,
                 timeout_ms);
  cmap_example_bpf::destroy(skel);
  ::close(map_fd);
  return rc;
}
