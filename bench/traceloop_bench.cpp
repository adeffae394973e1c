// What traceloop costs a syscall (issue 7), against the peers a node could
// run instead, in the same run.
//
// One real runc container (a busybox-static rootfs) whose init is
// bench/syscall_loop.c, a static loop that serves commands over two FIFOs
// in its rootfs and times itself with CLOCK_MONOTONIC around the loop: N
// getpid() calls, or N 1-byte read()s of /dev/zero. For each arm, round by
// round, the driver sets the arm up, runs both loops (getpid first in even
// rounds, read first in odd ones) and tears the arm down; the arms' order
// rotates by one every round, so each arm runs at every position. The arms:
//
//   untraced: nothing attached by us;
//   floor: an empty sys_enter + sys_exit raw_tp pair
//     (bench/empty_rawtp.bpf.c), what any raw-tracepoint tracer pays;
//   traced: nodewatch's recorder loaded, the container's mount namespace
//     routed to a ring (read's buffer captured at exit, write's at enter,
//     openat's path: the capture specs of
//     tests/integration/traceloop/ring_test.cpp);
//   not selected: the recorder loaded, 64 other mount namespaces routed (a
//     sleeping child's, 63 that no task has), not the loop's;
//   strace -f: `strace -f -o /dev/null -p INIT`;
//   perf trace: `perf trace -o FILE -p INIT`;
//   bpftrace counter: `tracepoint:raw_syscalls:sys_enter
//     { @[pid] = count(); }`;
//   bpftrace printf: a printf per sys_enter and sys_exit of the loop's
//     pid, to a file: a perf ring that wakes its reader per event.
//
// A row gives an arm's ns added per syscall: the median over clean rounds
// of (arm - untraced of the same round), with its p10..p90, and the ratios to
// the floor's and to traced's added cost. Each arm's setup is checked: the
// traced ring must hold the loop's getpid and read records (with the
// captured byte), the unselected ring nothing, strace must be the loop's
// tracer, perf trace's and bpftrace's output must count every call.
//
// Rounds run until --rounds N of them are clean (9) or --budget-s S have
// passed (240; no round starts after that): a round is clean when no other
// process on the host had a syscall tracer attached at any of its checks
// (bpftool perf list / link list, before each arm and after the last).
// Such a tracer, e.g. another engineer's agent with its execve
// tracepoints, puts every syscall on the host on the tracepoint path, the
// untraced arm's too, and the floor then adds less. The rows use the clean
// rounds (every round, with a note, if fewer than 3 are clean).
//
// Needs root, runc and busybox-static (a note and no rows otherwise); a
// missing strace, perf or bpftrace drops that arm with a note. Other
// options: --calls N (2000000: untraced, floor, traced, not selected; half
// for the bpftrace counter), --slow-calls N (20000: strace, perf trace; 2x
// for bpftrace printf), --arms LIST (comma-separated, of traced,
// unselected, strace, perf, bpftrace-count, bpftrace-printf; untraced and
// floor always run), --variant FILE.bpf.o (repeatable: an extra arm with a
// scratch copy of bpf/traceloop.bpf.c, loaded as variant_arm says, for
// profiling), --loop PATH (the static loop).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "actors/traceloop/ring.hpp"
#include "bench/harness.hpp"
#include "bpf/traceloop.h"
#include "bpf/traceloop_ring.h"
#include "empty_rawtp.skel.h"
#include "runtime/kernel/unique_fd.hpp"
#include "tests/integration/support/runc_fixture.hpp"

#ifndef NW_BENCH_SYSCALL_LOOP
#  define NW_BENCH_SYSCALL_LOOP ""
#endif

namespace nw::bench {

namespace {

using namespace std::chrono_literals;
using nw::kernel::unique_fd;
using test::runc_clock;
namespace fs = std::filesystem;

// -- interruption -------------------------------------------------------------

volatile sig_atomic_t interrupted = 0;

void on_signal(int sig) {
  interrupted = sig;
}

/// SIGINT, SIGTERM and SIGHUP end the run through an exception (every
/// destructor runs: tracers stopped, BPF detached, the container deleted);
/// no SA_RESTART, so a blocked wait returns EINTR.
void catch_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

void check_interrupted() {
  if (interrupted)
    throw std::runtime_error("interrupted by signal "
                             + std::to_string(interrupted));
}

/// Sleeps `d`, waking early for a signal.
void nap(std::chrono::milliseconds d) {
  auto until = runc_clock::now() + d;
  while (runc_clock::now() < until) {
    check_interrupted();
    std::this_thread::sleep_for(std::min<runc_clock::duration>(
      until - runc_clock::now(), std::chrono::milliseconds{20}));
  }
  check_interrupted();
}

std::string errno_text(int err) {
  return std::string{std::strerror(err)};
}

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

size_t positive_arg(int argc, char** argv, const char* name, size_t fallback) {
  auto n = std::strtoull(option_arg(argc, argv, name, "").c_str(), nullptr, 10);
  return n > 0 ? static_cast<size_t>(n) : fallback;
}

std::string loadavg() {
  auto s = slurp("/proc/loadavg");
  std::istringstream in{s};
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// -- tools --------------------------------------------------------------------

/// A tracer process: its own process group (a terminal's Ctrl-C reaches
/// only us, and we stop it in order), SIGKILLed if we die, stdout and
/// stderr to `log`. stop() asks it to finish (SIGINT) and waits; the
/// destructor SIGKILLs and reaps whatever is left.
class tool_process {
public:
  tool_process(const std::vector<std::string>& argv, const fs::path& log) {
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    auto parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork: " + errno_text(errno));
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(126);
      struct sigaction sa {};
      sa.sa_handler = SIG_DFL;
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
        ::sigaction(sig, &sa, nullptr);
      int in = ::open("/dev/null", O_RDONLY);
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0)
        ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }

  tool_process(const tool_process&) = delete;
  tool_process& operator=(const tool_process&) = delete;

  ~tool_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }

  pid_t pid() const {
    return pid_;
  }

