// traceloop's kernel side (actors/traceloop/ring) on the real kernel: a
// child in a mount namespace of its own runs a known busybox script while
// its namespace is routed to a ring; the ring, read after the child is
// gone, holds its syscalls paired with their exits and the captured
// strings and buffers, and nothing of ours. A ring written 10x over still
// reads back its newest records and reports what was overwritten. Raw
// records that cannot be (fuzz-like cases) are counted, not trusted.
#define BOOST_TEST_MODULE traceloop_ring
#include <boost/test/unit_test.hpp>

#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstring>
#include <string>
#include <vector>

#include "actors/traceloop/ring.hpp"
#include "bpf/traceloop_ring.h"
#include "tests/support/skip.hpp"

using namespace nw::traceloop;

namespace {

/// A child that unshares its mount namespace, waits for a go, then runs
/// argv; the parent learns the namespace's inode before saying go.
struct traced_child {
  pid_t pid = -1;
  int go = -1;
  uint64_t mntns = 0;

  explicit traced_child(std::vector<std::string> argv) {
    int ready[2], gate[2];
    BOOST_TEST_REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    BOOST_TEST_REQUIRE(::pipe2(gate, O_CLOEXEC) == 0);
    pid = ::fork();
    BOOST_TEST_REQUIRE(pid >= 0);
    if (pid == 0) {
      if (::unshare(CLONE_NEWNS) != 0)
        ::_exit(120);
      char c = 1;
      if (::write(ready[1], &c, 1) != 1 || ::read(gate[0], &c, 1) != 1)
        ::_exit(121);
      std::vector<char*> args;
      for (auto& a : argv)
        args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(122);
    }
    ::close(ready[1]);
    ::close(gate[0]);
    char c = 0;
    BOOST_TEST_REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    go = gate[1];
    struct stat st {};
    auto path = "/proc/" + std::to_string(pid) + "/ns/mnt";
    BOOST_TEST_REQUIRE(::stat(path.c_str(), &st) == 0);
    mntns = st.st_ino;
  }

  int run() {
    char c = 1;
    BOOST_TEST_REQUIRE(::write(go, &c, 1) == 1);
    ::close(go);
    int status = 0;
    BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
  }
};

std::vector<nw_traceloop_capture_spec> specs() {
  // By hand here (formats.hpp derives them from tracefs in the agent).
  std::vector<nw_traceloop_capture_spec> s(NW_TL_MAX_NR);
  s[SYS_openat].rules[0]
    = {NW_TRACELOOP_CAPTURE_STRING, 1, NW_TRACELOOP_NO_ARG, 0};
  s[SYS_write].rules[0] = {NW_TRACELOOP_CAPTURE_BUFFER_IN, 1, 2, 0};
  s[SYS_read].rules[0] = {NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2, 0};
  return s;
}

struct fixture {
  std::unique_ptr<recorder> rec;

