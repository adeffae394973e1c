#define BOOST_TEST_MODULE event_loop
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <uv.h>

#include "runtime/kernel/event_loop.hpp"

using namespace std::chrono_literals;
using nw::kernel::event_loop;
using nw::kernel::fd_event;
using nw::kernel::no_id;
using nw::kernel::timer_id;
using nw::kernel::watch_id;

namespace {

// Generous: valgrind slows the loop by 20-50x. Passing tests never wait it.
constexpr auto deadline = 20s;

template <class T>
T wait_for(std::future<T>& f) {
  BOOST_TEST_REQUIRE((f.wait_for(deadline) == std::future_status::ready),
                     "timed out waiting on the loop");
  return f.get();
}

// Resolves once the loop has let `window` pass on its own clock: long enough
// for a level-triggered fd or a 1-2 ms timer that should be dead to have run
// many times if it were not.
void let_loop_run(event_loop& loop, std::chrono::milliseconds window) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  BOOST_TEST_REQUIRE(loop.add_timer(window, 0ms, [done] { done->set_value(); })
                     != no_id);
  wait_for(f);
}

struct pipe_fds {
  int r = -1;
  int w = -1;
  pipe_fds() {
    int fds[2];
    BOOST_TEST_REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~pipe_fds() {
    close_r();
    close_w();
  }
  void close_r() {
    if (r >= 0)
      ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0)
      ::close(w);
    w = -1;
  }
  void make_readable() const {
    BOOST_TEST_REQUIRE(::write(w, "x", 1) == 1);
  }
};

struct event_fd {
  int fd = eventfd(0, EFD_CLOEXEC);
  event_fd() {
    BOOST_TEST_REQUIRE(fd >= 0);
  }
  ~event_fd() {
    ::close(fd);
  }
  // No Boost.Test macros: also called on the loop thread, and Boost.Test
  // is not thread-safe.
  bool signal() const {
    uint64_t one = 1;
    return ::write(fd, &one, sizeof one) == sizeof one;
  }
  void drain() const {
    uint64_t n;
    (void)!::read(fd, &n, sizeof n);
  }
};

struct fired {
  bool on_loop_thread;
  int fd;
  int revents;
};

} // namespace

BOOST_AUTO_TEST_CASE(readable_pipe_calls_back_on_the_loop_thread) {
  event_loop loop;
  BOOST_TEST(!loop.on_loop_thread());
  pipe_fds p;
  std::promise<fired> got;
  auto f = got.get_future();
  std::atomic<bool> once{false};
  auto id = loop.watch_fd(p.r, fd_event::readable, [&](int fd, int revents) {
    if (!once.exchange(true))
      got.set_value({loop.on_loop_thread(), fd, revents});
  });
  BOOST_TEST_REQUIRE(id != no_id);
  p.make_readable();
  auto x = wait_for(f);
  BOOST_TEST(x.on_loop_thread);
  BOOST_TEST(x.fd == p.r);
  BOOST_TEST((x.revents & fd_event::readable) != 0);
  BOOST_TEST(loop.unwatch_and_wait(id));
}

BOOST_AUTO_TEST_CASE(eventfd_fires_once_per_signal_when_drained) {
  event_loop loop;
  event_fd ev;
  std::mutex mtx;
  std::vector<int> seen;
  std::promise<void> third;
  auto f = third.get_future();
  auto id = loop.watch_fd(ev.fd, fd_event::readable, [&](int, int revents) {
    ev.drain();
    std::lock_guard<std::mutex> guard{mtx};
    seen.push_back(revents);
    if (seen.size() == 3)
      third.set_value();
    else
      ev.signal(); // from the loop thread: the next round is ours too
  });
  BOOST_TEST_REQUIRE(id != no_id);
  BOOST_TEST_REQUIRE(ev.signal());
  wait_for(f);
  BOOST_TEST(loop.unwatch_and_wait(id));
  std::lock_guard<std::mutex> guard{mtx};
  BOOST_TEST(seen.size() == 3u);
}

