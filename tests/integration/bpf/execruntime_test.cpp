// bpf/execruntime against the real kernel, used as the agent uses it: a
// FAN_OPEN_EXEC_PERM event (FAN_REPORT_TID) holds an exec, the argv entry is
// looked up by the event's tid while the exec is held, the event is allowed,
// and the entry is gone once the exec is over.
#define BOOST_TEST_MODULE execruntime
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpf/execruntime.h"
#include "execruntime.skel.h"
#include "runtime/kernel/execruntime_reader.hpp"
#include "runtime/kernel/unique_fd.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using nw::kernel::unique_fd;

/// This test's temporary directories.
struct temp_dir : nw::test::temp_dir {
  temp_dir() : nw::test::temp_dir("nw-execruntime") {}
};

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// How long any single wait on the kernel may take before the test fails.
constexpr auto wait_limit = std::chrono::seconds{10};

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err)
         + ")";
}

// -- RAII ---------------------------------------------------------------------

/// libbpf's messages, kept for a skip reason or a failure message.
std::string& libbpf_log() {
  static std::string log;
  return log;
}

int capture_libbpf_print(enum libbpf_print_level level, const char* fmt,
                         va_list args) {
  if (level == LIBBPF_DEBUG)
    return 0;
  // One message can be the whole verifier log: size it, do not cut it.
  va_list sizing;
  va_copy(sizing, args);
  auto n = std::vsnprintf(nullptr, 0, fmt, sizing);
  va_end(sizing);
  if (n <= 0)
    return 0;
  std::string message(static_cast<size_t>(n), '\0');
  std::vsnprintf(message.data(), message.size() + 1, fmt, args);
  auto& log = libbpf_log();
  log += message;
  // Only the tail matters (the verifier's verdict comes last).
  constexpr size_t keep = 8192;
  if (log.size() > keep)
    log.erase(0, log.size() - keep);
  return 0;
}

struct skeleton_deleter {
  void operator()(execruntime_bpf* skel) const {
    execruntime_bpf::destroy(skel);
  }
};
using skeleton_ptr = std::unique_ptr<execruntime_bpf, skeleton_deleter>;

/// Opens and loads the skeleton, or skips with libbpf's reason: a kernel that
/// cannot load it (no BTF, no bounded loops, no BPF for us) cannot run this.
skeleton_ptr load_skeleton() {
  libbpf_log().clear();
  skeleton_ptr skel{execruntime_bpf::open()};
  if (!skel) {
    auto reason = "cannot open the execruntime skeleton: " + errno_text(errno)
                  + "\n" + libbpf_log();
    nw::test::skip(reason.c_str());
  }
  if (auto err = execruntime_bpf::load(skel.get()); err != 0) {
    auto reason = "cannot load the execruntime skeleton: " + errno_text(-err)
                  + "\n" + libbpf_log();
    nw::test::skip(reason.c_str());
  }
  return skel;
}

/// Attaches one program of the skeleton (the others stay detached).
void attach(bpf_program* prog, bpf_link** link) {
  libbpf_log().clear();
  *link = bpf_program__attach(prog);
  BOOST_REQUIRE_MESSAGE(*link != nullptr, "attaching "
                                            << bpf_program__name(prog) << ": "
                                            << errno_text(errno) << "\n"
                                            << libbpf_log());
}

/// A child process: killed (if still running) and reaped when dropped.
class child_process {
public:
  explicit child_process(pid_t pid) : pid_(pid) {
    // glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37): the
    // syscall is called directly.
    pidfd_ = unique_fd{static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
    if (!pidfd_) {
      auto err = errno;
      reap_now();
      BOOST_FAIL("pidfd_open: " << errno_text(err));
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    if (pid_ > 0)
      reap_now();
  }

  pid_t pid() const {
    return pid_;
  }

  /// Waits (bounded) for the child to end and returns its wait status.
  int wait() {
    BOOST_REQUIRE_MESSAGE(wait_readable(pidfd_.get()),
                          "child " << pid_ << " did not exit in time");
    int status = 0;
    BOOST_REQUIRE_EQUAL(::waitpid(pid_, &status, 0), pid_);
    pid_ = -1;
    return status;
  }

  /// Polls `fd` for input until the wait limit; false on timeout.
  static bool wait_readable(int fd) {
    auto deadline = clock_type::now() + wait_limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd, POLLIN, 0};
      auto n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n > 0)
        return true;
      if (n < 0 && errno != EINTR)
        throw std::runtime_error("poll: " + errno_text(errno));
    }
  }