  fixture() {
    nw::test::require_root();
    if (::access("/bin/busybox", X_OK) != 0)
      nw::test::skip("no /bin/busybox (busybox-static)");
    std::string error;
    rec = recorder::load(error);
    BOOST_TEST_REQUIRE(static_cast<bool>(rec), error);
    BOOST_TEST_REQUIRE(rec->set_capture_specs(specs(), error), error);
  }
};

const syscall_record* find(const ring_read& r, int nr,
                           const std::string& capture0 = "", int arg = 1) {
  for (auto& s : r.records)
    if (s.nr == nr
        && (capture0.empty()
            || (s.captures[arg] && s.captures[arg]->bytes == capture0)))
      return &s;
  return nullptr;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(ring_suite, fixture)

BOOST_AUTO_TEST_CASE(a_childs_syscalls_paired_and_captured) {
  std::string error;
  auto ring = rec->create_ring(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(ring), error);
  traced_child child{{"/bin/busybox", "sh", "-c",
                      "cat /etc/hostname; read line < /etc/hostname; "
                      "echo hello > /tmp/nw-tl-$$; "
                      "rm /tmp/nw-tl-$$; ls /nonexistent-nw"}};
  BOOST_TEST_REQUIRE(rec->insert(child.mntns, *ring, error), error);
  child.run();
  BOOST_TEST(rec->erase(child.mntns, error), error);
  ring_read r;
  ring->read(r);
  BOOST_TEST(r.corrupt == 0u);
  BOOST_TEST(r.lost == 0u);
  BOOST_TEST(r.overwritten == 0u);
  BOOST_TEST_REQUIRE(r.records.size() > 20u);
  // Only the child's (and its children's) syscalls: never ours.
  for (auto& s : r.records)
    BOOST_TEST(s.pid != static_cast<uint32_t>(::getpid()));
  auto* open = find(r, SYS_openat, "/etc/hostname");
  BOOST_TEST_REQUIRE(open != nullptr, "no openat of /etc/hostname");
  BOOST_TEST(open->has_exit);
  BOOST_TEST(open->ret >= 0);
  BOOST_TEST(open->comm == "cat");
  auto* write = find(r, SYS_write, "hello\n");
  BOOST_TEST_REQUIRE(write != nullptr, "no write of hello");
  BOOST_TEST(write->args[2] == 6u);
  BOOST_TEST(write->ret == 6);
  // The shell's `read` read the host name back (cat may use sendfile): a
  // buffer captured at exit.
  bool read_back = false;
  for (auto& s : r.records)
    read_back = read_back
                || (s.nr == SYS_read && s.ret > 0 && s.captures[1]
                    && !s.captures[1]->bytes.empty());
  BOOST_TEST(read_back);
  bool enoent = false;
  for (auto& s : r.records)
    enoent = enoent || (s.has_exit && s.ret == -ENOENT);
  BOOST_TEST(enoent, "no syscall failed with ENOENT");
  // Exits without their enter (the forked children's first returns) still
  // name their syscall and their thread.
  size_t exits_alone = 0;
  for (auto& s : r.records)
    if (!s.has_enter) {
      ++exits_alone;
      BOOST_TEST(s.nr >= 0);
      BOOST_TEST(!s.comm.empty());
    }
  BOOST_TEST(exits_alone > 0u, "no fork child's first return seen");
  // exit_group never returns.
  auto* bye = find(r, SYS_exit_group);
  BOOST_TEST_REQUIRE(bye != nullptr);
  BOOST_TEST(bye->unfinished);
  // Oldest first, realtime.
  for (size_t i = 1; i < r.records.size(); ++i)
    BOOST_TEST(r.records[i - 1].ts_ns <= r.records[i].ts_ns);
  BOOST_TEST(r.records.front().ts_ns > 1700000000ull * 1000000000ull);
}

BOOST_AUTO_TEST_CASE(overwritten_records_are_counted) {
  std::string error;
  auto ring = rec->create_ring(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(ring), error);
  // ~10x a CPU's ring: 20000 getpid-like syscalls of ~150 bytes.
  traced_child child{{"/bin/busybox", "sh", "-c",
                      "i=0; while [ $i -lt 4000 ]; do i=$((i+1)); "
                      "echo x > /dev/null; done"}};
  BOOST_TEST_REQUIRE(rec->insert(child.mntns, *ring, error), error);
  child.run();
  rec->erase(child.mntns, error);
  ring_read r;
  ring->read(r);
  BOOST_TEST(r.corrupt == 0u);
  BOOST_TEST(r.overwritten > 0u);
  BOOST_TEST_REQUIRE(!r.records.empty());
  // The newest survive: the shell's exit_group is there.
  auto* bye = find(r, SYS_exit_group);
  BOOST_TEST(bye != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

// Raw bytes that cannot be a ring: counted as corrupt, never trusted.
BOOST_AUTO_TEST_CASE(garbage_is_counted_not_trusted) {
  cpu_copy c;
  c.bytes.assign(sizeof(struct nw_tl_ring), '\xab');
  c.written_before = c.written_after = 4096;
  ring_read r;
  decode_rings({c}, 0, r);
  BOOST_TEST(r.records.empty());
  BOOST_TEST(r.corrupt == 1u);
  cpu_copy short_copy;
  short_copy.bytes = "tiny";
  decode_rings({short_copy}, 0, r);
  BOOST_TEST(r.corrupt == 2u);
  // Empty ring: nothing, nothing corrupt.
  cpu_copy empty;
  empty.bytes.assign(sizeof(struct nw_tl_ring), '\0');
  ring_read e;
  decode_rings({empty}, 0, e);
  BOOST_TEST(e.records.empty());
  BOOST_TEST(e.corrupt == 0u);
}
