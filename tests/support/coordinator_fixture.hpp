// A Boost.Test fixture over CAF's deterministic scheduler (test_coordinator):
// one message at a time, virtual time, no threads. caf/test/dsl.hpp cannot be
// used here: under Boost.Test it dereferences a null engine and its failures
// call abort() (see ../shared/CAF-0.17.md, "Deterministic tests").
//
// Include after <boost/test/unit_test.hpp> with BOOST_TEST_MODULE defined:
//
//   #define BOOST_TEST_MODULE registry
//   #include <boost/test/unit_test.hpp>
//   #include "tests/support/coordinator_fixture.hpp"
//
//   BOOST_FIXTURE_TEST_CASE(x, nw::test::coordinator_fixture) {
//     auto reg = track(spawn_registry(sys, {}));
//     auto r = request<add_result>(reg, add_atom::value, info); // not yet sent
//     run();                                                    // now answered
//     BOOST_REQUIRE(r->received());
//   }
//
// Every actor a test spawns must be `track()`ed (the helpers here do it for
// their own): the destructor sends each an exit and runs, because
// ~actor_system() blocks until every actor has quit.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/selector.hpp"
#include "messages/type_ids.hpp"

namespace nw::test {

// -- printing -----------------------------------------------------------------

namespace detail {

template <class T>
struct is_vector : std::false_type {};

template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_map : std::false_type {};

template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};

template <class T>
void print_value(std::ostream& os, const T& x);

template <class Tuple, size_t... Is>
void print_fields(std::ostream& os, const Tuple& fs,
                  std::index_sequence<Is...>) {
  ((os << (Is == 0 ? "" : ", ") << std::get<Is>(fs).name << '=',
    print_value(os, std::get<Is>(fs).ref)),
   ...);
}

/// One line per value, fields by name: enough to see which one differs.
template <class T>
void print_value(std::ostream& os, const T& x) {
  if constexpr (std::is_same_v<T, std::string>) {
    os << std::quoted(x);
  } else if constexpr (std::is_same_v<T, bool>) {
    os << (x ? "true" : "false");
  } else if constexpr (std::is_same_v<T, event_kind>) {
    os << to_string(x);
  } else if constexpr (std::is_enum_v<T>) {
    os << +static_cast<std::underlying_type_t<T>>(x);
  } else if constexpr (std::is_arithmetic_v<T>) {
    os << +x;
  } else if constexpr (has_fields_v<T>) {
    auto fs = fields(const_cast<T&>(x));
    os << '{';
    print_fields(os, fs,
                 std::make_index_sequence<std::tuple_size_v<decltype(fs)>>{});
    os << '}';
  } else if constexpr (is_vector<T>::value) {
    os << '[';
    for (size_t i = 0; i < x.size(); ++i) {
      if (i != 0)
        os << ", ";
      print_value(os, x[i]);
    }
    os << ']';
  } else if constexpr (is_map<T>::value) {
    os << '{';
    bool first = true;
    for (auto& [k, v] : x) {
      if (!first)
        os << ", ";
      first = false;
      print_value(os, k);
      os << ": ";
      print_value(os, v);
    }
    os << '}';
  } else {
    os << "<value>";
  }
}

} // namespace detail

} // namespace nw::test

namespace nw {

// Lets BOOST_TEST(a == b) print the vocabulary (found by ADL). One plain
// function per type: a template would be as good a match as Boost's own
// catch-all template, hence ambiguous.
#define NW_TEST_PRINTABLE(type)                                                \
  inline std::ostream& boost_test_print_type(std::ostream& os,                 \
                                             const type& x) {                  \
    test::detail::print_value(os, x);                                          \
    return os;                                                                 \
  }                                                                            \
  inline std::ostream& boost_test_print_type(std::ostream& os,                 \
                                             const std::vector<type>& x) {     \
    test::detail::print_value(os, x);                                          \
    return os;                                                                 \
  }

NW_TEST_PRINTABLE(k8s_meta)
NW_TEST_PRINTABLE(container_info)
NW_TEST_PRINTABLE(container_event)
NW_TEST_PRINTABLE(shared_info)
NW_TEST_PRINTABLE(add_result)
NW_TEST_PRINTABLE(selector_clause)
NW_TEST_PRINTABLE(selector)
NW_TEST_PRINTABLE(runtime_exec)
NW_TEST_PRINTABLE(pidfile_read)
NW_TEST_PRINTABLE(process_exited)

#undef NW_TEST_PRINTABLE

inline std::ostream& boost_test_print_type(std::ostream& os, event_kind x) {
  return os << to_string(x);
}

inline std::ostream& boost_test_print_type(std::ostream& os, errc x) {
  return os << to_string(x);
}

} // namespace nw