BOOST_AUTO_TEST_CASE(posted_functions_run_in_order_on_the_loop_thread) {
  event_loop loop;
  constexpr int n = 2000;
  std::vector<int> order; // only touched on the loop thread
  std::atomic<int> off_thread{0};
  std::promise<void> last;
  auto f = last.get_future();
  for (int i = 0; i < n; ++i)
    BOOST_TEST_REQUIRE(loop.post([&, i] {
      if (!loop.on_loop_thread())
        ++off_thread;
      order.push_back(i);
      if (i == n - 1)
        last.set_value();
    }));
  wait_for(f);
  BOOST_TEST(off_thread == 0);
  BOOST_TEST_REQUIRE(order.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    BOOST_TEST_REQUIRE(order[i] == i);
}

BOOST_AUTO_TEST_CASE(posts_from_many_threads_keep_each_threads_order) {
  event_loop loop;
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::vector<std::vector<int>> seen(threads); // loop thread only
  std::atomic<int> remaining{threads * per_thread};
  std::promise<void> all;
  auto f = all.get_future();
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t)
    posters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        loop.post([&, t, i] {
          seen[t].push_back(i);
          if (--remaining == 0)
            all.set_value();
        });
    });
  for (auto& th : posters)
    th.join();
  wait_for(f);
  for (int t = 0; t < threads; ++t) {
    BOOST_TEST_REQUIRE(seen[t].size() == static_cast<size_t>(per_thread));
    for (int i = 0; i < per_thread; ++i)
      BOOST_TEST_REQUIRE(seen[t][i] == i);
  }
}

BOOST_AUTO_TEST_CASE(post_from_the_loop_runs_after_the_current_one) {
  event_loop loop;
  std::vector<int> order;
  std::promise<void> done;
  auto f = done.get_future();
  loop.post([&] {
    loop.post([&] {
      order.push_back(2);
      done.set_value();
    });
    order.push_back(1);
  });
  wait_for(f);
  BOOST_TEST((order == std::vector<int>{1, 2}));
}

BOOST_AUTO_TEST_CASE(repeating_timer_fires_n_times_then_is_cancelled) {
  event_loop loop;
  constexpr int n = 5;
  int count = 0; // loop thread only
  timer_id id = no_id;
  std::promise<bool> reached;
  auto f = reached.get_future();
  // add_timer from the loop thread: its start is queued behind this
  // function, so `id` is set before the first tick reads it.
  loop.post([&] {
    id = loop.add_timer(1ms, 2ms, [&] {
      if (++count == n)
        reached.set_value(loop.cancel_timer(id));
    });
  });
  BOOST_TEST(wait_for(f));
  let_loop_run(loop, 50ms);
  std::promise<int> final_count;
  auto g = final_count.get_future();
  loop.post([&] { final_count.set_value(count); });
  BOOST_TEST(wait_for(g) == n);
}

BOOST_AUTO_TEST_CASE(one_shot_timer_fires_once_and_cancel_from_afar_works) {
  event_loop loop;
  std::atomic<int> one_shot{0};
  std::atomic<int> cancelled{0};
  std::promise<bool> fired_on_loop;
  auto f = fired_on_loop.get_future();
  BOOST_TEST_REQUIRE(loop.add_timer(1ms, 0ms, [&] {
    if (++one_shot == 1)
      fired_on_loop.set_value(loop.on_loop_thread());
  }) != no_id);
  auto far = loop.add_timer(30ms, 0ms, [&] { ++cancelled; });
  BOOST_TEST_REQUIRE(far != no_id);
  BOOST_TEST(loop.cancel_timer(far));
  BOOST_TEST(wait_for(f));
  let_loop_run(loop, 60ms);
  BOOST_TEST(one_shot == 1);
  BOOST_TEST(cancelled == 0);
  // Expired and unknown ids are no-ops.
  BOOST_TEST(loop.cancel_timer(far));
  BOOST_TEST(loop.cancel_timer(123456789));
}