private:
  void reap_now() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  pid_t pid_;
  unique_fd pidfd_;
};

/// One fanotify permission event. It is answered exactly once: explicitly,
/// or FAN_ALLOW when dropped (a failed assertion included), so the exec it
/// holds never hangs on the test.
class permission_event {
public:
  permission_event(int group, fanotify_event_metadata meta)
      : group_(group), meta_(meta), fd_(meta.fd) {}
  permission_event(const permission_event&) = delete;
  permission_event& operator=(const permission_event&) = delete;
  ~permission_event() {
    if (!answered_)
      respond(FAN_ALLOW);
  }

  /// The exec'ing thread (FAN_REPORT_TID).
  uint32_t tid() const {
    return static_cast<uint32_t>(meta_.pid);
  }
  uint64_t mask() const {
    return meta_.mask;
  }
  int fd() const {
    return fd_.get();
  }

  void allow() {
    BOOST_REQUIRE_MESSAGE(respond(FAN_ALLOW),
                          "answering the event: " << errno_text(errno));
  }

private:
  bool respond(uint32_t verdict) {
    answered_ = true;
    fanotify_response response{};
    response.fd = fd_.get();
    response.response = verdict;
    return ::write(group_, &response, sizeof(response))
           == static_cast<ssize_t>(sizeof(response));
  }

  int group_;
  fanotify_event_metadata meta_;
  unique_fd fd_;
  bool answered_ = false;
};

// -- the host -----------------------------------------------------------------

/// libbpf resolves tracepoint ids through tracefs. Where it is not mounted,
/// mount it in a mount namespace of our own: the host stays as it was.
void ensure_tracefs() {
  if (::access("/sys/kernel/tracing/events", F_OK) == 0
      || ::access("/sys/kernel/debug/tracing/events", F_OK) == 0)
    return;
  if (::unshare(CLONE_NEWNS) != 0)
    nw::test::skip(("tracefs is not mounted and unshare(CLONE_NEWNS) failed: "
                    + errno_text(errno))
                     .c_str());
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0
      || ::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    nw::test::skip(
      ("tracefs is not mounted and mounting it failed: " + errno_text(errno))
        .c_str());
  BOOST_TEST_MESSAGE("tracefs mounted at /sys/kernel/tracing in the test's own "
                     "mount namespace");
}

/// Runs once before every test: root, tracefs, libbpf's log.
struct host_setup {
  host_setup() {
    nw::test::require_root();
    libbpf_set_print(capture_libbpf_print);
    ensure_tracefs();
  }
};
BOOST_TEST_GLOBAL_FIXTURE(host_setup);

std::string self_comm() {
  std::ifstream in{"/proc/self/comm"};
  std::string comm;
  std::getline(in, comm);
  return comm;
}

uint64_t self_mntns() {
  struct stat st {};
  if (::stat("/proc/self/ns/mnt", &st) != 0)
    throw std::runtime_error("stat /proc/self/ns/mnt: " + errno_text(errno));
  return st.st_ino;
}

std::string slot_string(const char* slot, size_t size) {
  return std::string{slot, ::strnlen(slot, size)};
}

/// A distinctive argv entry of `n` bytes.
std::string long_arg(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s += static_cast<char>('a' + i % 26);
  s.replace(0, 6, "nwlong");
  return s;
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& arg : args)
    out.push_back(arg.data());
  out.push_back(nullptr);
  return out;
}

// -- the fixture --------------------------------------------------------------

