// SPDX-License-Identifier: GPL-2.0
/* traceloop_bench's floor: an empty sys_enter + sys_exit raw tracepoint
 * pair. What any raw-tracepoint syscall tracer pays on every syscall of
 * every process on the host before doing anything at all. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tracepoint/sys_enter")
int nw_bench_empty_enter(struct bpf_raw_tracepoint_args* ctx
                         __attribute__((unused))) {
  return 0;
}

SEC("raw_tracepoint/sys_exit")
int nw_bench_empty_exit(struct bpf_raw_tracepoint_args* ctx
                        __attribute__((unused))) {
  return 0;
}