BOOST_AUTO_TEST_CASE(unwatch_from_inside_the_callback_stops_it_at_once) {
  event_loop loop;
  event_fd ev;
  std::atomic<watch_id> id{no_id};
  std::atomic<int> calls{0};
  std::promise<bool> first;
  auto f = first.get_future();
  // Never drained: level-triggered, so it would fire every iteration.
  id = loop.watch_fd(ev.fd, fd_event::readable, [&](int, int) {
    if (++calls == 1)
      first.set_value(loop.unwatch(id.load()));
  });
  BOOST_TEST_REQUIRE(id.load() != no_id);
  BOOST_TEST_REQUIRE(ev.signal());
  BOOST_TEST(wait_for(f));
  let_loop_run(loop, 30ms);
  BOOST_TEST(calls == 1);
  // The fd is free again: a new watch on it is accepted and fires.
  std::promise<void> again;
  auto g = again.get_future();
  std::atomic<bool> once{false};
  auto id2 = loop.watch_fd(ev.fd, fd_event::readable, [&](int, int) {
    if (!once.exchange(true))
      again.set_value();
  });
  wait_for(g);
  BOOST_TEST(loop.unwatch_and_wait(id2));
}

BOOST_AUTO_TEST_CASE(unwatch_on_the_loop_thread_overtakes_a_queued_start) {
  event_loop loop;
  event_fd ev;
  BOOST_TEST_REQUIRE(ev.signal()); // ready before the watch even starts
  std::atomic<int> calls{0};
  std::promise<void> done;
  auto f = done.get_future();
  loop.post([&] {
    auto id
      = loop.watch_fd(ev.fd, fd_event::readable, [&](int, int) { ++calls; });
    loop.unwatch(id); // the start is still queued behind us
    auto t = loop.add_timer(0ms, 0ms, [&] { ++calls; });
    loop.cancel_timer(t);
    done.set_value();
  });
  wait_for(f);
  let_loop_run(loop, 30ms);
  BOOST_TEST(calls == 0);
}

BOOST_AUTO_TEST_CASE(unwatch_from_another_thread_then_close_never_fires_after) {
  event_loop loop;
  std::atomic<int> after_close{0};
  std::atomic<int> total_calls{0};
  // Reopening pipes reuses the same fd numbers, which is exactly when a
  // stale watch would fire for the wrong file.
  for (int round = 0; round < 200; ++round) {
    auto p = std::make_unique<pipe_fds>();
    auto closed = std::make_shared<std::atomic<bool>>(false);
    std::promise<void> first;
    auto f = first.get_future();
    auto once = std::make_shared<std::atomic<bool>>(false);
    auto id
      = loop.watch_fd(p->r, fd_event::readable, [&, closed, once](int, int) {
          ++total_calls;
          if (closed->load())
            ++after_close;
          if (!once->exchange(true))
            first.set_value();
        });
    BOOST_TEST_REQUIRE(id != no_id);
    p->make_readable(); // and never read: it fires every iteration
    wait_for(f);
    if (round % 2 == 0) {
      BOOST_TEST_REQUIRE(loop.unwatch_and_wait(id));
      closed->store(true);
      p.reset();
    } else {
      // The other shape: close inside `done`, on the loop thread.
      std::promise<bool> done;
      auto g = done.get_future();
      int r = p->r;
      BOOST_TEST_REQUIRE(loop.unwatch(id, [&, closed, r] {
        closed->store(true);
        ::close(r);
        done.set_value(loop.on_loop_thread());
      }));
      BOOST_TEST(wait_for(g));
      p->r = -1;
      p.reset();
    }
  }
  let_loop_run(loop, 20ms);
  BOOST_TEST(after_close == 0);
  BOOST_TEST(total_calls >= 200);
}

