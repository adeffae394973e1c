/* traceloop_bench's syscall loop: a runc container's init (statically
 * linked: the bundle's rootfs is busybox-static's). It serves commands
 * from a FIFO, one per line, and answers each on another FIFO:
 *
 *   g N K   N getpid() calls                ->  "N K NS1 .. NSK\n"
 *   r N K   N 1-byte read()s of /dev/zero    ->  "N K NS1 .. NSK\n"
 *   q       exit 0 (so does end of file on the command FIFO)
 *
 * The N calls run as K chunks of N / K (the last takes the rest), each
 * timed on its own with CLOCK_MONOTONIC: NSi is chunk i's duration in
 * nanoseconds, so that the driver can take the median chunk and a
 * preemption (2 shared cores) spoils one chunk, not the whole loop. A
 * warm-up of min(N / 10, 10000) calls runs first, outside the clock.
 * Errors go to stderr (the container's log) and end the process with
 * status 1.
 *
 *   syscall_loop CMD_FIFO RESULT_FIFO */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Chunks per loop at most. */
#define MAX_CHUNKS 64

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char* what) {
  fprintf(stderr, "syscall_loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* getpid through syscall(2): never a cached value. */
static void getpid_loop(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i)
    syscall(SYS_getpid);
}

static void read_loop(int fd, uint64_t n) {
  char c;
  for (uint64_t i = 0; i < n; ++i)
    if (read(fd, &c, 1) != 1)
      die("read /dev/zero");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: syscall_loop CMD_FIFO RESULT_FIFO\n");
    return 2;
  }
  int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (zero < 0)
    die("open /dev/zero");
  /* The driver holds the result FIFO open for reading before it opens the
   * command FIFO for writing, so neither open blocks for long. */
  int cmd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (cmd < 0)
    die("open the command FIFO");
  int res = open(argv[2], O_WRONLY | O_CLOEXEC);
  if (res < 0)
    die("open the result FIFO");
  char line[128];
  size_t have = 0;
  for (;;) {
    char* nl = memchr(line, '\n', have);
    if (!nl) {
      if (have == sizeof(line)) {
        fprintf(stderr, "syscall_loop: command too long\n");
        return 1;
      }
      ssize_t got = read(cmd, line + have, sizeof(line) - have);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        die("read the command FIFO");
      if (got == 0)
        return 0;
      have += (size_t)got;
      continue;
    }
    *nl = '\0';
    char op = line[0];
    char* end = NULL;
    uint64_t n = strtoull(line + 1, &end, 10);
    uint64_t k = strtoull(end, NULL, 10);
    size_t used = (size_t)(nl - line) + 1;
    memmove(line, nl + 1, have - used);
    have -= used;
    if (op == 'q')
      return 0;
    if ((op != 'g' && op != 'r') || n == 0 || k == 0 || k > MAX_CHUNKS
        || k > n) {
      fprintf(stderr, "syscall_loop: bad command '%c'\n", op);
      return 1;
    }
    uint64_t warm = n / 10 < 10000 ? n / 10 : 10000;
    uint64_t ns[MAX_CHUNKS];
    if (op == 'g')
      getpid_loop(warm);
    else
      read_loop(zero, warm);
    for (uint64_t i = 0; i < k; ++i) {
      uint64_t calls = i + 1 < k ? n / k : n - (k - 1) * (n / k);
      uint64_t t0 = now_ns();
      if (op == 'g')
        getpid_loop(calls);
      else
        read_loop(zero, calls);
      ns[i] = now_ns() - t0;
    }
    char out[32 + MAX_CHUNKS * 21];
    int len = snprintf(out, sizeof(out), "%llu %llu", (unsigned long long)n,
                       (unsigned long long)k);
    for (uint64_t i = 0; i < k; ++i)
      len += snprintf(out + len, sizeof(out) - (size_t)len, " %llu",
                      (unsigned long long)ns[i]);
    out[len++] = '\n';
    if (write(res, out, (size_t)len) != len)
      die("write the result FIFO");
  }
}