namespace caf {

/// Lets BOOST_TEST print CAF errors, ours and CAF's (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, const error& x) {
  return os << nw::render(x);
}

} // namespace caf

namespace nw::test {

/// The nodewatch code of `err` (errc::none for other categories).
inline errc code_of(const caf::error& err) {
  if (!err || err.category() != error_category)
    return errc::none;
  return static_cast<errc>(err.code());
}

/// Parses a selector the test knows to be valid.
inline selector sel(const std::string& text) {
  selector result;
  std::string error;
  BOOST_REQUIRE_MESSAGE(parse_selector(text, result, error), error);
  return result;
}

} // namespace nw::test

namespace nw::test {

// -- configuration ------------------------------------------------------------

/// An actor system config on the deterministic scheduler, with nodewatch's
/// message types registered.
inline caf::actor_system_config&
init_test_config(caf::actor_system_config& cfg,
                 const std::function<void(caf::actor_system_config&)>& more) {
  // Typed atom: a string value here is silently ignored.
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.add_message_types<caf::id_block::nodewatch>();
  if (more)
    more(cfg);
  return cfg;
}

// -- replies ------------------------------------------------------------------

/// The answer to one request made by the test: values or an error, and the
/// virtual time it arrived at.
template <class... Ts>
struct reply {
  std::optional<std::tuple<Ts...>> values;
  caf::error err;
  caf::actor_clock::time_point at;

  /// A value or an error arrived.
  bool received() const {
    return values.has_value() || static_cast<bool>(err);
  }

  /// A value arrived.
  bool ok() const {
    return values.has_value();
  }

  /// The single value of a one-value reply; fails the test without one.
  const auto& value() const {
    static_assert(sizeof...(Ts) == 1, "use get<I>() for several values");
    BOOST_REQUIRE_MESSAGE(values.has_value(),
                          "no value: " << (err ? render(err) : "no reply"));
    return std::get<0>(*values);
  }

  /// The I-th value; fails the test without a value.
  template <size_t I>
  const auto& get() const {
    BOOST_REQUIRE_MESSAGE(values.has_value(),
                          "no value: " << (err ? render(err) : "no reply"));
    return std::get<I>(*values);
  }
};

// -- stand-in subscriber ------------------------------------------------------

/// Releases the acks a stand-in subscriber holds in `ack_mode::later`.
using release_atom = caf::atom_constant<caf::atom("t_release")>;

/// How a stand-in subscriber answers events.
enum class ack_mode {
  /// Acks each event at once.
  now,
  /// Never acks (keeps the promises, so nothing is answered on its behalf).
  stall,
  /// Holds acks until it receives `release_atom`.
  later,
};

/// The stand-in's full interface: a subscriber plus test commands.
using stand_in_subscriber_actor
  = subscriber_actor::extend<caf::reacts_to<release_atom>>;

/// Runs inside the stand-in, in its context, for each event it receives
/// (e.g. to make a request to the registry while handling `removed`).
using subscriber_hook = std::function<void(stand_in_subscriber_actor::pointer,
                                           const container_event&)>;

/// What a stand-in subscriber saw and did; shared with the test.
struct subscriber_record {
  /// Read at each event: the test may change it between runs.
  ack_mode mode = ack_mode::now;
  subscriber_hook on_event;
  std::vector<container_event> events;
  /// The virtual time at which each event arrived.
  std::vector<caf::actor_clock::time_point> arrivals;
  /// Acks sent so far.
  size_t acked = 0;
  std::vector<caf::typed_response_promise<ack_atom>> held;
  std::vector<caf::typed_response_promise<ack_atom>> stalled;