BOOST_AUTO_TEST_CASE(stop_with_work_outstanding_is_prompt_and_clean) {
  event_loop loop;
  std::vector<std::unique_ptr<pipe_fds>> pipes;
  std::atomic<int> posted_ran{0};
  for (int i = 0; i < 16; ++i) {
    pipes.push_back(std::make_unique<pipe_fds>());
    BOOST_TEST_REQUIRE(
      loop.watch_fd(pipes.back()->r, fd_event::readable, [](int, int) {})
      != no_id);
    if (i % 2 == 0)
      pipes.back()->make_readable(); // busy watches too
    BOOST_TEST_REQUIRE(loop.add_timer(1h, 1h, [] {}) != no_id);
    BOOST_TEST_REQUIRE(loop.add_timer(1ms, 1ms, [] {}) != no_id);
    BOOST_TEST_REQUIRE(loop.post([&] { ++posted_ran; }));
  }
  auto started = std::chrono::steady_clock::now();
  loop.stop();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  BOOST_TEST(took.count() < 5000, "stop took " << took.count() << " ms");
  BOOST_TEST(posted_ran == 16); // accepted before stop, so they ran
  BOOST_TEST(!loop.on_loop_thread());
}

BOOST_AUTO_TEST_CASE(every_call_after_stop_fails_cleanly) {
  event_loop loop;
  pipe_fds p;
  auto id = loop.watch_fd(p.r, fd_event::readable, [](int, int) {});
  auto t = loop.add_timer(1h, 0ms, [] {});
  loop.stop();
  loop.stop(); // idempotent
  std::atomic<int> ran{0};
  BOOST_TEST(!loop.post([&] { ++ran; }));
  BOOST_TEST(loop.watch_fd(p.r, fd_event::readable, [&](int, int) { ++ran; })
             == no_id);
  BOOST_TEST(loop.add_timer(0ms, 0ms, [&] { ++ran; }) == no_id);
  BOOST_TEST(!loop.unwatch(id, [&] { ++ran; }));
  BOOST_TEST(!loop.unwatch_and_wait(id));
  BOOST_TEST(!loop.cancel_timer(t));
  BOOST_TEST(!loop.on_loop_thread());
  BOOST_TEST(loop.callback_errors() == 0u);
  BOOST_TEST(ran == 0);
}

BOOST_AUTO_TEST_CASE(concurrent_stops_all_return_after_the_loop_ended) {
  event_loop loop;
  std::atomic<int> still_posting{0};
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i)
    stoppers.emplace_back([&] {
      loop.stop();
      if (loop.post([] {}))
        ++still_posting;
    });
  for (auto& th : stoppers)
    th.join();
  BOOST_TEST(still_posting == 0);
}

BOOST_AUTO_TEST_CASE(stop_from_inside_a_callback_then_destroy_from_outside) {
  event_loop loop;
  std::promise<bool> asked;
  auto f = asked.get_future();
  loop.post([&] {
    loop.stop(); // cannot join itself: only requests
    asked.set_value(loop.on_loop_thread());
  });
  BOOST_TEST(wait_for(f));
  loop.stop(); // joins
  BOOST_TEST(!loop.post([] {}));
}

BOOST_AUTO_TEST_CASE(destroying_the_loop_from_its_own_callback_is_safe) {
  auto* loop = new event_loop;
  // Freed by the timer's close callback, which runs only while the loop
  // thread winds down after the destructor returned.
  struct on_free {
    explicit on_free(std::promise<void>* p) : p_(p) {}
    ~on_free() {
      p_->set_value();
    }
    std::promise<void>* p_;
  };
  std::promise<void> freed;
  auto f = freed.get_future();
  auto guard = std::make_shared<on_free>(&freed);
  BOOST_TEST_REQUIRE(loop->add_timer(1h, 0ms, [guard] {}) != no_id);
  guard.reset();
  BOOST_TEST_REQUIRE(loop->post([loop] { delete loop; }));
  wait_for(f);
}

