// SPDX-License-Identifier: GPL-2.0
/* An example user of nodewatch's pinned containers map: on every syscall of
 * one chosen process, read the task's mount namespace inode with a BTF
 * pointer walk and look it up in the map. User space reuses the pin for
 * the map below (bpf_map__reuse_fd before load), so this program reads the
 * map the agent keeps, and reports what it found through .bss. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "containers_map.h"

char LICENSE[] SEC("license") = "GPL";

/* The same definition as the agent's map (bpf/containers_map.h); user space
 * replaces it with the pinned map before loading. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NW_CONTAINERS_MAP_ENTRIES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, nw_containers_map_key);
  __type(value, struct nw_container_entry);
} containers SEC(".maps");

/* The process to look at (its tgid), set by user space before load.
 * __u32/__u64, never vmlinux's u32/u64 (bpftool 7.1 and g++). */
const volatile __u32 target_tgid = 0;

/* What the program saw, for user space to read (the skeleton's bss). */
__u64 seen_mntns = 0;
/* 0 nothing yet, 1 found in the map, 2 not in the map. */
__u32 result = 0;
struct nw_container_entry found = {};

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct trace_event_raw_sys_enter* ctx) {
  (void)ctx;
  if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
    return 0;
  /* As bpf/execruntime.bpf.c does: the task's mount namespace inode is the
   * map's key (what /proc/PID/ns/mnt shows). */
  struct task_struct* task = bpf_get_current_task_btf();
  nw_containers_map_key mntns = task->nsproxy->mnt_ns->ns.inum;
  struct nw_container_entry* e = bpf_map_lookup_elem(&containers, &mntns);
  seen_mntns = mntns;
  if (!e) {
    result = 2;
    return 0;
  }
  bpf_probe_read_kernel(&found, sizeof(found), e);
  result = 1;
  return 0;
}
