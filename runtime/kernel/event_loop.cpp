#include "runtime/kernel/event_loop.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <future>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pthread.h>

#include <uv.h>

#include "runtime/kernel/log.hpp"

namespace nw::kernel {

// The header keeps uv.h out of every adapter, so its bits must be libuv's
// bit for bit; revents then cross without translation.
static_assert(fd_event::readable == int{UV_READABLE}
                && fd_event::writable == int{UV_WRITABLE}
                && fd_event::disconnect == int{UV_DISCONNECT}
                && fd_event::priority == int{UV_PRIORITIZED},
              "fd_event must mirror uv_poll_event");

namespace {

constexpr int all_events = fd_event::readable | fd_event::writable
                           | fd_event::disconnect | fd_event::priority;

uint64_t to_uv_ms(std::chrono::milliseconds d) {
  return d.count() > 0 ? static_cast<uint64_t>(d.count()) : 0;
}

} // namespace

struct event_loop::impl {
  struct watch {
    uv_poll_t handle;
    impl* owner;
    watch_id id;
    int fd;
    fd_callback cb;
  };

  struct timer {
    uv_timer_t handle;
    impl* owner;
    timer_id id;
    bool repeating;
    std::function<void()> cb;
  };

  // -- shared with every thread, guarded by mtx_ ------------------------------

  std::mutex mtx_;
  std::condition_variable closed_cv_;
  std::vector<std::function<void()>> queue_;
  // Started by a queued function; an unwatch on the loop thread acts at once
  // and so can overtake it: erasing the id here makes the start a no-op.
  std::unordered_set<watch_id> pending_watches_;
  std::unordered_set<timer_id> pending_timers_;
  bool stopping_ = false;
  // Every handle is closed: no user callback can run any more.
  bool closed_ = false;

  std::atomic<std::uint64_t> next_id_{no_id + 1};
  std::atomic<std::size_t> callback_errors_{0};
  std::atomic<std::thread::id> loop_thread_{};

  // Serialises concurrent stop() calls: std::thread::join from two threads
  // at once is undefined.
  std::mutex join_mtx_;
  std::thread thread_;

  // -- loop thread only
  // --------------------------------------------------------

  uv_loop_t loop_;
  uv_async_t wakeup_;
  bool loop_open_ = false;
  std::unordered_map<watch_id, watch*> watches_;
  // libuv keeps one watcher per fd: a second uv_poll on the same fd is
  // silently starved of events (or refused, once the first has started).
  std::unordered_map<int, watch_id> watched_fds_;
  std::unordered_map<timer_id, timer*> timers_;

  impl() {
    if (int rc = uv_loop_init(&loop_); rc != 0)
      throw std::system_error(-rc, std::generic_category(), "uv_loop_init");
    if (int rc = uv_async_init(&loop_, &wakeup_, on_wakeup); rc != 0) {
      uv_loop_close(&loop_);
      throw std::system_error(-rc, std::generic_category(), "uv_async_init");
    }
    wakeup_.data = this;
    loop_open_ = true;
  }

  ~impl() {
    if (!loop_open_)
      return;
    // Only when the thread never started: nobody else has seen the loop.
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  // -- loop thread
  // ---------------------------------------------------------------

  void run() {
    loop_thread_.store(std::this_thread::get_id());
    pthread_setname_np(pthread_self(), "nw-event-loop");
    // Returns once close_all has closed the last handle.
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (int rc = uv_loop_close(&loop_); rc != 0)
      nw::log::error("event loop closed with handles still open",
                     {{"error", uv_strerror(rc)}});
    loop_open_ = false;
    loop_thread_.store(std::thread::id{});
  }

  void count_error(const char* what) noexcept {
    callback_errors_.fetch_add(1, std::memory_order_relaxed);
    try {
      nw::log::error("event loop callback threw", {{"what", what}});
    } catch (...) {
      // Logging ran out of memory; the count is what matters.
    }
  }

  // A callback's exception must not unwind through libuv's C frames.
  template <class F, class... Ts>
  void invoke(F& f, Ts... xs) noexcept {
    try {
      f(xs...);
    } catch (const std::exception& e) {
      count_error(e.what());
    } catch (...) {
      count_error("non-standard exception");
    }
  }

  static void on_wakeup(uv_async_t* h) {
    static_cast<impl*>(h->data)->drain();
  }

  void drain() {
    for (;;) {
      std::vector<std::function<void()>> batch;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (queue_.empty()) {
          if (!stopping_ || closed_)
            return;
          // Nothing can be queued any more (stopping_ refuses it), so
          // every function posted before stop() has run.
          close_all();
          closed_ = true;
          closed_cv_.notify_all();
          return;
        }
        batch.swap(queue_);
      }
      for (auto& fn : batch)
        invoke(fn);
    }
  }

