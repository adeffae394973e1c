// SPDX-License-Identifier: GPL-2.0
/* Records the argv of every execve and execveat, keyed by the exec'ing thread's
 * tid, for the short time the exec is in flight: user space reads it while a
 * FAN_OPEN_EXEC_PERM event (FAN_REPORT_TID) holds the exec of an OCI runtime,
 * then allows it, and the exec completing deletes the entry.
 *
 * Tracepoints, not kprobes: this kernel refuses kprobes and fentry, so the
 * entry cannot be looked up in the kernel when the fanotify event is queued
 * (Inspektor Gadget's kprobe on fsnotify_remove_first_event); user space looks
 * it up by the event's tid instead. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "execruntime.h"

char LICENSE[] SEC("license") = "GPL";

/* LRU rather than a plain hash: an entry outlives its exec only if a cleanup
 * program missed it (it attached after the exec entered, or detached before
 * the exec returned). A plain hash would keep such leaks and, once full, stop
 * recording; LRU evicts the stalest entry instead. A live entry is young: from
 * microseconds to the hold deadline (2 s) while user space reads it.
 * Capacity and memory: see NW_EXECRUNTIME_MAP_ENTRIES. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, NW_EXECRUNTIME_MAP_ENTRIES);
  __type(key, __u32);
  __type(value, struct nw_execruntime_entry);
} execs_by_tid SEC(".maps");

/* The entry is ~5 KiB and the BPF stack is 512 bytes: it is built in this
 * per-CPU slot and copied into execs_by_tid. One slot per CPU is enough:
 * trace_call_bpf() does not start a tracepoint program on a CPU where one is
 * already running (bpf_prog_active), so no two runs share the slot. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct nw_execruntime_entry);
} scratch SEC(".maps");

static __always_inline __u32 current_tid(void) {
  /* The lower 32 bits are the thread id (what FAN_REPORT_TID reports). */
  return (__u32)bpf_get_current_pid_tgid();
}

/* Records the argv of an exec entering the kernel, under the current tid. */
static __always_inline int record_exec(const char* const* argv) {
  __u32 zero = 0;
  struct nw_execruntime_entry* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e)
    return 0;

  __u32 argc = 0;
  __u32 faulted = 0;
  /* A constant trip count with the index checked against the array bound in
   * the loop condition: the verifier (bounded loops, 5.3+) walks all 20
   * iterations with a known index, so e->argv[i] is provably in bounds. */
  for (__u32 i = 0; i < NW_EXECRUNTIME_ARGV_MAX; i++) {
    const char* arg = NULL;
    if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) != 0) {
      faulted = 1;
      break;
    }
    if (!arg)
      break;
    /* A string that faults (not paged in: this program cannot sleep) ends
     * the capture rather than leaving a hole in argv's positions; user
     * space reads the rest from argv_ptr. */
    if (bpf_probe_read_user_str(e->argv[i], NW_EXECRUNTIME_ARG_SIZE, arg) < 0) {
      faulted = 1;
      break;
    }
    argc = i + 1;
  }
  e->argc = argc;
  e->faulted = faulted;
  e->argv_ptr = (__u64)argv;
  e->reserved = 0;

  bpf_get_current_comm(e->comm, sizeof(e->comm));

  /* A BTF pointer walk rather than BPF_CORE_READ's probe reads: cheaper on
   * this host (DESIGN.md, costs measured), and a faulting load reads as 0. */
  struct task_struct* task = bpf_get_current_task_btf();
  e->mntns = task->nsproxy->mnt_ns->ns.inum;
  e->euid = task->cred->euid.val;

  __u32 tid = current_tid();
  bpf_map_update_elem(&execs_by_tid, &tid, e, BPF_ANY);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int handle_enter_execve(struct trace_event_raw_sys_enter* ctx) {
  /* execve(filename, argv, envp) */
  return record_exec((const char* const*)ctx->args[1]);
}

/* crun re-executes itself with execveat(fd, "", argv, envp, AT_EMPTY_PATH). */
SEC("tracepoint/syscalls/sys_enter_execveat")
int handle_enter_execveat(struct trace_event_raw_sys_enter* ctx) {
  /* execveat(dirfd, pathname, argv, envp, flags) */
  return record_exec((const char* const*)ctx->args[2]);
}

/* A successful exec: old_pid is the tid that entered execve (a non-leader
 * thread takes over the leader's pid during the exec, so the current tid
 * may no longer be the key). */
SEC("tracepoint/sched/sched_process_exec")
int handle_sched_process_exec(struct trace_event_raw_sched_process_exec* ctx) {
  __u32 tid = (__u32)ctx->old_pid;
  bpf_map_delete_elem(&execs_by_tid, &tid);
  return 0;
}

/* A failed exec (ENOENT, EACCES, a denied permission event, a fatal signal
 * while held) never reaches sched_process_exec. */
SEC("tracepoint/syscalls/sys_exit_execve")
int handle_exit_execve(struct trace_event_raw_sys_exit* ctx) {
  (void)ctx;
  __u32 tid = current_tid();
  bpf_map_delete_elem(&execs_by_tid, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int handle_exit_execveat(struct trace_event_raw_sys_exit* ctx) {
  (void)ctx;
  __u32 tid = current_tid();
  bpf_map_delete_elem(&execs_by_tid, &tid);
  return 0;
}