/// A copy of /bin/true that only this test execs, watched by a fanotify group
/// for FAN_OPEN_EXEC_PERM, and the execruntime skeleton loaded (not attached).
struct exec_fixture {
  exec_fixture() {
    binary = dir.path() / "nw-true";
    fs::copy_file("/bin/true", binary);
    fs::permissions(binary, fs::perms::owner_all | fs::perms::group_read
                              | fs::perms::group_exec | fs::perms::others_read
                              | fs::perms::others_exec);
    group = unique_fd{
      ::fanotify_init(FAN_CLASS_CONTENT | FAN_REPORT_TID | FAN_CLOEXEC,
                      O_RDONLY | O_LARGEFILE)};
    if (!group)
      nw::test::skip(("fanotify_init: " + errno_text(errno)).c_str());
    if (::fanotify_mark(group.get(), FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, AT_FDCWD,
                        binary.c_str())
        != 0)
      nw::test::skip(
        ("fanotify_mark FAN_OPEN_EXEC_PERM: " + errno_text(errno)).c_str());
    skel = load_skeleton();
  }

  void attach_all() {
    libbpf_log().clear();
    auto err = execruntime_bpf::attach(skel.get());
    BOOST_REQUIRE_MESSAGE(err == 0, "attaching execruntime: " << errno_text(
                                      -err) << "\n" << libbpf_log());
  }

  /// The map entry of `tid`, if any.
  std::optional<nw_execruntime_entry> lookup(uint32_t tid) {
    nw_execruntime_entry entry{};
    auto err = bpf_map__lookup_elem(skel->maps.execs_by_tid, &tid, sizeof(tid),
                                    &entry, sizeof(entry), 0);
    if (err == -ENOENT)
      return std::nullopt;
    BOOST_REQUIRE_MESSAGE(err == 0, "map lookup: " << errno_text(-err));
    return entry;
  }

  /// Reads the next permission event (bounded wait).
  std::unique_ptr<permission_event> next_event() {
    BOOST_REQUIRE_MESSAGE(child_process::wait_readable(group.get()),
                          "no fanotify event in time");
    // One event per read: a second permission event in the same buffer
    // would be one more thing to answer on every path.
    fanotify_event_metadata meta{};
    auto n = ::read(group.get(), &meta, sizeof(meta));
    BOOST_REQUIRE_MESSAGE(n == static_cast<ssize_t>(sizeof(meta)),
                          "fanotify read returned " << n << ": "
                                                    << errno_text(errno));
    auto event = std::make_unique<permission_event>(group.get(), meta);
    BOOST_REQUIRE_EQUAL(meta.vers, FANOTIFY_METADATA_VERSION);
    BOOST_REQUIRE(meta.event_len == FAN_EVENT_METADATA_LEN);
    BOOST_REQUIRE(event->mask() & FAN_OPEN_EXEC_PERM);
    BOOST_REQUIRE(event->fd() >= 0);
    // The event is about our copy (the mark is on its inode).
    struct stat by_event {
    }, by_path{};
    BOOST_REQUIRE(::fstat(event->fd(), &by_event) == 0);
    BOOST_REQUIRE(::stat(binary.c_str(), &by_path) == 0);
    BOOST_REQUIRE(by_event.st_dev == by_path.st_dev
                  && by_event.st_ino == by_path.st_ino);
    return event;
  }

  temp_dir dir;
  fs::path binary;
  unique_fd group;
  skeleton_ptr skel;
};

/// Checks a recorded entry against what the exec was given.
void check_entry(const nw_execruntime_entry& entry,
                 const std::vector<std::string>& argv) {
  BOOST_REQUIRE_EQUAL(entry.argc, argv.size());
  for (size_t i = 0; i < argv.size(); ++i)
    BOOST_TEST(slot_string(entry.argv[i], NW_EXECRUNTIME_ARG_SIZE) == argv[i],
               "argv[" << i << "]");
  BOOST_TEST(slot_string(entry.comm, NW_EXECRUNTIME_COMM_SIZE) == self_comm());
  BOOST_TEST(entry.mntns == self_mntns());
  BOOST_TEST(entry.euid == ::geteuid());
}

[[noreturn]] void exec_or_die(const std::string& path,
                              std::vector<std::string>& args) {
  auto argv = c_argv(args);
  ::execv(path.c_str(), argv.data());
  ::_exit(127);
}

} // namespace

// -- tests --------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(execruntime, exec_fixture)