  // Runs no user code, so it may run under mtx_.
  void close_all() {
    for (auto& [id, w] : watches_)
      uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), on_watch_closed);
    watches_.clear();
    watched_fds_.clear();
    for (auto& [id, t] : timers_)
      uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), on_timer_closed);
    timers_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
  }

  bool take_pending(std::unordered_set<std::uint64_t>& pending,
                    std::uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    bool was_pending = pending.erase(id) > 0;
    return was_pending && !stopping_;
  }

  void start_watch(watch_id id, int fd, int events, fd_callback& cb) {
    if (!take_pending(pending_watches_, id))
      return;
    int err = 0;
    if (fd < 0)
      err = UV_EBADF;
    else if ((events & ~all_events) != 0 || (events & all_events) == 0)
      // uv_poll_start asserts on unknown bits rather than failing.
      err = UV_EINVAL;
    else if (watched_fds_.count(fd) > 0)
      err = UV_EEXIST;
    if (err != 0) {
      invoke(cb, fd, err);
      return;
    }
    auto w = std::make_unique<watch>();
    // Fails before touching the loop (EBADF, or EPERM for a regular file
    // epoll refuses); on success it has set O_NONBLOCK on the fd.
    if (err = uv_poll_init(&loop_, &w->handle, fd); err != 0) {
      invoke(cb, fd, err);
      return;
    }
    w->handle.data = w.get();
    w->owner = this;
    w->id = id;
    w->fd = fd;
    w->cb = std::move(cb);
    if (err = uv_poll_start(&w->handle, events, on_poll); err != 0) {
      auto* raw = w.release();
      uv_close(reinterpret_cast<uv_handle_t*>(&raw->handle), on_watch_closed);
      invoke(raw->cb, fd, err);
      return;
    }
    watched_fds_.emplace(fd, id);
    watches_.emplace(id, w.release());
  }

  static void on_poll(uv_poll_t* h, int status, int events) {
    auto* w = static_cast<watch*>(h->data);
    auto* self = w->owner;
    if (status < 0) {
      // libuv has already stopped the handle (POLLERR); report it once and
      // drop the watch rather than leave a dead one registered.
      self->invoke(w->cb, w->fd, status);
      self->remove_watch(w->id);
      return;
    }
    self->invoke(w->cb, w->fd, events);
  }

  void remove_watch(watch_id id) {
    auto i = watches_.find(id);
    if (i == watches_.end())
      return;
    watch* w = i->second;
    watches_.erase(i);
    watched_fds_.erase(w->fd);
    // uv_close stops the poll at once (epoll_ctl DEL), so the caller may
    // close the fd as soon as this returns. The memory waits for the close
    // callback because we may be inside w->cb right now.
    uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), on_watch_closed);
  }

  static void on_watch_closed(uv_handle_t* h) {
    delete static_cast<watch*>(h->data);
  }

  void start_timer(timer_id id, std::chrono::milliseconds delay,
                   std::chrono::milliseconds repeat,
                   std::function<void()>& cb) {
    if (!take_pending(pending_timers_, id))
      return;
    auto t = std::make_unique<timer>();
    uv_timer_init(&loop_, &t->handle); // cannot fail on Linux
    t->handle.data = t.get();
    t->owner = this;
    t->id = id;
    t->repeating = repeat.count() > 0;
    t->cb = std::move(cb);
    // The loop's clock is cached at the top of an iteration; this function
    // may run long after that, behind other posted work, and the timer would
    // then fire early by that much.
    uv_update_time(&loop_);
    if (int rc = uv_timer_start(&t->handle, on_timer, to_uv_ms(delay),
                                to_uv_ms(repeat));
        rc != 0) {
      nw::log::error("uv_timer_start failed", {{"error", uv_strerror(rc)}});
      auto* raw = t.release();
      uv_close(reinterpret_cast<uv_handle_t*>(&raw->handle), on_timer_closed);
      return;
    }
    timers_.emplace(id, t.release());
  }

  static void on_timer(uv_timer_t* h) {
    auto* t = static_cast<timer*>(h->data);
    auto* self = t->owner;
    self->invoke(t->cb);
    if (!t->repeating)
      self->remove_timer(t->id);
  }

  void remove_timer(timer_id id) {
    auto i = timers_.find(id);
    if (i == timers_.end())
      return;
    timer* t = i->second;
    timers_.erase(i);
    uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), on_timer_closed);
  }

  static void on_timer_closed(uv_handle_t* h) {
    delete static_cast<timer*>(h->data);
  }

  // -- any thread
  // ----------------------------------------------------------------

  bool on_loop_thread() const {
    return loop_thread_.load() == std::this_thread::get_id();
  }

  bool enqueue_locked(std::function<void()> fn) {
    if (stopping_)
      return false;
    queue_.push_back(std::move(fn));
    // Sent under mtx_: once stopping_ is seen the loop closes wakeup_, and a
    // send racing with that close would touch a dead handle. One send per
    // empty→non-empty edge is enough, since drain() empties the whole queue.
    if (queue_.size() == 1)
      uv_async_send(&wakeup_);
    return true;
  }

  bool post(std::function<void()> fn) {
    if (!fn)
      return false;
    std::lock_guard<std::mutex> guard{mtx_};
    return enqueue_locked(std::move(fn));
  }

  void request_stop() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    stopping_ = true;
    uv_async_send(&wakeup_);
  }

  void stop() {
    request_stop();
    if (on_loop_thread())
      return;
    std::lock_guard<std::mutex> guard{join_mtx_};
    if (thread_.joinable())
      thread_.join();
  }

  void detach() {
    std::lock_guard<std::mutex> guard{join_mtx_};
    if (thread_.joinable())
      thread_.detach();
  }

  void wait_closed() {
    std::unique_lock<std::mutex> guard{mtx_};
    closed_cv_.wait(guard, [this] { return closed_; });
  }

  /// Reserves an id, marks it pending (so it can be cancelled before it
  /// starts) and queues `start(id)` for the loop thread; no_id after stop.
  template <class Start>
  uint64_t enqueue_start(std::unordered_set<uint64_t>& pending, Start start) {
    auto id = next_id_.fetch_add(1);
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return no_id;
    pending.insert(id);
    enqueue_locked([id, start = std::move(start)]() mutable { start(id); });
    return id;
  }

  watch_id watch_fd(int fd, int events, fd_callback cb) {
    if (!cb)
      return no_id;
    return enqueue_start(
      pending_watches_,
      [this, fd, events, cb = std::move(cb)](uint64_t id) mutable {
        start_watch(id, fd, events, cb);
      });
  }

  bool unwatch(watch_id id, std::function<void()> done) {
    if (on_loop_thread()) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        pending_watches_.erase(id);
      }
      remove_watch(id);
      if (done)
        invoke(done);
      return true;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    // Queued behind the start that watch_fd queued before handing out id.
    return enqueue_locked([this, id, done = std::move(done)] {
      remove_watch(id);
      if (done)
        done();
    });
  }

  bool unwatch_and_wait(watch_id id) {
    if (on_loop_thread())
      return unwatch(id, {});
    // Shared: the waiter may wake and return while set_value is still
    // inside the promise.
    auto taken = std::make_shared<std::promise<void>>();
    auto future = taken->get_future();
    bool queued;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      queued = enqueue_locked([this, id, taken] {
        remove_watch(id);
        taken->set_value();
      });
    }
    if (queued) {
      future.wait();
      return true;
    }
    // Stopping: the watch may still fire until the loop closes it, so the
    // caller must not close the fd before that.
    wait_closed();
    return false;
  }

  timer_id add_timer(std::chrono::milliseconds delay,
                     std::chrono::milliseconds repeat,
                     std::function<void()> cb) {
    if (!cb)
      return no_id;
    return enqueue_start(
      pending_timers_,
      [this, delay, repeat, cb = std::move(cb)](uint64_t id) mutable {
        start_timer(id, delay, repeat, cb);
      });
  }

  bool cancel_timer(timer_id id) {
    if (on_loop_thread()) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        pending_timers_.erase(id);
      }
      remove_timer(id);
      return true;
    }
    std::lock_guard<std::mutex> guard{mtx_};
    return enqueue_locked([this, id] { remove_timer(id); });
  }
};

