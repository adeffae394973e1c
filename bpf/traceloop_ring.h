/* traceloop's ring: the layout the BPF writer (bpf/traceloop.bpf.c) and the
 * user-space reader (actors/traceloop/ring.cpp) share.
 *
 * One ring per traced container, found by the outer map
 * `traceloop_rings` (BPF_MAP_TYPE_HASH_OF_MAPS, key: the container's mount
 * namespace inode, __u64). A ring is a BPF_MAP_TYPE_ARRAY (BPF_F_MMAPABLE)
 * with one element per possible CPU, each a struct nw_tl_ring: a CPU only
 * ever writes its own element, so there are no atomics and no locks, and
 * user space mmaps the whole ring read-only.
 *
 * Records are written forwards at `written` (a byte count that only grows;
 * a record lives at data[written % NW_TL_RING_BYTES]), each ending in a
 * struct nw_tl_trailer with its size, so the reader walks newest -> oldest
 * from `written` back. A record never straddles the end of data[]: when
 * the rest is too small for the largest record, the writer fills it with a
 * PAD record first. Old records are simply overwritten: the reader trusts
 * only the last NW_TL_RING_BYTES - NW_TL_RECORD_MAX bytes before the
 * `written` it read after copying (a record being written can reach at
 * most NW_TL_RECORD_MAX past that).
 *
 * Plain C with __u types: BPF includes vmlinux.h first, user space
 * <linux/types.h>. */
#ifndef NW_BPF_TRACELOOP_RING_H
#define NW_BPF_TRACELOOP_RING_H

#ifndef __VMLINUX_H__
#  include <linux/types.h>
#endif

/* Data bytes per CPU per container (CONTRACTS.md: 128 KiB); a power of
 * two. */
#define NW_TL_RING_BYTES (128 * 1024)
#define NW_TL_RING_MASK (NW_TL_RING_BYTES - 1)
/* Bytes captured behind one pointer argument at most. */
#define NW_TL_CAPTURE_MAX 128
/* The largest record (a capture: 24 + 128 + 8), rounded up. */
#define NW_TL_RECORD_MAX 256
/* Containers traced at once (the outer map). */
#define NW_TL_MAX_RINGS 4096
/* Syscall numbers the capture spec covers. */
#define NW_TL_MAX_NR 512

/* Record kinds. */
#define NW_TL_PAD 0
#define NW_TL_ENTER 1
#define NW_TL_EXIT 2
#define NW_TL_CAPTURE 3

/* Capture flags. */
#define NW_TL_CAPTURE_TRUNCATED 1
#define NW_TL_CAPTURE_FAILED 2

/* Every record but a PAD starts with this. */
struct nw_tl_header {
  __u8 kind;
  __u8 reserved;
  /* The record's size, trailer included; a multiple of 8. */
  __u16 size;
  /* The thread, in the host's pid namespace. */
  __u32 tid;
  /* CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns). */
  __u64 ts;
};

/* Every record ends with this (a PAD record is only this, at the end of
 * the bytes it skips). */
struct nw_tl_trailer {
  __u32 size;
  __u8 kind;
  __u8 reserved[3];
};

/* A syscall's entry. */
struct nw_tl_enter {
  struct nw_tl_header h;
  /* The thread group (process). */
  __u32 pid;
  /* The thread's syscall sequence number: its exit and captures carry the
   * same. */
  __u32 seq;
  __u32 nr;
  __u32 reserved;
  __u64 args[6];
  char comm[16];
  struct nw_tl_trailer t;
};

/* A syscall's exit. */
struct nw_tl_exit {
  struct nw_tl_header h;
  __u32 pid;
  __u32 seq;
  __u32 nr;
  __u32 reserved;
  __s64 ret;
  struct nw_tl_trailer t;
};

/* Bytes read behind one pointer argument; `len` bytes of data follow,
 * padded to 8, then the trailer. */
struct nw_tl_capture {
  struct nw_tl_header h;
  __u32 seq;
  __u8 arg;
  /* NW_TL_CAPTURE_* bits. */
  __u8 flags;
  __u16 len;
};

/* One CPU's part of a ring. */
struct nw_tl_ring {
  /* Bytes written so far; the newest record ends here. */
  __u64 written;
  /* Records written so far (PAD records not counted). */
  __u64 records;
  /* Records that could not be written (no task storage). */
  __u64 lost;
  __u64 reserved[5];
  /* NW_TL_RECORD_MAX of slack past the ring, never written, lets the
   * verifier see that any record at any offset fits. */
  __u8 data[NW_TL_RING_BYTES + NW_TL_RECORD_MAX];
};

#endif /* NW_BPF_TRACELOOP_RING_H */