BOOST_AUTO_TEST_CASE(argv_is_readable_while_the_exec_is_held) {
  attach_all();
  std::vector<std::string> args{
    binary.string(), "--root",   "/run/nodewatch-test/runc",   "create",
    long_arg(200),   "--bundle", "/run/nodewatch-test/bundle", "nw-test-id"};
  auto exec_args = args;
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0)
    exec_or_die(binary.string(), exec_args);
  child_process child{pid};

  auto event = next_event();
  // The child is single-threaded: its only tid is its pid.
  BOOST_TEST(event->tid() == static_cast<uint32_t>(child.pid()));
  auto entry = lookup(event->tid());
  BOOST_REQUIRE_MESSAGE(entry,
                        "no argv entry for the event's tid " << event->tid());
  check_entry(*entry, args);
  event->allow();

  auto status = child.wait();
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0),
             "the copy of /bin/true ran (status " << status << ")");
  BOOST_TEST(!lookup(event->tid()), "entry cleaned after the exec");
}

// conmon hands runc string literals of its own binary, which its forked
// child may not have faulted in yet: the program cannot read them, marks
// the entry `faulted`, and user space reads argv from the held caller.
BOOST_AUTO_TEST_CASE(argv_in_pages_not_faulted_in_is_read_from_the_caller) {
  attach_all();
  // The strings live in a file mapped MAP_PRIVATE and never touched by the
  // child before its execve: their pages are not in its page tables.
  auto strings_file = dir.path() / "argv-strings";
  std::string blob;
  std::vector<std::string> args{binary.string(), "create", "--bundle",
                                "/run/nw-faulted/bundle", "nw-faulted-id"};
  std::vector<size_t> offsets;
  for (auto& a : args) {
    offsets.push_back(blob.size());
    blob += a;
    blob.push_back('\0');
  }
  {
    std::ofstream out{strings_file, std::ios::binary};
    out << blob;
  }
  int fd = ::open(strings_file.c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  // Dropped from the page cache too, so the first touch must read the file.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  auto path = binary.string();
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    void* map = ::mmap(nullptr, blob.size(), PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
      ::_exit(126);
    char* argv[8] = {};
    for (size_t i = 0; i < offsets.size(); ++i)
      argv[i] = static_cast<char*>(map) + offsets[i];
    ::execv(path.c_str(), argv);
    ::_exit(127);
  }
  ::close(fd);
  child_process child{pid};
  auto event = next_event();
  auto entry = lookup(event->tid());
  BOOST_REQUIRE(entry);
  BOOST_TEST_MESSAGE("the program read "
                     << entry->argc << " entries, faulted=" << entry->faulted);
  BOOST_TEST(entry->argv_ptr != 0u);
  std::vector<std::string> fetched;
  BOOST_REQUIRE(
    nw::kernel::read_remote_argv(event->tid(), entry->argv_ptr, fetched));
  BOOST_TEST(fetched == args, "argv as read from the held caller");
  if (entry->faulted == 0)
    BOOST_TEST(entry->argc == args.size());
  event->allow();
  auto status = child.wait();
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

// A non-leader thread execs: the event reports that thread's tid, the entry is
// keyed by it, and only sched_process_exec (old_pid) can clean it, since the
// thread returns from execve with the leader's pid.
BOOST_AUTO_TEST_CASE(a_thread_exec_is_keyed_and_cleaned_by_its_tid) {
  attach_all();
  std::vector<std::string> args{binary.string(), "from-a-thread",
                                long_arg(255)};
  struct thread_args {
    std::string path;
    std::vector<std::string> args;
  } targs{binary.string(), args};
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    pthread_t thread;
    auto run = [](void* p) -> void* {
      auto* t = static_cast<thread_args*>(p);
      exec_or_die(t->path, t->args);
    };
    if (::pthread_create(&thread, nullptr, run, &targs) != 0)
      ::_exit(126);
    ::pthread_join(thread, nullptr);
    ::_exit(125);
  }
  child_process child{pid};

  auto event = next_event();
  BOOST_TEST(event->tid() != static_cast<uint32_t>(child.pid()));
  BOOST_TEST(fs::exists("/proc/" + std::to_string(child.pid()) + "/task/"
                        + std::to_string(event->tid())),
             "the event's tid is a thread of the child");
  auto entry = lookup(event->tid());
  BOOST_REQUIRE_MESSAGE(entry,
                        "no argv entry for the event's tid " << event->tid());
  check_entry(*entry, args);
  event->allow();

  auto status = child.wait();
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0),
             "the thread's exec ran (status " << status << ")");
  BOOST_TEST(!lookup(event->tid()), "entry cleaned by sched_process_exec");
}

