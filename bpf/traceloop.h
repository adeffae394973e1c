/* traceloop: what the syscall flight recorder's BPF programs share with user
 * space.
 *
 * The capture spec: per syscall number, which pointer arguments the BPF side
 * reads behind, and how. User space derives it once from the kernel's tracefs
 * formats (actors/traceloop/formats.hpp, capture_specs()) and fills an array
 * indexed by syscall number; a syscall with no spec (all rules
 * NW_TRACELOOP_CAPTURE_NONE) is recorded with its raw arguments only.
 *
 * Plain C with __u8 only, so any C or C++ tool can include it: BPF programs
 * include vmlinux.h (which defines the __u types) first, user space gets them
 * from <linux/types.h>. */
#ifndef NW_BPF_TRACELOOP_H
#define NW_BPF_TRACELOOP_H

#ifndef __VMLINUX_H__
#  include <linux/types.h>
#endif

/* -- capture spec ---------------------------------------------------------- */

/* Rules per syscall. Three syscalls here have more capturable arguments
 * (mount, getxattr, setxattr): the first two in argument order win. */
#define NW_TRACELOOP_CAPTURE_RULES 2

/* A rule's kind. */
/* An unused rule (the rest of the spec is unused too). */
#define NW_TRACELOOP_CAPTURE_NONE 0
/* A NUL-terminated user string at args[arg], read at enter (the NUL is not
 * part of what is captured). */
#define NW_TRACELOOP_CAPTURE_STRING 1
/* A user buffer the kernel reads: args[len_arg] bytes at args[arg], read at
 * enter (write's buf, count). */
#define NW_TRACELOOP_CAPTURE_BUFFER_IN 2
/* A user buffer the kernel fills: min(ret, args[len_arg]) bytes at
 * args[arg], read at exit and only when ret > 0 (read's buf, count): the
 * data exists only then. */
#define NW_TRACELOOP_CAPTURE_BUFFER_OUT 3

/* len_arg of a rule without a length argument (strings). */
#define NW_TRACELOOP_NO_ARG 0xff

/* One pointer argument to capture. */
struct nw_traceloop_capture_rule {
  /* NW_TRACELOOP_CAPTURE_*. */
  __u8 kind;
  /* The pointer's argument index, 0..5. */
  __u8 arg;
  /* The argument index holding the buffer's length (0..5), or
   * NW_TRACELOOP_NO_ARG. */
  __u8 len_arg;
  /* Zero. */
  __u8 pad;
};

/* What to capture for one syscall: rules[0] first; a NONE rule ends the
 * list. */
struct nw_traceloop_capture_spec {
  struct nw_traceloop_capture_rule rules[NW_TRACELOOP_CAPTURE_RULES];
};

/* Both sides compile these lines: a layout change they disagree on fails
 * here. */
#ifdef __cplusplus
static_assert(sizeof(struct nw_traceloop_capture_rule) == 4,
              "nw_traceloop_capture_rule layout");
static_assert(sizeof(struct nw_traceloop_capture_spec) == 8,
              "nw_traceloop_capture_spec layout");
#else
_Static_assert(sizeof(struct nw_traceloop_capture_rule) == 4,
               "nw_traceloop_capture_rule layout");
_Static_assert(sizeof(struct nw_traceloop_capture_spec) == 8,
               "nw_traceloop_capture_spec layout");
#endif

#endif /* NW_BPF_TRACELOOP_H */
