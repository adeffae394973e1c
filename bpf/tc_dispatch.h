/* The TC dispatcher's identity (CONTRACTS.md, "Kernel objects we own"),
 * shared by bpf/tc_dispatch.bpf.c and user space: a filter with this
 * priority, this handle and a program of this name is ours. */
#ifndef NW_BPF_TC_DISPATCH_H
#define NW_BPF_TC_DISPATCH_H

/* The filter's priority ("pref 20055" in `tc filter show`). */
#define NW_TC_PRIORITY 0x4e57
/* The filter's handle. */
#define NW_TC_HANDLE 1
/* The program's name: the dispatcher function in tc_dispatch.bpf.c. */
#define NW_TC_PROG_NAME "nw_dispatch"
/* Slots of the dispatcher's PROG_ARRAY: slot 0 is the program it calls. */
#define NW_TC_DISPATCH_SLOTS 1

#endif