// More entries than slots, and an entry longer than its slot: the first
// NW_EXECRUNTIME_ARGV_MAX entries are kept, the long one cut to 255 bytes.
BOOST_AUTO_TEST_CASE(argv_is_capped_at_its_slots) {
  attach_all();
  std::vector<std::string> args{binary.string(), long_arg(300)};
  for (int i = 2; i < NW_EXECRUNTIME_ARGV_MAX + 5; ++i)
    args.push_back("arg" + std::to_string(i));
  auto exec_args = args;
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0)
    exec_or_die(binary.string(), exec_args);
  child_process child{pid};

  auto event = next_event();
  auto entry = lookup(event->tid());
  BOOST_REQUIRE(entry);
  std::vector<std::string> expected{args.begin(),
                                    args.begin() + NW_EXECRUNTIME_ARGV_MAX};
  expected[1].resize(NW_EXECRUNTIME_ARG_SIZE - 1);
  check_entry(*entry, expected);
  event->allow();
  child.wait();
}

// execve fails before any permission event (no such file), so nothing holds
// the child: it reports the errno through a pipe and waits, alive, so its tid
// cannot be reused while the map is checked. Without the sys_exit_execve
// program the entry stays (the check is not vacuous); with it, it is gone.
BOOST_AUTO_TEST_CASE(a_failed_exec_leaves_no_entry) {
  auto missing = (dir.path() / "no-such-binary").string();
  std::vector<std::string> args{missing, "nw-failed-exec", long_arg(200)};

  struct failed_exec {
    int error;
    std::optional<nw_execruntime_entry> entry;
  };
  auto run = [&] {
    int report[2], release[2];
    BOOST_REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    unique_fd report_r{report[0]}, report_w{report[1]};
    BOOST_REQUIRE(::pipe2(release, O_CLOEXEC) == 0);
    unique_fd release_r{release[0]}, release_w{release[1]};
    auto exec_args = args;
    auto exec_argv = c_argv(exec_args);
    auto pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::execv(missing.c_str(), exec_argv.data());
      int err = errno;
      // Our copy of the write end would keep the read below from ever
      // seeing the parent's release (the exec that would have closed it
      // failed).
      ::close(release_w.get());
      char byte;
      if (::write(report_w.get(), &err, sizeof(err)) != sizeof(err)
          || ::read(release_r.get(), &byte, 1) < 0)
        ::_exit(1);
      ::_exit(0);
    }
    child_process child{pid};
    report_w.reset();
    BOOST_REQUIRE_MESSAGE(child_process::wait_readable(report_r.get()),
                          "the child did not report its failed exec in time");
    failed_exec result{};
    BOOST_REQUIRE_EQUAL(
      ::read(report_r.get(), &result.error, sizeof(result.error)),
      static_cast<ssize_t>(sizeof(result.error)));
    result.entry = lookup(static_cast<uint32_t>(child.pid()));
    release_w.reset();
    auto status = child.wait();
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    return result;
  };

  attach(skel->progs.handle_enter_execve, &skel->links.handle_enter_execve);
  attach(skel->progs.handle_sched_process_exec,
         &skel->links.handle_sched_process_exec);
  auto without_exit_cleanup = run();
  BOOST_TEST(without_exit_cleanup.error == ENOENT);
  BOOST_REQUIRE_MESSAGE(without_exit_cleanup.entry,
                        "sys_enter_execve recorded the failed exec");
  check_entry(*without_exit_cleanup.entry, args);

  attach(skel->progs.handle_exit_execve, &skel->links.handle_exit_execve);
  auto with_exit_cleanup = run();
  BOOST_TEST(with_exit_cleanup.error == ENOENT);
  BOOST_TEST(!with_exit_cleanup.entry, "sys_exit_execve removed the entry");
}

BOOST_AUTO_TEST_SUITE_END()
