// SPDX-License-Identifier: GPL-2.0
/* traceloop: every syscall of every selected container into that
 * container's ring (bpf/traceloop_ring.h), all the time.
 *
 * Raw tracepoints sys_enter/sys_exit run for every syscall of every process
 * on the host, so the path for a process that is not traced is kept to the
 * minimum: the current task's mount namespace by a BTF pointer walk and one
 * hash lookup that misses. A traced thread's syscalls are numbered in its
 * task storage, so that an exit pairs with its enter exactly even when the
 * thread moved CPUs in between (the reader merges the CPUs). Pointer
 * arguments are read per the capture spec (bpf/traceloop.h) that user
 * space derives from tracefs: strings and input buffers at enter, output
 * buffers at exit (the data exists only then). */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "traceloop.h"
#include "traceloop_ring.h"

char LICENSE[] SEC("license") = "GPL";

/* A ring (the template of the outer map's values): one element per
 * possible CPU. BPF_F_INNER_MAP lets the rings have another max_entries
 * than this template (libbpf 1.1 cannot resize an inner map). The value's
 * size, not its type: clang gives a map nested in another only a forward
 * declaration of its value type, which libbpf cannot size. */
struct ring_map {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct nw_tl_ring));
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
  __uint(max_entries, NW_TL_MAX_RINGS);
  __type(key, __u64);
  __array(values, struct ring_map);
} traceloop_rings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, NW_TL_MAX_NR);
  __type(key, __u32);
  __type(value, struct nw_traceloop_capture_spec);
} capture_specs SEC(".maps");

/* Per traced thread: its syscall sequence and what the exit needs. */
struct thread_state {
  __u32 seq;
  __u32 nr;
  /* In a syscall whose enter we recorded. */
  __u32 inside;
  /* A BUFFER_OUT rule to run at exit: its argument, the pointer and the
   * buffer's length. */
  __u32 out_arg;
  __u64 out_ptr;
  __u64 out_len;
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct thread_state);
} threads SEC(".maps");

/* The ring of the current task's container on this CPU, or NULL. */
static __always_inline struct nw_tl_ring*
current_ring(struct task_struct* task) {
  __u64 mntns = task->nsproxy->mnt_ns->ns.inum;
  void* ring = bpf_map_lookup_elem(&traceloop_rings, &mntns);
  if (!ring)
    return 0;
  __u32 cpu = bpf_get_smp_processor_id();
  return bpf_map_lookup_elem(ring, &cpu);
}

/* Where a record of up to NW_TL_RECORD_MAX bytes goes: at `written`, after
 * a PAD record if the rest of data[] is too small for the largest one. */
static __always_inline __u64 reserve(struct nw_tl_ring* ring) {
  __u64 w = ring->written;
  __u64 off = w & NW_TL_RING_MASK;
  if (off + NW_TL_RECORD_MAX > NW_TL_RING_BYTES) {
    __u64 rest = NW_TL_RING_BYTES - off;
    struct nw_tl_trailer* t
      = (void*)&ring->data[(NW_TL_RING_BYTES - sizeof(*t)) & NW_TL_RING_MASK];
    t->size = rest;
    t->kind = NW_TL_PAD;
    w += rest;
    ring->written = w;
  }
  return w;
}

/* Publishes a record of `size` bytes written at `w`. */
static __always_inline void commit(struct nw_tl_ring* ring, __u64 w,
                                   __u32 size) {
  /* The record's bytes before the count that makes them visible (x86 keeps
   * stores in order; the barrier keeps the compiler from moving them). */
  asm volatile("" ::: "memory");
  ring->written = w + size;
  ring->records += 1;
}

static __always_inline void set_header(struct nw_tl_header* h, __u8 kind,
                                       __u16 size, __u32 tid, __u64 ts) {
  h->kind = kind;
  h->reserved = 0;
  h->size = size;
  h->tid = tid;
  h->ts = ts;
}

static __always_inline void set_trailer(struct nw_tl_trailer* t, __u8 kind,
                                        __u32 size) {
  t->size = size;
  t->kind = kind;
}

/* Reads `len` bytes (a string if `string`) from user address `src` into a
 * capture record. */
static __always_inline void capture(struct nw_tl_ring* ring, __u32 tid,
                                    __u64 ts, __u32 seq, __u32 arg, __u64 src,
                                    __u64 len, int string) {
  __u64 w = reserve(ring);
  __u64 off = w & NW_TL_RING_MASK;
  struct nw_tl_capture* c = (void*)&ring->data[off];
  __u8* data = (__u8*)(c + 1);
  long n;
  __u8 flags = 0;
  if (string) {
    n = bpf_probe_read_user_str(data, NW_TL_CAPTURE_MAX, (const void*)src);
    if (n > 0) {
      n -= 1; /* the NUL */
      if (n == NW_TL_CAPTURE_MAX - 1)
        flags |= NW_TL_CAPTURE_TRUNCATED;
    }
  } else {
    if (len > NW_TL_CAPTURE_MAX) {
      len = NW_TL_CAPTURE_MAX;
      flags |= NW_TL_CAPTURE_TRUNCATED;
    }
    n = bpf_probe_read_user(data, len & (NW_TL_CAPTURE_MAX * 2 - 1),
                            (const void*)src)
            == 0
          ? (long)len
          : -1;
  }
  if (n < 0) {
    n = 0;
    flags = NW_TL_CAPTURE_FAILED;
  }
  __u32 size = (sizeof(*c) + n + 7) & ~7u;
  size += sizeof(struct nw_tl_trailer);
  if (size > NW_TL_RECORD_MAX)
    size = NW_TL_RECORD_MAX;
  set_header(&c->h, NW_TL_CAPTURE, size, tid, ts);
  c->seq = seq;
  c->arg = arg;
  c->flags = flags;
  c->len = n;
  struct nw_tl_trailer* t
    = (void*)&ring->data[(off + size - sizeof(*t))
                         & (NW_TL_RING_MASK | (NW_TL_RECORD_MAX - 1))];
  set_trailer(t, NW_TL_CAPTURE, size);
  commit(ring, w, size);
}

