// A fanotify group and its permission events, for the loop thread: one group
// fd (closed when dropped, which makes the kernel allow whatever it still
// holds), one event per read(), and a held event that answers FAN_ALLOW when
// dropped, so no path — an error, an exception, shutdown — leaves a process
// waiting on us. Plain C++ (no CAF): the loop thread's side of the edge.
#pragma once

#include <cstdint>
#include <string>

#include <sys/fanotify.h>

namespace nw::kernel {

/// Whether `mask` is a permission event, i.e. one that waits for an answer.
constexpr bool is_permission_mask(uint64_t mask) {
  return (mask & (FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM)) != 0;
}

/// `strerror(err)` with the number, for log lines.
std::string errno_text(int err);

/// One fanotify group (an fd of fanotify_init). Not thread-safe: it is set
/// up by the spawning thread, then handed to the loop thread for good.
class fanotify_group {
public:
  /// What one read() of the group gave.
  enum class read_result {
    /// `meta` holds one event (its fd is ours now: answer it, close it).
    event,
    /// Nothing queued (EAGAIN).
    empty,
    /// The kernel consumed an event but could not hand it over (no fd left,
    /// out of memory, ...). It answered a permission event itself — with
    /// FAN_DENY — so there is nothing to answer; `err` says why.
    lost,
    /// The group is unusable (bad fd, short read, unknown layout); `err`
    /// says why. Close it: the kernel then allows what it still holds.
    fatal,
  };

  /// `name` goes into log lines ("exec", "pidfile").
  explicit fanotify_group(std::string name);
  ~fanotify_group();

  fanotify_group(const fanotify_group&) = delete;
  fanotify_group& operator=(const fanotify_group&) = delete;

  /// fanotify_init; false and the reason in `error` on failure.
  bool open(unsigned init_flags, unsigned event_f_flags, std::string& error);

  /// Closes the fd: the kernel allows every permission event of the group
  /// not answered yet (once no other process holds a copy of the fd).
  void close();

  bool is_open() const {
    return fd_ >= 0;
  }

  int fd() const {
    return fd_;
  }

  const std::string& name() const {
    return name_;
  }

  /// fanotify_mark on `path` (followed if a symlink); false and the reason
  /// in `error` on failure.
  bool mark(unsigned flags, uint64_t mask, const std::string& path,
            std::string& error);

  /// Reads exactly one event: the buffer has room for one metadata record
  /// and no more, so a second permission event never lands in a buffer
  /// that an error could drop.
  read_result read_one(fanotify_event_metadata& meta, int& err);

  /// Writes `response` (FAN_ALLOW or FAN_DENY) for the event `event_fd`.
  /// False and the errno in `err` when the group is closed (EBADF) or the
  /// kernel refuses: ENOENT says nothing is pending with that fd any more
  /// (the process was killed while held).
  bool respond(int event_fd, uint32_t response, int& err);

private:
  std::string name_;
  int fd_ = -1;
};

/// A permission event being held: its fd and the group to answer. Answers
/// FAN_ALLOW and closes the fd when dropped (or on `allow()`), exactly once.
/// If the group was closed meanwhile, the kernel has allowed the event
/// already and only the fd is closed.
class held_event {
public:
  held_event() = default;
  held_event(fanotify_group* group, int fd) : group_(group), fd_(fd) {}
  held_event(held_event&& other) noexcept;
  held_event& operator=(held_event&& other) noexcept;
  held_event(const held_event&) = delete;
  held_event& operator=(const held_event&) = delete;
  ~held_event() {
    allow();
  }

  int fd() const {
    return fd_;
  }

  const fanotify_group* group() const {
    return group_;
  }

  /// Answers FAN_ALLOW and closes the fd; idempotent. Returns false when
  /// the kernel refused the answer (logged; the fd is closed anyway).
  bool allow() noexcept;

private:
  fanotify_group* group_ = nullptr;
  int fd_ = -1;
};

} // namespace nw::kernel