  /// Whether it has exited (reaps it then).
  bool exited() {
    if (status_)
      return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_)
      status_ = st;
    return status_.has_value();
  }

  /// SIGINT, then waits until `deadline`; the wait(2) status, or nullopt
  /// (then SIGKILLed by the destructor).
  std::optional<int> stop(std::chrono::milliseconds within) {
    if (!exited())
      ::kill(pid_, SIGINT);
    auto deadline = runc_clock::now() + within;
    while (!exited() && runc_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return status_;
  }

private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// -- a process in a mount namespace of its own --------------------------------

/// A child that unshares its mount namespace and sleeps: a container the
/// recorder is told to trace that is not the loop's. SIGKILLed if we die.
class mntns_sleeper {
public:
  mntns_sleeper() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe: " + errno_text(errno));
    auto parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork: " + errno_text(errno));
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent || ::unshare(CLONE_NEWNS) != 0)
        ::_exit(1);
      char c = 1;
      if (::write(p[1], &c, 1) != 1)
        ::_exit(1);
      for (;;)
        ::pause();
    }
    ::close(p[1]);
    char c = 0;
    ssize_t n;
    while ((n = ::read(p[0], &c, 1)) < 0 && errno == EINTR) {
    }
    ::close(p[0]);
    struct stat st {};
    auto path = "/proc/" + std::to_string(pid_) + "/ns/mnt";
    if (n != 1 || ::stat(path.c_str(), &st) != 0)
      throw std::runtime_error("the mount-namespace sleeper did not start");
    mntns_ = st.st_ino;
  }

  mntns_sleeper(const mntns_sleeper&) = delete;
  mntns_sleeper& operator=(const mntns_sleeper&) = delete;

  ~mntns_sleeper() {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }

  uint64_t mntns() const {
    return mntns_;
  }

private:
  pid_t pid_ = -1;
  uint64_t mntns_ = 0;
};

// -- the loop container -------------------------------------------------------

enum class op { getpid, read };

const char* op_name(op o) {
  return o == op::getpid ? "getpid" : "read";
}