static __always_inline __u64 arg_of(const __u64 args[6], __u32 i) {
  switch (i) {
    case 0:
      return args[0];
    case 1:
      return args[1];
    case 2:
      return args[2];
    case 3:
      return args[3];
    case 4:
      return args[4];
    default:
      return args[5];
  }
}

SEC("raw_tracepoint/sys_enter")
int nw_traceloop_enter(struct bpf_raw_tracepoint_args* ctx) {
  struct task_struct* task = bpf_get_current_task_btf();
  struct nw_tl_ring* ring = current_ring(task);
  if (!ring)
    return 0;
  struct thread_state* th
    = bpf_task_storage_get(&threads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!th) {
    ring->lost += 1;
    return 0;
  }
  __u64 ts = bpf_ktime_get_ns();
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  __u32 nr = (__u32)ctx->args[1];
  __u32 seq = ++th->seq;
  th->nr = nr;
  th->inside = 1;
  th->out_arg = 0xff;

  /* The six argument registers of x86_64's syscall ABI, in one read: r10,
   * r9, r8, (ax, cx), dx, si, di sit together in pt_regs. */
  struct pt_regs* regs = (struct pt_regs*)ctx->args[0];
  __u64 r[8];
  bpf_probe_read_kernel(r, sizeof(r), &regs->r10);
  __u64 args[6] = {r[7], r[6], r[5], r[0], r[2], r[1]};

  __u64 w = reserve(ring);
  struct nw_tl_enter* e = (void*)&ring->data[w & NW_TL_RING_MASK];
  set_header(&e->h, NW_TL_ENTER, sizeof(*e), tid, ts);
  e->pid = id >> 32;
  e->seq = seq;
  e->nr = nr;
  e->reserved = 0;
  __builtin_memcpy(e->args, args, sizeof(args));
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  set_trailer(&e->t, NW_TL_ENTER, sizeof(*e));
  commit(ring, w, sizeof(*e));

  if (nr >= NW_TL_MAX_NR)
    return 0;
  struct nw_traceloop_capture_spec* spec
    = bpf_map_lookup_elem(&capture_specs, &nr);
  if (!spec)
    return 0;
#pragma unroll
  for (int i = 0; i < NW_TRACELOOP_CAPTURE_RULES; ++i) {
    struct nw_traceloop_capture_rule rule = spec->rules[i];
    if (rule.kind == NW_TRACELOOP_CAPTURE_NONE)
      break;
    __u64 ptr = arg_of(args, rule.arg);
    __u64 len = rule.len_arg < 6 ? arg_of(args, rule.len_arg) : 0;
    if (rule.kind == NW_TRACELOOP_CAPTURE_BUFFER_OUT) {
      th->out_arg = rule.arg;
      th->out_ptr = ptr;
      th->out_len = len;
      continue;
    }
    if (ptr == 0)
      continue;
    capture(ring, tid, ts, seq, rule.arg, ptr, len,
            rule.kind == NW_TRACELOOP_CAPTURE_STRING);
  }
  return 0;
}

SEC("raw_tracepoint/sys_exit")
int nw_traceloop_exit(struct bpf_raw_tracepoint_args* ctx) {
  struct task_struct* task = bpf_get_current_task_btf();
  struct nw_tl_ring* ring = current_ring(task);
  if (!ring)
    return 0;
  struct thread_state* th = bpf_task_storage_get(&threads, task, 0, 0);
  __u64 ts = bpf_ktime_get_ns();
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  __s64 ret = (__s64)ctx->args[1];
  __u32 seq = 0, nr = 0xffffffff;
  if (th && th->inside) {
    seq = th->seq;
    nr = th->nr;
    th->inside = 0;
  } else {
    /* Begun before the ring was routed (or a fork child's first return):
     * the number is still in the saved registers. */
    struct pt_regs* regs = (struct pt_regs*)ctx->args[0];
    __u64 orig = 0;
    bpf_probe_read_kernel(&orig, sizeof(orig), &regs->orig_ax);
    nr = (__u32)orig;
  }
  __u64 w = reserve(ring);
  struct nw_tl_exit* x = (void*)&ring->data[w & NW_TL_RING_MASK];
  set_header(&x->h, NW_TL_EXIT, sizeof(*x), tid, ts);
  x->pid = id >> 32;
  x->seq = seq;
  x->nr = nr;
  x->reserved = 0;
  x->ret = ret;
  set_trailer(&x->t, NW_TL_EXIT, sizeof(*x));
  commit(ring, w, sizeof(*x));
  if (th && seq != 0 && th->out_arg < 6 && ret > 0 && th->out_ptr != 0) {
    __u64 len = (__u64)ret < th->out_len ? (__u64)ret : th->out_len;
    capture(ring, tid, ts, seq, th->out_arg, th->out_ptr, len, 0);
    th->out_arg = 0xff;
  }
  return 0;
}
