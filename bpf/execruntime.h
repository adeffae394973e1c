/* The argv of an exec in flight, as execruntime.bpf.c records it at
 * sys_enter_execve and user space reads it while a FAN_OPEN_EXEC_PERM event
 * holds the exec: the map value, shared by the BPF program and C++.
 *
 * Plain C with __u32/__u64 only: bpftool 7.1 copies vmlinux's u64 typedef into
 * skeletons, which g++ rejects, so nothing user space sees uses vmlinux names.
 * The BPF program includes vmlinux.h (which defines the __u types) first. */
#ifndef NW_BPF_EXECRUNTIME_H
#define NW_BPF_EXECRUNTIME_H

#ifndef __VMLINUX_H__
#  include <linux/types.h>
#endif

/* argv entries recorded; an exec with more loses the rest (argc stays at
 * this value, so user space cannot tell 20 from more). */
#define NW_EXECRUNTIME_ARGV_MAX 20
/* Bytes per argv slot, NUL included: an entry of 255 bytes may be cut. */
#define NW_EXECRUNTIME_ARG_SIZE 256
/* TASK_COMM_LEN */
#define NW_EXECRUNTIME_COMM_SIZE 16
/* Capacity of the tid-keyed map. An entry lives only while its exec is in
 * flight (see execruntime.bpf.c), so this bounds concurrent execs, not execs;
 * the map is preallocated (LRU), ~5.2 KiB an entry: 1024 is ~5.3 MiB of
 * kernel memory where 10240 would pin ~53 MiB. */
#define NW_EXECRUNTIME_MAP_ENTRIES 1024

/* Value of the map execs_by_tid, key: the exec'ing thread's tid (__u32). */
struct nw_execruntime_entry {
  /* Mount namespace inode of the exec'ing task (/proc/PID/ns/mnt). */
  __u64 mntns;
  /* Entries of argv recorded, at most NW_EXECRUNTIME_ARGV_MAX; slots at
   * and after argc hold stale bytes. */
  __u32 argc;
  /* Effective uid of the exec'ing task, before the exec. */
  __u32 euid;
  /* The exec's argv array (a user address in the caller's memory, which
   * stays mapped while the exec is held). */
  __u64 argv_ptr;
  /* 1 when the capture stopped at an entry it could not read (a page not
   * faulted in yet: this program cannot sleep); user space then reads argv
   * from argv_ptr itself, which faults pages in. */
  __u32 faulted;
  __u32 reserved;
  /* comm of the task before the exec (the caller, e.g. containerd-shim). */
  char comm[NW_EXECRUNTIME_COMM_SIZE];
  /* argv[i], NUL-terminated, each in its fixed slot. */
  char argv[NW_EXECRUNTIME_ARGV_MAX][NW_EXECRUNTIME_ARG_SIZE];
};

/* Both sides compile this line: a layout change they disagree on fails here. */
#ifdef __cplusplus
static_assert(sizeof(struct nw_execruntime_entry) == 5168,
              "nw_execruntime_entry layout");
#else
_Static_assert(sizeof(struct nw_execruntime_entry) == 5168,
               "nw_execruntime_entry layout");
#endif

#endif /* NW_BPF_EXECRUNTIME_H */