/// The runc container whose init is the syscall loop, and the two FIFOs
/// (in its rootfs) that drive it.
class loop_container {
public:
  loop_container(test::runc_env& env, const std::string& loop_binary)
      : c_(env,
           test::bundle_options{{"/syscall_loop", "/nw-cmd", "/nw-res"},
                                "nodewatch-traceloop-bench",
                                {"sh"}},
           env.unique_id("nwb-tl")) {
    auto rootfs = c_.bundle().dir() / "rootfs";
    fs::copy_file(loop_binary, rootfs / "syscall_loop");
    fs::permissions(rootfs / "syscall_loop", fs::perms::owner_all);
    for (auto name : {"nw-cmd", "nw-res"})
      if (::mkfifo((rootfs / name).c_str(), 0600) != 0)
        throw std::runtime_error("mkfifo: " + errno_text(errno));
    c_.create();
    pid_ = c_.read_pid();
    c_.start();
    struct stat st {};
    auto ns = "/proc/" + std::to_string(pid_) + "/ns/mnt";
    if (::stat(ns.c_str(), &st) != 0)
      throw std::runtime_error("stat " + ns + ": " + errno_text(errno));
    mntns_ = st.st_ino;
    // The result FIFO's read end first (never blocks with O_NONBLOCK),
    // then the command FIFO's write end, which fails with ENXIO until the
    // loop has opened it for reading.
    res_.reset(
      ::open((rootfs / "nw-res").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!res_)
      throw std::runtime_error("open the result FIFO: " + errno_text(errno));
    auto deadline = runc_clock::now() + 10s;
    for (;;) {
      cmd_.reset(
        ::open((rootfs / "nw-cmd").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      if (cmd_)
        break;
      if (errno != ENXIO || runc_clock::now() > deadline)
        throw std::runtime_error("the loop never opened its command FIFO: "
                                 + errno_text(errno) + "; " + c_.output());
      nap(5ms);
    }
    ::fcntl(cmd_.get(), F_SETFL, 0);
  }

  loop_container(const loop_container&) = delete;
  loop_container& operator=(const loop_container&) = delete;

  ~loop_container() {
    // Best effort: "q" ends the loop; the container's destructor deletes it
    // (delete --force) and kills an init still alive.
    if (cmd_) {
      char q[] = "q\n";
      [[maybe_unused]] auto n = ::write(cmd_.get(), q, 2);
    }
  }

  pid_t pid() const {
    return pid_;
  }

  uint64_t mntns() const {
    return mntns_;
  }

  /// Runs `n` calls of `o` in `chunks` chunks timed apart; nanoseconds
  /// per call of the median chunk (a preemption spoils one chunk, not the
  /// loop).
  double run(op o, uint64_t n, uint64_t chunks = 20) {
    chunks = std::min(chunks, n);
    auto line = std::string{o == op::getpid ? "g " : "r "} + std::to_string(n)
                + " " + std::to_string(chunks) + "\n";
    if (::write(cmd_.get(), line.data(), line.size())
        != static_cast<ssize_t>(line.size()))
      throw std::runtime_error("write to the loop: " + errno_text(errno));
    // Generous: 500 us per call (strace's worst case here is ~125).
    auto deadline = runc_clock::now() + 30s
                    + std::chrono::microseconds{500} * static_cast<int64_t>(n);
    std::string answer;
    for (;;) {
      if (auto nl = pending_.find('\n'); nl != std::string::npos) {
        answer = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        break;
      }
      check_interrupted();
      if (runc_clock::now() > deadline)
        throw std::runtime_error(std::string{"the "} + op_name(o)
                                 + " loop did not answer in time");
      pollfd p{res_.get(), POLLIN, 0};
      auto r = ::poll(&p, 1, 200);
      if (r < 0 && errno != EINTR)
        throw std::runtime_error("poll: " + errno_text(errno));
      if (r <= 0)
        continue;
      char buf[1024];
      auto got = ::read(res_.get(), buf, sizeof(buf));
      if (got < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (got <= 0)
        throw std::runtime_error("the loop is gone: " + c_.output());
      pending_.append(buf, static_cast<size_t>(got));
    }
    // "N K NS1 .. NSK": chunk i has N / K calls, the last the rest.
    std::istringstream in{answer};
    uint64_t got_n = 0, got_k = 0;
    in >> got_n >> got_k;
    samples per_call;
    for (uint64_t i = 0; i < got_k; ++i) {
      uint64_t ns = 0;
      if (!(in >> ns))
        break;
      auto calls = i + 1 < got_k ? n / got_k : n - (got_k - 1) * (n / got_k);
      per_call.add(static_cast<double>(ns) / static_cast<double>(calls));
    }
    if (got_n != n || got_k != chunks || per_call.size() != chunks)
      throw std::runtime_error("the loop answered '" + answer + "'");
    return per_call.median();
  }

private:
  test::runc_container c_;
  pid_t pid_ = 0;
  uint64_t mntns_ = 0;
  unique_fd cmd_;
  unique_fd res_;
  std::string pending_;
};

// -- arms ---------------------------------------------------------------------

/// Calls of each loop in one arm's round.
struct calls {
  uint64_t getpid = 0;
  uint64_t read = 0;

  uint64_t of(op o) const {
    return o == op::getpid ? getpid : read;
  }
};

/// One way of running the loop. start() before a round's loops, stop()
/// after: it checks that the arm really covered them and leaves a line for
/// the notes in `checked`. An arm of ours that fails its check throws (the
/// numbers would be wrong); a peer's tool that misbehaves (perf trace
/// dropping its output) returns false with the reason in `problem`, and
/// that round's sample of the arm is left out.
class arm {
public:
  virtual ~arm() = default;
  virtual std::string name() const = 0;
  virtual calls per_round() const = 0;
  virtual void start(loop_container&) {}
  virtual bool stop(loop_container&, const calls&) {
    return true;
  }
  /// What the checks saw, for a note (empty: nothing to say).
  std::string checked;
  /// Why stop() returned false.
  std::string problem;
};

class untraced_arm : public arm {
public:
  explicit untraced_arm(uint64_t n) : n_(n) {}
  std::string name() const override {
    return "untraced";
  }
  calls per_round() const override {
    return {n_, n_};
  }

private:
  uint64_t n_;
};

class floor_arm : public arm {
public:
  explicit floor_arm(uint64_t n) : n_(n) {}
  ~floor_arm() override {
    empty_rawtp_bpf::destroy(skel_);
  }
  std::string name() const override {
    return "floor: empty sys_enter+sys_exit raw_tp";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container&) override {
    skel_ = empty_rawtp_bpf::open_and_load();
    if (skel_ == nullptr)
      throw std::runtime_error("loading the empty raw_tp pair: "
                               + errno_text(errno));
    if (auto err = empty_rawtp_bpf::attach(skel_); err != 0)
      throw std::runtime_error("attaching the empty raw_tp pair: "
                               + errno_text(-err));
  }
  bool stop(loop_container&, const calls&) override {
    empty_rawtp_bpf::destroy(skel_);
    skel_ = nullptr;
    return true;
  }

private:
  uint64_t n_;
  empty_rawtp_bpf* skel_ = nullptr;
};

/// The capture specs of tests/integration/traceloop/ring_test.cpp.
std::vector<nw_traceloop_capture_spec> capture_specs() {
  std::vector<nw_traceloop_capture_spec> s(NW_TL_MAX_NR);
  s[SYS_openat].rules[0]
    = {NW_TRACELOOP_CAPTURE_STRING, 1, NW_TRACELOOP_NO_ARG, 0};
  s[SYS_write].rules[0] = {NW_TRACELOOP_CAPTURE_BUFFER_IN, 1, 2, 0};
  s[SYS_read].rules[0] = {NW_TRACELOOP_CAPTURE_BUFFER_OUT, 1, 2, 0};
  return s;
}

std::unique_ptr<traceloop::recorder> load_recorder() {
  std::string error;
  auto rec = traceloop::recorder::load(error);
  if (!rec)
    throw std::runtime_error(error);
  if (!rec->set_capture_specs(capture_specs(), error))
    throw std::runtime_error(error);
  return rec;
}

class traced_arm : public arm {
public:
  explicit traced_arm(uint64_t n) : n_(n) {}
  std::string name() const override {
    return "nodewatch, container traced";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    rec_ = load_recorder();
    std::string error;
    ring_ = rec_->create_ring(error);
    if (!ring_ || !rec_->insert(c.mntns(), *ring_, error))
      throw std::runtime_error(error);
  }
  bool stop(loop_container& c, const calls& n) override {
    std::string error;
    rec_->erase(c.mntns(), error);
    traceloop::ring_read r;
    ring_->read(r);
    ring_.reset();
    rec_.reset();
    size_t getpids = 0, reads = 0, read_bytes = 0;
    for (auto& s : r.records) {
      if (s.pid != static_cast<uint32_t>(c.pid()) || !s.has_exit)
        continue;
      if (s.nr == SYS_getpid && s.ret == c_pid_in_ns_)
        ++getpids;
      if (s.nr == SYS_read && s.ret == 1) {
        ++reads;
        if (s.captures[1] && s.captures[1]->bytes == std::string(1, '\0'))
          ++read_bytes;
      }
    }
    // Each getpid writes 2 records (enter, exit), each read 3 (and its
    // byte): whatever the ring no longer holds was counted as overwritten.
    auto expected = 2 * n.getpid + 3 * n.read;
    auto seen = r.overwritten + 3 * r.records.size();
    if (r.corrupt != 0 || r.lost != 0 || (getpids == 0 && reads == 0)
        || (reads > 0 && read_bytes != reads) || seen < expected)
      throw std::runtime_error(
        "the traced ring does not hold the loop: corrupt "
        + std::to_string(r.corrupt) + ", lost " + std::to_string(r.lost)
        + ", getpid " + std::to_string(getpids) + ", read "
        + std::to_string(reads) + " (byte captured "
        + std::to_string(read_bytes) + "), overwritten "
        + std::to_string(r.overwritten)
        + ", expected >= " + std::to_string(expected) + " records");
    checked = "traced: the ring held " + std::to_string(r.records.size())
              + " syscalls of the newest (" + std::to_string(getpids)
              + " getpid, " + std::to_string(reads) + " read with the byte "
              + "captured), " + std::to_string(r.overwritten)
              + " records overwritten, none lost or corrupt";
    return true;
  }

private:
  uint64_t n_;
  // getpid() inside the container's pid namespace: its init is pid 1.
  int64_t c_pid_in_ns_ = 1;
  std::unique_ptr<traceloop::recorder> rec_;
  std::unique_ptr<traceloop::ring> ring_;
};

class unselected_arm : public arm {
public:
  unselected_arm(uint64_t n, const mntns_sleeper& other)
      : n_(n), other_(other) {}
  std::string name() const override {
    return "nodewatch, container not selected";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    rec_ = load_recorder();
    std::string error;
    ring_ = rec_->create_ring(error);
    if (!ring_ || !rec_->insert(other_.mntns(), *ring_, error))
      throw std::runtime_error(error);
    // 63 more selected containers: inodes above 2^32, which no namespace
    // has (ns inodes are 32-bit), sharing the ring.
    for (uint64_t i = 1; i < 64; ++i)
      if (!rec_->insert((uint64_t{1} << 32) + i, *ring_, error))
        throw std::runtime_error(error);
    if (other_.mntns() == c.mntns())
      throw std::runtime_error("the sleeper shares the loop's mntns");
  }
  bool stop(loop_container&, const calls&) override {
    traceloop::ring_read r;
    ring_->read(r);
    ring_.reset();
    rec_.reset();
    if (!r.records.empty() || r.overwritten != 0)
      throw std::runtime_error("the unselected ring was written: "
                               + std::to_string(r.records.size())
                               + " syscalls");
    checked = "not selected: the other containers' ring stayed empty";
    return true;
  }

private:
  uint64_t n_;
  const mntns_sleeper& other_;
  std::unique_ptr<traceloop::recorder> rec_;
  std::unique_ptr<traceloop::ring> ring_;
};

/// The pid of the process that traces `pid` (TracerPid), 0 if none.
pid_t tracer_of(pid_t pid) {
  std::istringstream in{slurp("/proc/" + std::to_string(pid) + "/status")};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("TracerPid:", 0) == 0)
      return static_cast<pid_t>(std::strtol(line.c_str() + 10, nullptr, 10));
  return 0;
}

/// Lines of `text` that contain `what` (that start with it if `prefix`).
size_t count_lines(const std::string& text, const std::string& what,
                   bool prefix = false) {
  size_t n = 0;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (prefix ? line.rfind(what, 0) == 0
               : line.find(what) != std::string::npos)
      ++n;
  return n;
}

/// Waits until the file at `p` has stopped growing for 300 ms (at most
/// 20 s): a tracer still draining its ring would drop the rest at SIGINT.
void wait_until_quiet(const fs::path& p) {
  auto deadline = runc_clock::now() + 20s;
  std::error_code ec;
  for (uintmax_t last = 0;;) {
    nap(300ms);
    auto size = fs::file_size(p, ec);
    if (size == last || runc_clock::now() > deadline)
      return;
    last = size;
  }
}

class strace_arm : public arm {
public:
  strace_arm(uint64_t n, std::string strace, fs::path dir)
      : n_(n), strace_(std::move(strace)), log_(dir / "strace.log") {}
  std::string name() const override {
    return "strace -f -o /dev/null -p INIT";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    p_ = std::make_unique<tool_process>(
      std::vector<std::string>{strace_, "-f", "-o", "/dev/null", "-p",
                               std::to_string(c.pid())},
      log_);
    auto deadline = runc_clock::now() + 10s;
    while (tracer_of(c.pid()) != p_->pid()) {
      if (p_->exited() || runc_clock::now() > deadline)
        throw std::runtime_error("strace did not attach: " + slurp(log_));
      nap(10ms);
    }
    // Attached (PTRACE_SEIZE); let it set its options and resume.
    nap(100ms);
  }
  bool stop(loop_container& c, const calls&) override {
    auto traced = tracer_of(c.pid()) == p_->pid();
    p_->stop(10s);
    p_.reset();
    if (!traced) {
      problem = "strace let go of the loop early: " + slurp(log_);
      return false;
    }
    checked = "strace: still the loop's tracer after its loops";
    return true;
  }

private:
  uint64_t n_;
  std::string strace_;
  fs::path log_;
  std::unique_ptr<tool_process> p_;
};

class perf_arm : public arm {
public:
  perf_arm(uint64_t n, std::string perf, fs::path dir)
      : n_(n), perf_(std::move(perf)), out_(dir / "perf-trace.out"),
        log_(dir / "perf-trace.log") {}
  std::string name() const override {
    return "perf trace -p INIT";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    std::error_code ec;
    fs::remove(out_, ec);
    p_ = std::make_unique<tool_process>(
      std::vector<std::string>{perf_, "trace", "-o", out_.string(), "-p",
                               std::to_string(c.pid())},
      log_);
    // Ready once a ping shows up in its output (it buffers ~4 KiB: a ping
    // of 100 getpids is more).
    auto deadline = runc_clock::now() + 20s;
    for (;;) {
      if (p_->exited() || runc_clock::now() > deadline)
        throw std::runtime_error("perf trace did not start: " + slurp(log_));
      c.run(op::getpid, 100, 1);
      if (count_lines(slurp(out_), "getpid(") > 0)
        break;
      nap(50ms);
    }
    pings_ = count_lines(slurp(out_), "getpid(");
  }
  bool stop(loop_container&, const calls& n) override {
    wait_until_quiet(out_);
    auto status = p_->stop(20s);
    p_.reset();
    if (!status) {
      problem = "perf trace did not exit within 20 s of SIGINT (killed)";
      return false;
    }
    auto text = slurp(out_);
    auto getpids = count_lines(text, "getpid(");
    auto reads = count_lines(text, " read(");
    auto lost = count_lines(text, "LOST");
    std::error_code ec;
    fs::remove(out_, ec);
    if (lost == 0 && (getpids < n.getpid || reads < n.read)) {
      problem = "perf trace printed " + std::to_string(getpids) + " getpid and "
                + std::to_string(reads)
                + " read lines, fewer than the loops' calls, and no LOST "
                  "(exit status "
                + std::to_string(*status) + "): " + slurp(log_);
      return false;
    }
    checked = "perf trace: " + std::to_string(getpids) + " getpid lines ("
              + std::to_string(pings_) + " of them readiness pings), "
              + std::to_string(reads) + " read lines"
              + (lost ? ", " + std::to_string(lost) + " LOST reports" : "");
    return true;
  }

private:
  uint64_t n_;
  std::string perf_;
  fs::path out_;
  fs::path log_;
  size_t pings_ = 0;
  std::unique_ptr<tool_process> p_;
};

/// Syscall tracepoints (sys_enter*, sys_exit*) with a BPF program that
/// process `pid` holds, per `bpftool perf list`; -1 if bpftool fails.
int attached_syscall_tracepoints(const std::string& bpftool, pid_t pid,
                                 const fs::path& dir) {
  auto log = dir / "bpftool-perf.out";
  try {
    if (test::run_output({bpftool, "perf", "list"}, log, 10s).status != 0)
      return -1;
  } catch (const std::exception&) {
    return -1;
  }
  int n = 0;
  std::istringstream in{slurp(log)};
  auto key = "pid " + std::to_string(pid) + " ";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0
        && line.find("tracepoint  sys_e") != std::string::npos)
      ++n;
  return n;
}

/// bpftrace running `program` (which prints "nw-ready" in BEGIN), ready
/// once `bpftool perf list` shows its `probes` syscall tracepoints
/// attached: BEGIN alone can come before them (a counter missed the first
/// ~24,000 calls that way).
std::unique_ptr<tool_process>
start_bpftrace(const std::string& bpftrace, const std::string& program,
               const fs::path& log, const std::string& bpftool, int probes) {
  auto p = std::make_unique<tool_process>(
    std::vector<std::string>{bpftrace, "-e", program}, log);
  auto deadline = runc_clock::now() + 30s;
  auto dir = log.parent_path();
  for (;;) {
    if (p->exited() || runc_clock::now() > deadline)
      throw std::runtime_error("bpftrace did not start: " + slurp(log));
    if (slurp(log).find("nw-ready") != std::string::npos) {
      if (bpftool.empty())
        break;
      auto n = attached_syscall_tracepoints(bpftool, p->pid(), dir);
      if (n < 0 || n >= probes)
        break;
    }
    nap(20ms);
  }
  // Enabled right after the program is set on the event.
  nap(bpftool.empty() ? 500ms : 50ms);
  return p;
}

class bpftrace_counter_arm : public arm {
public:
  bpftrace_counter_arm(uint64_t n, std::string bpftrace, std::string bpftool,
                       fs::path dir)
      : n_(n), bpftrace_(std::move(bpftrace)), bpftool_(std::move(bpftool)),
        log_(dir / "bpftrace.log") {}
  std::string name() const override {
    return "bpftrace raw_syscalls count()";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container&) override {
    p_ = start_bpftrace(bpftrace_,
                        "BEGIN { printf(\"nw-ready\\n\"); } "
                        "tracepoint:raw_syscalls:sys_enter "
                        "{ @[pid] = count(); }",
                        log_, bpftool_, 1);
  }
  bool stop(loop_container& c, const calls& n) override {
    auto status = p_->stop(20s);
    p_.reset();
    if (!status) {
      problem = "bpftrace did not exit within 20 s of SIGINT (killed)";
      return false;
    }
    // At exit it prints the map: "@[PID]: COUNT".
    auto key = "@[" + std::to_string(c.pid()) + "]: ";
    auto text = slurp(log_);
    auto at = text.find(key);
    uint64_t count
      = at == std::string::npos
          ? 0
          : std::strtoull(text.c_str() + at + key.size(), nullptr, 10);
    if (count < n.getpid + n.read) {
      problem = "bpftrace counted " + std::to_string(count)
                + " syscalls of the loop, fewer than its calls";
      return false;
    }
    checked = "bpftrace counter: " + std::to_string(count)
              + " syscalls of the loop counted";
    return true;
  }

private:
  uint64_t n_;
  std::string bpftrace_;
  std::string bpftool_;
  fs::path log_;
  std::unique_ptr<tool_process> p_;
};

class bpftrace_printf_arm : public arm {
public:
  bpftrace_printf_arm(uint64_t n, std::string bpftrace, std::string bpftool,
                      fs::path dir)
      : n_(n), bpftrace_(std::move(bpftrace)), bpftool_(std::move(bpftool)),
        log_(dir / "bpftrace-printf.log") {}
  std::string name() const override {
    return "bpftrace printf per event (a wakeup each)";
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    auto pid = std::to_string(c.pid());
    p_ = start_bpftrace(bpftrace_,
                        "BEGIN { printf(\"nw-ready\\n\"); } "
                        "tracepoint:raw_syscalls:sys_enter /pid == "
                          + pid
                          + "/ { printf(\"e %d\\n\", args->id); } "
                            "tracepoint:raw_syscalls:sys_exit /pid == "
                          + pid + "/ { printf(\"x %d\\n\", args->ret); }",
                        log_, bpftool_, 2);
  }
  bool stop(loop_container&, const calls& n) override {
    wait_until_quiet(log_);
    auto status = p_->stop(20s);
    p_.reset();
    if (!status) {
      problem = "bpftrace did not exit within 20 s of SIGINT (killed)";
      return false;
    }
    auto text = slurp(log_);
    auto enters = count_lines(text, "e ", true);
    auto exits = count_lines(text, "x ", true);
    auto lost = count_lines(text, "Lost");
    std::error_code ec;
    fs::remove(log_, ec);
    if (enters + lost == 0 || (lost == 0 && enters < n.getpid + n.read)) {
      problem = "bpftrace printed " + std::to_string(enters)
                + " enters, fewer than the loops' calls";
      return false;
    }
    checked = "bpftrace printf: " + std::to_string(enters) + " enter and "
              + std::to_string(exits) + " exit lines"
              + (lost ? ", " + std::to_string(lost) + " 'Lost' reports" : "");
    return true;
  }

private:
  uint64_t n_;
  std::string bpftrace_;
  std::string bpftool_;
  fs::path log_;
  std::unique_ptr<tool_process> p_;
};

// -- other tracers on the host ------------------------------------------------

/// Syscall tracepoints other processes have attached (bpftool perf list:
/// `pid P fd F: prog_id I tracepoint sys_enter_execve`), and raw_tp links
/// on sys_enter/sys_exit (bpftool link list): with any of them, every
/// syscall on the host already takes the tracepoint path, the untraced arm
/// included, and the floor adds less than on a quiet host.
std::set<std::string> foreign_syscall_tracers(const std::string& bpftool,
                                              const fs::path& dir,
                                              const std::set<pid_t>& ours) {
  std::set<std::string> out;
  if (bpftool.empty())
    return out;
  auto log = dir / "bpftool.out";
  try {
    test::run_output({bpftool, "perf", "list"}, log, 10s);
    std::map<pid_t, std::string> by_pid;
    std::istringstream in{slurp(log)};
    for (std::string line; std::getline(in, line);) {
      auto tp = line.find("tracepoint");
      if (line.rfind("pid ", 0) != 0 || tp == std::string::npos)
        continue;
      auto name = line.substr(tp + 10);
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      if (name.rfind("sys_e", 0) != 0)
        continue;
      auto pid = static_cast<pid_t>(std::strtol(line.c_str() + 4, nullptr, 10));
      if (ours.count(pid) == 0)
        by_pid[pid] += (by_pid[pid].empty() ? "" : ", ") + name;
    }
    for (auto& [pid, names] : by_pid) {
      auto comm = slurp("/proc/" + std::to_string(pid) + "/comm");
      while (!comm.empty() && comm.back() == '\n')
        comm.pop_back();
      out.insert("pid " + std::to_string(pid) + " (" + comm + "), tracepoints "
                 + names);
    }
    // `ID: raw_tracepoint  prog P` then, indented, `tp 'sys_enter'`.
    test::run_output({bpftool, "link", "list"}, log, 10s);
    std::istringstream links{slurp(log)};
    std::string header;
    for (std::string line; std::getline(links, line);) {
      if (!line.empty() && line[0] != ' ' && line[0] != '\t') {
        header = line;
        continue;
      }
      if (header.find("raw_tracepoint") != std::string::npos
          && (line.find("'sys_enter'") != std::string::npos
              || line.find("'sys_exit'") != std::string::npos))
        out.insert("raw_tp link " + header.substr(0, header.find(':')) + " on "
                   + line.substr(line.find('\'')));
    }
  } catch (const std::exception&) {
  }
  std::error_code ec;
  fs::remove(log, ec);
  return out;
}

// -- a variant of the recorder, for profiling
// -----------------------------------

/// An object shaped like bpf/traceloop.bpf.c (maps `traceloop_rings` and,
/// optionally, `capture_specs`; raw tracepoints) built from a scratch copy
/// with parts taken out: loaded with plain libbpf, the container routed to
/// a ring made like recorder::create_ring()'s. Nothing is checked: a
/// variant may record nothing on purpose.
class variant_arm : public arm {
public:
  variant_arm(uint64_t n, std::string path) : n_(n), path_(std::move(path)) {}
  ~variant_arm() override {
    close_all();
  }
  std::string name() const override {
    return "variant " + fs::path{path_}.filename().string();
  }
  calls per_round() const override {
    return {n_, n_};
  }
  void start(loop_container& c) override {
    obj_ = bpf_object__open_file(path_.c_str(), nullptr);
    if (!obj_ || libbpf_get_error(obj_)) {
      obj_ = nullptr;
      throw std::runtime_error("opening " + path_);
    }
    if (auto err = bpf_object__load(obj_); err != 0)
      throw std::runtime_error("loading " + path_ + ": " + errno_text(-err));
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj_) {
      auto* link = bpf_program__attach(prog);
      if (!link || libbpf_get_error(link))
        throw std::runtime_error("attaching " + path_);
      links_.push_back(link);
    }
    if (auto* specs = bpf_object__find_map_by_name(obj_, "capture_specs")) {
      auto all = capture_specs();
      for (uint32_t nr = 0; nr < all.size(); ++nr)
        ::bpf_map_update_elem(bpf_map__fd(specs), &nr, &all[nr], BPF_ANY);
    }
    auto* outer = bpf_object__find_map_by_name(obj_, "traceloop_rings");
    if (!outer)
      throw std::runtime_error(path_ + " has no traceloop_rings");
    LIBBPF_OPTS(bpf_map_create_opts, opts,
                .map_flags = BPF_F_MMAPABLE | BPF_F_INNER_MAP);
    ring_ = ::bpf_map_create(BPF_MAP_TYPE_ARRAY, "nw_tl_ring", sizeof(uint32_t),
                             sizeof(struct nw_tl_ring),
                             static_cast<uint32_t>(libbpf_num_possible_cpus()),
                             &opts);
    uint64_t mntns = c.mntns();
    if (ring_ < 0
        || ::bpf_map_update_elem(bpf_map__fd(outer), &mntns, &ring_, BPF_ANY)
             != 0)
      throw std::runtime_error("routing the loop in " + path_ + ": "
                               + errno_text(errno));
  }
  bool stop(loop_container&, const calls&) override {
    close_all();
    return true;
  }

private:
  void close_all() {
    for (auto* l : links_)
      bpf_link__destroy(l);
    links_.clear();
    bpf_object__close(obj_);
    obj_ = nullptr;
    if (ring_ >= 0)
      ::close(ring_);
    ring_ = -1;
  }

  uint64_t n_;
  std::string path_;
  bpf_object* obj_ = nullptr;
  std::vector<bpf_link*> links_;
  int ring_ = -1;
};

// -- the run ------------------------------------------------------------------

struct arm_results {
  std::string key;
  std::unique_ptr<arm> a;
  /// Per round: ns per call, [getpid, read].
  std::vector<double> raw[2];
};

std::string plus_time(double ns) {
  return ns >= 0 ? "+" + fmt_time(ns) : fmt_signed_time(ns);
}

/// Every value given as `--name V` (the option may repeat).
std::vector<std::string> option_args(int argc, char** argv, const char* name) {
  std::vector<std::string> out;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0)
      out.emplace_back(argv[++i]);
  return out;
}

