// The libuv loop thread below the actors. Actors never block on a file
// descriptor: they hand it to this loop, which turns readiness and timer
// expiry into callbacks on its own thread; those callbacks `anon_send` typed
// messages back up. Plain C++ on purpose (no CAF, no uv.h here): every kernel
// adapter includes this header, and CAF headers cost seconds per unit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace nw::kernel {

/// Readiness bits a watch waits for and reports; combine with `|`.
/// Scoped so that names this generic stay out of `nw::kernel`.
struct fd_event {
  /// Data to read, or end of file.
  static constexpr int readable = 1;
  /// Room to write.
  static constexpr int writable = 2;
  /// The peer hung up (EPOLLRDHUP).
  static constexpr int disconnect = 4;
  /// Urgent data (EPOLLPRI): sysfs attribute changes, some perf fds.
  static constexpr int priority = 8;
};

/// Names one fd watch for `unwatch`. Never `no_id` when the watch was accepted.
using watch_id = std::uint64_t;

/// Names one timer for `cancel_timer`. Never `no_id` when it was accepted.
using timer_id = std::uint64_t;

/// What `watch_fd` and `add_timer` return when they refuse (loop stopped,
/// empty callback).
inline constexpr std::uint64_t no_id = 0;

/// A dedicated thread running one libuv loop.
///
/// Every callback handed to it runs on the loop thread, one at a time, and
/// must not block: a blocked callback stalls every watch and timer, including
/// the fanotify hold deadlines. An exception escaping a callback is caught on
/// the loop thread, logged and counted (`callback_errors`); it never takes the
/// process down.
///
/// All members are thread-safe. After `stop()` every call fails cleanly
/// (returns false or `no_id`) and no callback runs again.
class event_loop {
public:
  /// Called with the watched fd and either the `fd_event` bits that are
  /// ready or a negative libuv error code (`uv_strerror` names it). A
  /// negative value is final: the watch has already been removed.
  using fd_callback = std::function<void(int fd, int revents)>;

  /// Starts the loop thread. Throws std::system_error when libuv cannot set
  /// up the loop (e.g. out of fds for its epoll instance).
  event_loop();

  /// `stop()`. Destroying the loop from its own thread (inside a callback)
  /// is allowed: the thread then winds down and frees itself.
  ~event_loop();

  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  /// Stops the loop: functions already posted still run, then every watch
  /// and timer is closed and the thread is joined. Idempotent; from the loop
  /// thread it only requests the stop (a thread cannot join itself).
  void stop();

  /// Runs `fn` on the loop thread soon; functions run in the order they were
  /// posted. Returns false, dropping `fn`, once stop was requested or when
  /// `fn` is empty.
  bool post(std::function<void()> fn);

  /// Calls `cb` on the loop thread whenever `fd` is ready for `events`.
  ///
  /// The fd stays the caller's: the loop neither closes it nor keeps it
  /// open. Unwatch it (`unwatch_and_wait`, or `unwatch` with a `done`
  /// that closes it) BEFORE closing it — epoll keys on the open file, so a
  /// watch outliving close() can fire for whatever reuses the number.
  /// libuv switches the fd to O_NONBLOCK, which is shared with every
  /// duplicate of it. One watch per fd: a second gets UV_EEXIST.
  ///
  /// Setup errors (bad fd, a regular file epoll refuses, unknown event bits)
  /// reach `cb` as a negative code on the loop thread, never the caller.
  /// Returns `no_id` once stop was requested or when `cb` is empty.
  watch_id watch_fd(int fd, int events, fd_callback cb);

  /// Removes a watch. From the loop thread (e.g. inside its own callback)
  /// it takes effect at once; from another thread it is queued, and `done`
  /// runs on the loop thread once it has taken effect — the place to close
  /// the fd. Unknown ids are a no-op (`done` still runs). From another
  /// thread it returns false, without running `done`, once stop was
  /// requested: stop closes the watch itself, so the fd is safe to close
  /// once `stop()` has returned.
  bool unwatch(watch_id id, std::function<void()> done = {});

  /// Removes a watch and returns only once it has taken effect, so the
  /// caller may close the fd right after. Safe from the loop thread (it
  /// does not wait there). Returns false when stop was requested, but
  /// still only after the loop has closed its watches.
  bool unwatch_and_wait(watch_id id);

  /// Calls `cb` on the loop thread after `delay`, then every `repeat`
  /// (zero: once, after which the timer is gone). Returns `no_id` once stop
  /// was requested or when `cb` is empty.
  timer_id add_timer(std::chrono::milliseconds delay,
                     std::chrono::milliseconds repeat,
                     std::function<void()> cb);

  /// Cancels a timer; like `unwatch`, immediate on the loop thread and
  /// queued from others. Unknown or expired ids are a no-op. From another
  /// thread it returns false once stop was requested.
  bool cancel_timer(timer_id id);

  /// Whether the caller is running on the loop thread.
  bool on_loop_thread() const;

  /// How many callbacks (fd, timer, posted, `done`) have thrown so far.
  std::size_t callback_errors() const;

private:
  struct impl;
  // Shared with the loop thread so a loop destroyed from inside one of its
  // own callbacks stays alive until that thread has unwound.
  std::shared_ptr<impl> impl_;
};

} // namespace nw::kernel