BOOST_AUTO_TEST_CASE(throwing_callbacks_are_counted_and_the_loop_goes_on) {
  event_loop loop;
  event_fd ev;
  BOOST_TEST_REQUIRE(loop.post([] { throw std::runtime_error("posted"); }));
  BOOST_TEST_REQUIRE(loop.post([] { throw 42; }));
  std::promise<void> timer_threw;
  auto tf = timer_threw.get_future();
  loop.add_timer(1ms, 0ms, [&] {
    timer_threw.set_value();
    throw std::logic_error("timer");
  });
  std::atomic<watch_id> id{no_id};
  std::promise<void> fd_threw;
  auto ff = fd_threw.get_future();
  id = loop.watch_fd(ev.fd, fd_event::readable, [&](int, int) {
    loop.unwatch(id.load());
    fd_threw.set_value();
    throw std::runtime_error("fd");
  });
  BOOST_TEST_REQUIRE(ev.signal());
  wait_for(tf);
  wait_for(ff);
  std::promise<size_t> still_running;
  auto f = still_running.get_future();
  BOOST_TEST_REQUIRE(
    loop.post([&] { still_running.set_value(loop.callback_errors()); }));
  BOOST_TEST(wait_for(f) == 4u);
}

BOOST_AUTO_TEST_CASE(setup_errors_reach_the_callback_on_the_loop_thread) {
  event_loop loop;
  auto expect_error = [&](int fd, int events) {
    auto got = std::make_shared<std::promise<fired>>();
    auto f = got->get_future();
    auto id = loop.watch_fd(fd, events, [&, got](int cb_fd, int revents) {
      got->set_value({loop.on_loop_thread(), cb_fd, revents});
    });
    BOOST_TEST_REQUIRE(id != no_id);
    auto x = wait_for(f);
    BOOST_TEST(x.on_loop_thread);
    BOOST_TEST(x.fd == fd);
    // The watch is gone already: unwatching it is a harmless no-op.
    BOOST_TEST(loop.unwatch_and_wait(id));
    return x.revents;
  };
  BOOST_TEST(expect_error(-1, fd_event::readable) == UV_EBADF);
  int closed_fd;
  {
    pipe_fds p;
    closed_fd = p.r;
  }
  BOOST_TEST(expect_error(closed_fd, fd_event::readable) == UV_EBADF);
  // epoll refuses regular files.
  int file = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(file >= 0);
  BOOST_TEST(expect_error(file, fd_event::readable) == UV_EPERM);
  ::close(file);
  pipe_fds p;
  BOOST_TEST(expect_error(p.r, 0x100) == UV_EINVAL);
  BOOST_TEST(expect_error(p.r, 0) == UV_EINVAL);
  // One watch per fd.
  auto first = loop.watch_fd(p.r, fd_event::readable, [](int, int) {});
  BOOST_TEST(expect_error(p.r, fd_event::readable) == UV_EEXIST);
  BOOST_TEST(loop.unwatch_and_wait(first));
  BOOST_TEST(loop.callback_errors() == 0u);
}

BOOST_AUTO_TEST_CASE(a_poll_error_is_reported_once_and_ends_the_watch) {
  event_loop loop;
  pipe_fds p;
  std::atomic<int> errors{0};
  std::atomic<int> after_error{0};
  std::promise<int> got;
  auto f = got.get_future();
  auto id = loop.watch_fd(p.w, fd_event::writable, [&](int, int revents) {
    if (errors > 0)
      ++after_error;
    if (revents < 0 && ++errors == 1)
      got.set_value(revents);
  });
  BOOST_TEST_REQUIRE(id != no_id);
  // A pipe's write end with no reader left polls EPOLLERR.
  loop.post([&] { p.close_r(); });
  BOOST_TEST(wait_for(f) == UV_EBADF);
  let_loop_run(loop, 30ms);
  BOOST_TEST(errors == 1);
  BOOST_TEST(after_error == 0);
  BOOST_TEST(loop.unwatch_and_wait(id));
}
