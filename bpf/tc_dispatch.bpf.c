// SPDX-License-Identifier: GPL-2.0
/* The shared TC dispatcher: one classifier (direct action) attached to every
 * interface we hook, loaded once. It tail-calls the program in slot 0 of a
 * one-slot PROG_ARRAY, so the program behind it can be swapped for every
 * interface at once with one map update, and no program is loaded per
 * interface. With the slot empty the tail call falls through and the packet
 * goes on as if no filter were there (TC_ACT_UNSPEC: the next filter, or the
 * qdisc's default). */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "tc_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

/* vmlinux.h has the kernel's types, not its macros (linux/pkt_cls.h). */
#define TC_ACT_UNSPEC (-1)

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, NW_TC_DISPATCH_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
} dispatch_slots SEC(".maps");

/* The function name is the program's name, which CONTRACTS.md makes part of
 * what identifies our filters (NW_TC_PROG_NAME). */
SEC("tc")
int nw_dispatch(struct __sk_buff* skb) {
  bpf_tail_call(skb, &dispatch_slots, 0);
  return TC_ACT_UNSPEC;
}