  /// The events of one kind, in arrival order.
  std::vector<container_event> of_kind(event_kind kind) const {
    std::vector<container_event> result;
    for (auto& ev : events)
      if (ev.kind == kind)
        result.push_back(ev);
    return result;
  }

  /// The container ids of all events, in arrival order.
  std::vector<std::string> ids() const {
    std::vector<std::string> result;
    for (auto& ev : events)
      result.push_back(ev.info->id);
    return result;
  }
};

/// A stand-in subscriber: its handle and its record.
struct stand_in_subscriber {
  stand_in_subscriber_actor handle;
  std::shared_ptr<subscriber_record> record;

  /// The handle as the registry sees it.
  subscriber_actor as_subscriber() const {
    return handle;
  }

  subscriber_record* operator->() const {
    return record.get();
  }
};

inline stand_in_subscriber_actor::behavior_type
stand_in_subscriber_impl(stand_in_subscriber_actor::pointer self,
                         std::shared_ptr<subscriber_record> rec) {
  return {
    [self, rec](event_atom,
                const container_event& ev) -> caf::result<ack_atom> {
      rec->events.push_back(ev);
      rec->arrivals.push_back(self->clock().now());
      if (rec->on_event)
        rec->on_event(self, ev);
      switch (rec->mode) {
        case ack_mode::now:
          break;
        case ack_mode::stall:
          rec->stalled.push_back(self->make_response_promise<ack_atom>());
          return rec->stalled.back();
        case ack_mode::later:
          rec->held.push_back(self->make_response_promise<ack_atom>());
          return rec->held.back();
      }
      ++rec->acked;
      return ack_atom::value;
    },
    [rec](release_atom) {
      auto held = std::move(rec->held);
      rec->held.clear();
      for (auto& promise : held) {
        promise.deliver(ack_atom::value);
        ++rec->acked;
      }
    },
  };
}

// -- stand-in event sink ------------------------------------------------------

/// What a stand-in event sink received.
struct sink_record {
  std::vector<container_event> events;
};

inline event_sink_actor::behavior_type
stand_in_sink_impl(event_sink_actor::pointer,
                   std::shared_ptr<sink_record> rec) {
  return {
    [rec](event_atom, const container_event& ev) { rec->events.push_back(ev); },
  };
}

// -- the fixture --------------------------------------------------------------

/// An actor system on the deterministic test coordinator, plus helpers that
/// report through Boost.Test.
class coordinator_fixture {
public:
  using clock_type = caf::actor_clock::clock_type;
  using time_point = caf::actor_clock::time_point;

  /// `more` may adjust the config further (load modules, set options).
  explicit coordinator_fixture(
    const std::function<void(caf::actor_system_config&)>& more = {})
      : sys(init_test_config(cfg, more)),
        sched(
          dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // Virtual time starts at the epoch; keep "0" free to mean "never".
    sched.clock().current_time += std::chrono::hours(1);
  }

  coordinator_fixture(const coordinator_fixture&) = delete;
  coordinator_fixture& operator=(const coordinator_fixture&) = delete;

  virtual ~coordinator_fixture() {
    shutdown();
  }

  // -- running ----------------------------------------------------------------

  /// Runs every ready job until none is left (does not advance time).
  size_t run() {
    return sched.run();
  }

  /// Runs ready jobs in an order drawn from `rng` instead of FIFO (each
  /// actor still sees its own mailbox in order): explores interleavings,
  /// reproducibly for a given seed.
  size_t run_shuffled(std::mt19937_64& rng) {
    size_t n = 0;
    while (sched.has_job()) {
      auto i = static_cast<std::ptrdiff_t>(rng() % sched.jobs.size());
      auto b = sched.jobs.begin();
      std::rotate(b, b + i, b + i + 1);
      sched.run_once();
      ++n;
    }
    return n;
  }