event_loop::event_loop() : impl_(std::make_shared<impl>()) {
  // The thread holds its own reference: see ~event_loop.
  impl_->thread_ = std::thread([self = impl_] { self->run(); });
}

event_loop::~event_loop() {
  if (impl_->on_loop_thread()) {
    // Inside one of our own callbacks: uv_run is further up this stack.
    // Let the thread finish on its own; its reference frees the impl.
    impl_->request_stop();
    impl_->detach();
    return;
  }
  impl_->stop();
}

void event_loop::stop() {
  impl_->stop();
}

bool event_loop::post(std::function<void()> fn) {
  return impl_->post(std::move(fn));
}

watch_id event_loop::watch_fd(int fd, int events, fd_callback cb) {
  return impl_->watch_fd(fd, events, std::move(cb));
}

bool event_loop::unwatch(watch_id id, std::function<void()> done) {
  return impl_->unwatch(id, std::move(done));
}

bool event_loop::unwatch_and_wait(watch_id id) {
  return impl_->unwatch_and_wait(id);
}

timer_id event_loop::add_timer(std::chrono::milliseconds delay,
                               std::chrono::milliseconds repeat,
                               std::function<void()> cb) {
  return impl_->add_timer(delay, repeat, std::move(cb));
}

bool event_loop::cancel_timer(timer_id id) {
  return impl_->cancel_timer(id);
}

bool event_loop::on_loop_thread() const {
  return impl_->on_loop_thread();
}

std::size_t event_loop::callback_errors() const {
  return impl_->callback_errors_.load(std::memory_order_relaxed);
}

} // namespace nw::kernel