void run(int argc, char** argv) {
  auto wanted = positive_arg(argc, argv, "--rounds", 9);
  auto budget = std::chrono::seconds{
    static_cast<int64_t>(positive_arg(argc, argv, "--budget-s", 240))};
  uint64_t fast = positive_arg(argc, argv, "--calls", 2'000'000);
  uint64_t slow = positive_arg(argc, argv, "--slow-calls", 20'000);
  auto only = option_arg(argc, argv, "--arms", "");
  auto loop_binary = option_arg(argc, argv, "--loop", NW_BENCH_SYSCALL_LOOP);
  if (loop_binary.empty() || ::access(loop_binary.c_str(), X_OK) != 0)
    throw std::runtime_error("no syscall loop binary at '" + loop_binary
                             + "' (--loop PATH; the nw_bench_syscall_loop "
                               "target)");
  auto load_before = loadavg();
  test::runc_env env;
  auto strace = test::find_program("strace");
  auto perf = test::find_program("perf");
  auto bpftrace = test::find_program("bpftrace");
  auto bpftool = test::find_program("bpftool");
  mntns_sleeper sleeper;
  loop_container loop{env, loop_binary};

  // untraced and the floor always run: every row is relative to them.
  std::vector<arm_results> arms;
  auto wants = [&](const std::string& key) {
    return key == "untraced" || key == "floor" || only.empty()
           || ("," + only + ",").find("," + key + ",") != std::string::npos;
  };
  auto add = [&](const std::string& key, auto make) {
    if (wants(key))
      arms.push_back(arm_results{key, make(), {}});
  };
  auto missing = [&](const std::string& key, const std::string& what) {
    if (wants(key))
      note("traceloop: " + what);
  };
  add("untraced", [&] { return std::make_unique<untraced_arm>(fast); });
  add("floor", [&] { return std::make_unique<floor_arm>(fast); });
  add("traced", [&] { return std::make_unique<traced_arm>(fast); });
  add("unselected",
      [&] { return std::make_unique<unselected_arm>(fast, sleeper); });
  for (auto& v : option_args(argc, argv, "--variant"))
    arms.push_back(
      arm_results{"variant", std::make_unique<variant_arm>(fast, v), {}});
  if (strace.empty())
    missing("strace", "no strace: no row (apt-get install strace)");
  else
    add("strace",
        [&] { return std::make_unique<strace_arm>(slow, strace, env.dir()); });
  if (perf.empty())
    missing("perf", "no perf: no row (apt-get install linux-perf)");
  else
    add("perf",
        [&] { return std::make_unique<perf_arm>(slow, perf, env.dir()); });
  if (bpftrace.empty()) {
    missing("bpftrace-count", "no bpftrace: no rows (apt-get install "
                              "bpftrace)");
  } else {
    add("bpftrace-count", [&] {
      return std::make_unique<bpftrace_counter_arm>(fast / 2, bpftrace, bpftool,
                                                    env.dir());
    });
    add("bpftrace-printf", [&] {
      return std::make_unique<bpftrace_printf_arm>(slow * 2, bpftrace, bpftool,
                                                   env.dir());
    });
  }

  note("traceloop: a static loop as a runc container's init (busybox-static "
       "rootfs), timing itself with CLOCK_MONOTONIC: getpid() via "
       "syscall(2), and read() of 1 byte from /dev/zero; "
       + std::to_string(fast) + " calls per loop untraced/floor/nodewatch, "
       + std::to_string(fast / 2) + " bpftrace counter, "
       + std::to_string(slow * 2) + " bpftrace printf, " + std::to_string(slow)
       + " strace/perf trace, each loop after an unmeasured warm-up of a "
         "tenth (at most 10,000) and timed as 20 chunks (a round's value: "
         "the median chunk); arms in an order rotating every round; added = "
         "median over clean rounds of (arm - untraced of the same round); "
         "load average "
       + load_before + " at the start");

  // A round is clean when no other process on the host had a syscall
  // tracer attached at any of its checks (before each arm, after the
  // last): such a tracer puts every syscall on the tracepoint path, the
  // untraced arm's too, which shrinks the floor's added cost.
  std::set<pid_t> ours{::getpid()};
  std::map<std::string, size_t> foreign;
  auto host_is_quiet = [&] {
    auto seen = foreign_syscall_tracers(bpftool, env.dir(), ours);
    for (auto& t : seen)
      ++foreign[t];
    return seen.empty();
  };
  std::map<std::string, std::string> checks;
  std::map<std::string, size_t> problems;
  std::vector<bool> clean;
  size_t n_clean = 0;
  auto t_start = runc_clock::now();
  for (size_t r = 0; n_clean < wanted; ++r) {
    if (r > 0 && runc_clock::now() - t_start > budget) {
      note("traceloop: the time budget (--budget-s) ended the run after "
           + std::to_string(r) + " rounds, " + std::to_string(n_clean)
           + " of them clean (" + std::to_string(wanted) + " wanted)");
      break;
    }
    bool quiet = true;
    for (size_t k = 0; k < arms.size(); ++k) {
      auto& ar = arms[(k + r) % arms.size()];
      quiet = host_is_quiet() && quiet;
      auto n = ar.a->per_round();
      // A peer's tool that fails to start loses this round's sample; an
      // arm of ours failing ends the run.
      bool peer = ar.key != "untraced" && ar.key != "floor"
                  && ar.key != "traced" && ar.key != "unselected"
                  && ar.key != "variant";
      bool ok = true;
      try {
        ar.a->start(loop);
      } catch (const std::exception& e) {
        if (!peer || interrupted)
          throw;
        ar.a->problem = e.what();
        ok = false;
      }
      for (int j = 0; j < 2; ++j) {
        auto o = (j + r) % 2 == 0 ? op::getpid : op::read;
        ar.raw[static_cast<int>(o)].push_back(ok ? loop.run(o, n.of(o))
                                                 : std::nan(""));
      }
      if (ok && !ar.a->stop(loop, n)) {
        // Left out: NaN never enters the statistics.
        for (auto& raw : ar.raw)
          raw.back() = std::nan("");
        ok = false;
      }
      if (!ok) {
        ++problems[ar.a->problem.substr(0, 400)];
        ar.a->problem.clear();
      }
      if (!ar.a->checked.empty())
        checks[ar.key] = ar.a->checked;
      check_interrupted();
    }
    quiet = host_is_quiet() && quiet;
    clean.push_back(quiet);
    n_clean += quiet;
    std::fprintf(stderr,
                 "traceloop_bench: round %zu done (%s; %zu/%zu clean), "
                 "%.0f s\n",
                 r + 1, quiet ? "clean" : "another tracer was attached",
                 n_clean, wanted, ns_between(t_start, runc_clock::now()) / 1e9);
  }
  auto rounds = clean.size();
  // Clean rounds if there are 3 or more, else every round (with a warning).
  bool use_all = n_clean < 3;
  auto used = [&](size_t r) { return use_all || clean[r]; };

  for (auto& [key, what] : checks)
    note("traceloop check, " + what);
  for (auto& [what, times] : problems)
    note("traceloop: WARNING a sample left out " + std::to_string(times)
         + " time(s): " + what);
  note("traceloop: " + std::to_string(rounds) + " rounds, "
       + std::to_string(n_clean) + " clean"
       + (use_all ? "; fewer than 3 clean: the rows use EVERY round" : ""));
  if (bpftool.empty())
    note("traceloop: WARNING no bpftool: other syscall tracers on the host "
         "were not looked for (every round counts as clean)");
  for (auto& [what, times] : foreign)
    note("traceloop: another syscall tracer on the host at "
         + std::to_string(times) + " checks: " + what);

  auto stats = [&](arm_results& ar, int o, bool added) {
    samples xs;
    for (size_t r = 0; r < rounds; ++r)
      if (used(r) && !std::isnan(ar.raw[o][r]))
        xs.add(ar.raw[o][r] - (added ? arms[0].raw[o][r] : 0.0));
    return xs;
  };
  arm_results* fl = nullptr;
  arm_results* traced = nullptr;
  for (auto& ar : arms) {
    if (ar.key == "floor")
      fl = &ar;
    if (ar.key == "traced")
      traced = &ar;
  }
  for (int o = 0; o < 2; ++o) {
    auto bench = std::string{"traceloop "} + op_name(static_cast<op>(o));
    auto base = stats(arms[0], o, false);
    row(bench, "untraced (ns per call)", fmt_time(base.median()),
        fmt_time(base.quantile(0.1)) + " .. " + fmt_time(base.quantile(0.9)),
        base.size());
    auto floor_added = stats(*fl, o, true).median();
    auto traced_added = traced ? stats(*traced, o, true).median() : 0.0;
    for (size_t k = 1; k < arms.size(); ++k) {
      auto& ar = arms[k];
      auto xs = stats(ar, o, true);
      auto added = xs.median();
      auto what = ar.a->name() + " (" + fmt_time(stats(ar, o, false).median())
                  + "/call)";
      auto x_floor = fmt_ratio(added / floor_added) + " floor";
      auto x_traced = traced ? fmt_ratio(added / traced_added) + " traced" : "";
      auto pass = [](bool ok) { return ok ? ": PASS" : ": FAIL"; };
      std::string target = "-", result;
      if (ar.key == "floor") {
        result = "the floor";
      } else if (ar.key == "unselected") {
        target = "<= 2x floor";
        result = x_floor + pass(added <= 2 * floor_added);
      } else if (ar.key == "traced") {
        target = "<= 6x floor";
        result = x_floor + pass(added <= 6 * floor_added);
      } else if (ar.key == "strace" && traced) {
        target = ">= 25x traced";
        result = x_traced + ", " + x_floor + pass(added >= 25 * traced_added);
      } else if (ar.key == "bpftrace-printf" && traced) {
        target = ">= 8x traced";
        result = x_traced + ", " + x_floor + pass(added >= 8 * traced_added);
      } else {
        result = x_floor + (traced ? ", " + x_traced : "");
      }
      row(bench, what, plus_time(added),
          plus_time(xs.quantile(0.1)) + " .. " + plus_time(xs.quantile(0.9)),
          xs.size(), target, result);
    }
  }
  note("traceloop: load average " + loadavg() + " at the end, "
       + printf_string("%.0f s", ns_between(t_start, runc_clock::now()) / 1e9)
       + " of rounds");
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto skip = [](const std::string& why) {
    note("traceloop_bench skipped: " + why);
    return 0;
  };
  if (geteuid() != 0)
    return skip("needs root (runc, BPF, ptrace)");
  if (nw::test::find_program("runc").empty())
    return skip("runc not found (apt-get install runc)");
  if (nw::test::busybox_static_path().empty())
    return skip("no static busybox (apt-get install busybox-static)");
  catch_signals();
  try {
    run(argc, argv);
  } catch (const std::exception& e) {
    // Every destructor has run: tracers stopped, BPF detached, the
    // container deleted.
    fail(e.what());
  }
  return 0;
}
