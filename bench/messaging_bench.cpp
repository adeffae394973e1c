// Actor-to-actor throughput: a producer actor sends N values to a consumer
// actor on CAF's real scheduler (2 workers), against the plain alternative —
// a mutex + condition variable queue handing the same values from one
// std::thread to another. Both copy each value once on the way in and both
// queues are unbounded. The two run alternately, round by round, in the same
// process, so a noisy neighbour hits both alike.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "bench/harness.hpp"

namespace nw::bench {

namespace {

using go_atom = caf::atom_constant<caf::atom("nwb_go")>;
using done_atom = caf::atom_constant<caf::atom("nwb_done")>;

// -- payloads -----------------------------------------------------------------

// Each message carries its index, so the receiver can prove it got them all.
void stamp(uint64_t& x, uint64_t i) {
  x = i;
}

void stamp(container_event& x, uint64_t i) {
  x.seq = i;
}

uint64_t key(uint64_t x) {
  return x;
}

uint64_t key(const container_event& x) {
  return x.seq;
}

uint64_t expected_sum(uint64_t n) {
  return n * (n - 1) / 2;
}

// -- CAF: producer actor -> consumer actor ------------------------------------

template <class T>
caf::behavior consumer(caf::event_based_actor* self, uint64_t n,
                       caf::actor report_to) {
  return {
    [=, count = uint64_t{0}, sum = uint64_t{0}](const T& x) mutable {
      sum += key(x);
      if (++count == n) {
        self->send(report_to, done_atom::value, sum);
        self->quit();
      }
    },
  };
}

template <class T>
caf::behavior producer(caf::event_based_actor* self, caf::actor to, uint64_t n,
                       T proto) {
  return {
    [=](go_atom) mutable {
      for (uint64_t i = 0; i < n; ++i) {
        stamp(proto, i);
        self->send(to, proto);
      }
      self->quit();
    },
  };
}

/// Messages per second for one round of `n` messages between two actors.
template <class T>
double caf_round(caf::actor_system& sys, uint64_t n, const T& proto) {
  caf::scoped_actor self{sys};
  auto c = sys.spawn(consumer<T>, n, caf::actor{self});
  auto p = sys.spawn(producer<T>, c, n, proto);
  auto t0 = clock_type::now();
  caf::anon_send(p, go_atom::value);
  uint64_t sum = 0;
  self->receive([&](done_atom, uint64_t x) { sum = x; });
  auto t1 = clock_type::now();
  if (sum != expected_sum(n))
    fail("the consumer actor lost messages");
  return static_cast<double>(n) * 1e9 / ns_between(t0, t1);
}

// -- peer: mutex + condition variable queue between two threads ---------------

template <class T>
class handoff_queue {
public:
  void push(const T& x) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      xs_.push_back(x);
    }
    cv_.notify_one();
  }

  T pop() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [this] { return !xs_.empty(); });
    T x = std::move(xs_.front());
    xs_.pop_front();
    return x;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<T> xs_;
};

/// Messages per second for one round of `n` values through the queue. The
/// threads exist before the clock starts, as the actors do.
template <class T>
double queue_round(uint64_t n, const T& proto) {
  handoff_queue<T> q;
  std::promise<void> start;
  auto go = start.get_future().share();
  uint64_t sum = 0;
  std::thread consumer_thread{[&, go] {
    go.wait();
    for (uint64_t i = 0; i < n; ++i)
      sum += key(q.pop());
  }};
  std::thread producer_thread{[&, go, x = proto]() mutable {
    go.wait();
    for (uint64_t i = 0; i < n; ++i) {
      stamp(x, i);
      q.push(x);
    }
  }};
  auto t0 = clock_type::now();
  start.set_value();
  consumer_thread.join();
  auto t1 = clock_type::now();
  producer_thread.join();
  if (sum != expected_sum(n))
    fail("the queue lost values");
  return static_cast<double>(n) * 1e9 / ns_between(t0, t1);
}

// -- the benchmark ------------------------------------------------------------

template <class T>
void compare(caf::actor_system& sys, const std::string& label, uint64_t n,
             const T& proto, size_t rounds) {
  // One unmeasured round each: first-touch allocations, lazy thread start.
  caf_round(sys, n, proto);
  queue_round(n, proto);
  samples caf_rates;
  samples queue_rates;
  for (size_t r = 0; r < rounds; ++r) {
    if (r % 2 == 0) {
      caf_rates.add(caf_round(sys, n, proto));
      queue_rates.add(queue_round(n, proto));
    } else {
      queue_rates.add(queue_round(n, proto));
      caf_rates.add(caf_round(sys, n, proto));
    }
  }
  auto spread = [](const samples& xs) {
    return fmt_rate(xs.quantile(0.1)) + " .. " + fmt_rate(xs.quantile(0.9));
  };
  auto what = label + ", " + std::to_string(n) + " msgs";
  row("messaging", "CAF actor->actor, " + what, fmt_rate(caf_rates.median()),
      spread(caf_rates), caf_rates.size());
  row("messaging", "mutex+condvar queue, " + what,
      fmt_rate(queue_rates.median()), spread(queue_rates), queue_rates.size());
  row("messaging", "ratio CAF / queue, " + label,
      fmt_ratio(caf_rates.median() / queue_rates.median()), "-", rounds);
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto rounds = rounds_arg(argc, argv, 9);
  auto policy = policy_arg(argc, argv);
  caf::actor_system_config cfg;
  configure(cfg, policy);
  caf::actor_system sys{cfg};
  note("messaging: CAF 0.17.6, " + std::to_string(sys.scheduler().num_workers())
       + " workers (" + policy + ") vs 2 std::threads; median of "
       + std::to_string(rounds) + " alternating rounds");
  compare(sys, "uint64", 1'000'000, uint64_t{0}, rounds);
  auto ev = nw::container_event{nw::event_kind::added, 0, 0,
                                sample_container(7, 100), ""};
  compare(sys, "container_event", 100'000, ev, rounds);
  return 0;
}
