// SPDX-License-Identifier: GPL-2.0
/* The shared TC dispatcher: one classifier (direct action) attached to every
 * interface we hook, loaded once. It looks the interface up in `ifaces`
 * (ifindex -> the network namespace it counts for, and whether it is a
 * veth's host end), leaves the namespace and the direction in the skb's cb[]
 * (bpf/tc_dispatch.h) and tail-calls the program in slot 0 of a one-slot
 * PROG_ARRAY, so the program behind it can be swapped for every interface at
 * once with one map update, and no program is loaded per interface. With the
 * slot empty, or an interface it does not know, the packet goes on as if no
 * filter were there (TC_ACT_UNSPEC: the next filter, or the qdisc's
 * default). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
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

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, NW_TC_MAX_IFACES);
  __type(key, __u32);
  __type(value, struct nw_tc_iface);
} ifaces SEC(".maps");

/* The kernel's sk_buff behind the context (a free cast, 6.3+): one program
 * serves both hooks, and this bit says which one runs it — exact, where a
 * guess from skb->ingress_ifindex is wrong for hairpinned traffic. */
extern void* bpf_cast_to_kern_ctx(void* obj) __ksym;

/* The function name is the program's name, which CONTRACTS.md makes part of
 * what identifies our filters (NW_TC_PROG_NAME). */
SEC("tc")
int nw_dispatch(struct __sk_buff* skb) {
  __u32 ifindex = skb->ifindex;
  struct nw_tc_iface* iface = bpf_map_lookup_elem(&ifaces, &ifindex);
  if (!iface)
    return TC_ACT_UNSPEC;
  struct sk_buff* kskb = bpf_cast_to_kern_ctx(skb);
  int at_ingress = BPF_CORE_READ_BITFIELD(kskb, tc_at_ingress);
  int peer = (iface->flags & NW_TC_IFACE_PEER) != 0;
  skb->cb[NW_TC_CB_NETNS_LO] = (__u32)iface->netns;
  skb->cb[NW_TC_CB_NETNS_HI] = (__u32)(iface->netns >> 32);
  /* Host interface: ingress is rx. Host end of a veth: inverted. */
  skb->cb[NW_TC_CB_DIR] = (at_ingress != peer) ? NW_TC_DIR_RX : NW_TC_DIR_TX;
  bpf_tail_call(skb, &dispatch_slots, 0);
  return TC_ACT_UNSPEC;
}
