// SPDX-License-Identifier: GPL-2.0
/* The TC dispatcher's default program (slot 0): packets and bytes per
 * network namespace and direction, from the container's point of view, in
 * a per-CPU hash that user space sums (bpf/tc_dispatch.h). Entries exist
 * only for namespaces user space tracks; a packet of any other is let
 * through uncounted. Never drops or redirects anything. */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "tc_dispatch.h"

char LICENSE[] SEC("license") = "GPL";

#define TC_ACT_UNSPEC (-1)

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, NW_NET_COUNTERS_ENTRIES);
  __type(key, __u64);
  __type(value, struct nw_net_counters);
} net_counters SEC(".maps");

SEC("tc")
int nw_net_counters(struct __sk_buff* skb) {
  __u64 netns = (__u64)skb->cb[NW_TC_CB_NETNS_LO]
                | ((__u64)skb->cb[NW_TC_CB_NETNS_HI] << 32);
  struct nw_net_counters* c = bpf_map_lookup_elem(&net_counters, &netns);
  if (!c)
    return TC_ACT_UNSPEC;
  /* Per-CPU, and a CPU runs one packet's hook at a time here (tc egress
   * runs with bottom halves off, ingress in the softirq): plain adds. */
  if (skb->cb[NW_TC_CB_DIR] == NW_TC_DIR_RX) {
    c->rx_packets += 1;
    c->rx_bytes += skb->len;
  } else {
    c->tx_packets += 1;
    c->tx_bytes += skb->len;
  }
  return TC_ACT_UNSPEC;
}
