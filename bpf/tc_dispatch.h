/* The TC dispatcher's contract, shared by bpf/tc_dispatch.bpf.c, the
 * programs it tail-calls (bpf/tc_counters.bpf.c, or a user's
 * `--tc-program`) and user space.
 *
 * Identity (CONTRACTS.md, "Kernel objects we own"): a filter with this
 * priority, this handle and a program of this name is ours.
 *
 * What the dispatcher hands the program in slot 0, in the __sk_buff's cb[]
 * (the tail call keeps the skb as it is):
 *   cb[NW_TC_CB_NETNS_LO], cb[NW_TC_CB_NETNS_HI]: the 64-bit network
 *     namespace inode of the container the interface belongs to (for a
 *     host interface hooked with --tc-iface: the host's);
 *   cb[NW_TC_CB_DIR]: NW_TC_DIR_RX (the packet goes into the container) or
 *     NW_TC_DIR_TX (it comes out of it). On the host end of a veth the
 *     hooks are inverted: its egress is the container's rx.
 * A program that needs neither may ignore them. */
#ifndef NW_BPF_TC_DISPATCH_H
#define NW_BPF_TC_DISPATCH_H

#ifndef __VMLINUX_H__
#  include <linux/types.h>
#endif

/* The filter's priority ("pref 20055" in `tc filter show`). */
#define NW_TC_PRIORITY 0x4e57
/* The filter's handle. */
#define NW_TC_HANDLE 1
/* The program's name: the dispatcher function in tc_dispatch.bpf.c. */
#define NW_TC_PROG_NAME "nw_dispatch"
/* Slots of the dispatcher's PROG_ARRAY: slot 0 is the program it calls. */
#define NW_TC_DISPATCH_SLOTS 1

/* The dispatcher's interface map: ifindex (__u32, in the host's network
 * namespace) -> struct nw_tc_iface. An interface missing from it is not
 * dispatched (TC_ACT_UNSPEC). */
#define NW_TC_MAX_IFACES 16384
struct nw_tc_iface {
  /* The network namespace inode the interface's traffic is counted for. */
  __u64 netns;
  /* NW_TC_IFACE_* bits. */
  __u32 flags;
  __u32 reserved;
};
/* The host end of a veth whose other end is in `netns`: ingress here is
 * the container's tx. Without it (a host interface) ingress is rx. */
#define NW_TC_IFACE_PEER 1u

/* cb[] slots and direction values, as above. */
#define NW_TC_CB_NETNS_LO 0
#define NW_TC_CB_NETNS_HI 1
#define NW_TC_CB_DIR 2
#define NW_TC_DIR_RX 1u
#define NW_TC_DIR_TX 2u

/* The counters program (bpf/tc_counters.bpf.c): a per-CPU hash, network
 * namespace inode (__u64) -> struct nw_net_counters, one entry per tracked
 * namespace, created and deleted by user space (the program only adds to
 * entries that exist). */
#define NW_NET_COUNTERS_ENTRIES 16384
struct nw_net_counters {
  __u64 rx_packets;
  __u64 rx_bytes;
  __u64 tx_packets;
  __u64 tx_bytes;
};

#endif