  /// Advances virtual time by `d`, firing every timeout and delayed message
  /// due on the way in time order (running all jobs after each), so a timer
  /// that re-arms itself fires as often as it would in real time.
  size_t advance(caf::timespan d) {
    auto& clk = sched.clock();
    auto target = clk.now() + d;
    size_t fired = 0;
    run();
    for (;;) {
      auto& pending = clk.schedule();
      if (pending.empty() || pending.begin()->first > target)
        break;
      auto due = pending.begin()->first;
      fired += clk.advance_time(due > clk.now() ? due - clk.now()
                                                : caf::timespan{0});
      run();
    }
    if (target > clk.now())
      clk.advance_time(target - clk.now());
    run();
    return fired;
  }

  /// The current virtual time.
  time_point now() const {
    return sched.clock().now();
  }

  // -- actors -----------------------------------------------------------------

  /// Remembers `h` so that the fixture ends it; returns `h`.
  template <class Handle>
  Handle track(Handle h) {
    spawned_.push_back(caf::actor_cast<caf::actor>(h));
    return h;
  }

  /// Sends an exit to `h` and runs, so that it is gone afterwards.
  template <class Handle>
  void kill(const Handle& h,
            caf::exit_reason reason = caf::exit_reason::user_shutdown) {
    caf::anon_send_exit(h, reason);
    run();
  }

  /// Sends a message without expecting an answer; does not run.
  template <class Handle, class... Ts>
  void send(const Handle& h, Ts&&... xs) {
    caf::anon_send(h, std::forward<Ts>(xs)...);
  }

  /// Makes a request from a fresh probe actor; nothing is sent until the
  /// test runs. `Ts` are the expected reply types. The probe waits without
  /// a timeout: tests control time themselves.
  template <class... Ts, class Handle, class... Args>
  std::shared_ptr<reply<Ts...>> request(const Handle& dest, Args... args) {
    auto slot = std::make_shared<reply<Ts...>>();
    auto probe = sys.spawn([slot, dest, args...](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, args...)
        .then(
          [slot, self](Ts&... xs) {
            slot->at = self->clock().now();
            slot->values.emplace(std::move(xs)...);
          },
          [slot, self](caf::error& err) {
            slot->at = self->clock().now();
            slot->err = std::move(err);
          });
    });
    track(probe);
    return slot;
  }

  /// request() + run(); fails the test unless a reply (value or error)
  /// arrived without advancing time.
  template <class... Ts, class Handle, class... Args>
  reply<Ts...> ask(const Handle& dest, Args... args) {
    auto slot = request<Ts...>(dest, std::move(args)...);
    run();
    BOOST_REQUIRE_MESSAGE(slot->received(), "no reply after run()");
    return *slot;
  }

  /// Spawns a stand-in subscriber that answers events as `mode` says.
  stand_in_subscriber spawn_subscriber(ack_mode mode = ack_mode::now,
                                       subscriber_hook on_event = {}) {
    auto rec = std::make_shared<subscriber_record>();
    rec->mode = mode;
    rec->on_event = std::move(on_event);
    auto h = track(sys.spawn(stand_in_subscriber_impl, rec));
    return {h, rec};
  }

  /// Lets a stand-in in `ack_mode::later` send the acks it holds; runs.
  void release(const stand_in_subscriber& sub) {
    caf::anon_send(sub.handle, release_atom::value);
    run();
  }

  /// Spawns a stand-in event sink; returns its handle and its record.
  std::pair<event_sink_actor, std::shared_ptr<sink_record>> spawn_sink() {
    auto rec = std::make_shared<sink_record>();
    auto h = track(sys.spawn(stand_in_sink_impl, rec));
    return {h, rec};
  }

  // -- teardown ---------------------------------------------------------------

  /// Ends every tracked actor and runs until they are gone. Called by the
  /// destructor; a test may call it earlier to check clean shutdown.
  void shutdown() {
    for (auto& h : spawned_)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    spawned_.clear();
    run();
    if (auto n = sys.registry().running(); n != 0) {
      // Better a failed test than a hang in ~actor_system().
      BOOST_ERROR(n << " actor(s) still running at teardown: track() them");
      sys.await_actors_before_shutdown(false);
    }
  }

  // -- member variables -------------------------------------------------------

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;

private:
  std::vector<caf::actor> spawned_;
};

} // namespace nw::test
