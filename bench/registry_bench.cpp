// The registry at 10,000 containers with 50 subscribers that ack at once:
// list (everything, one namespace), add + synchronous fan-out, remove —
// beside the floor, a bare CAF request/ack round from one actor to 50 others
// carrying the same event, measured in the same rounds. Operations are timed
// from a blocking caller until its reply is in hand, as a detector would see
// it: first each alone after a short pause (stray acks drain, workers go
// idle), then back to back (workers still polling).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/registry/registry.hpp"
#include "bench/harness.hpp"
#include "messages/errors.hpp"

namespace nw::bench {

namespace {

using go_atom = caf::atom_constant<caf::atom("nwb_go")>;
using deadline_atom = caf::atom_constant<caf::atom("nwb_dl")>;

constexpr uint64_t containers = 10'000;
constexpr uint64_t namespaces = 100;
constexpr size_t subscriber_count = 50;
/// Far above any measured round: nothing is ever late, so the registry's
/// fan-out always waits for all 50 acks.
constexpr auto fanout_deadline = std::chrono::seconds{10};
/// Lets the acks of a `removed` fan-out (which nobody waits for) drain before
/// the next measured operation.
constexpr auto settle = std::chrono::milliseconds{1};

constexpr double list_target_ns = 5e6;
constexpr double add_target_ns = 150e3;

/// A subscriber that has nothing to do before acknowledging.
subscriber_actor::behavior_type ack_subscriber() {
  return {
    [](event_atom, const container_event&) { return ack_atom::value; },
  };
}

/// How a floor round bounds its wait for acks.
enum class deadline_mode {
  /// A timeout on each of the 50 requests, as the registry does.
  per_request,
  /// Requests without timeout plus one delayed message to self per round:
  /// one timer entry instead of 50.
  per_round,
  /// No bound at all: the bare cost of the messages.
  none,
};

/// The floor: on `go`, requests `ev` from every target and answers once all
/// acked, bounding the wait as `mode` says (`deadline` long).
caf::behavior fan(caf::event_based_actor* self,
                  std::vector<subscriber_actor> targets, container_event ev,
                  deadline_mode mode, caf::timespan deadline) {
  struct round {
    caf::typed_response_promise<uint32_t> promise;
    uint32_t acked = 0;
    size_t pending = 0;
  };
  auto timeout = mode == deadline_mode::per_request
                   ? caf::duration{deadline}
                   : caf::duration{caf::infinite};
  return {
    [=](go_atom) -> caf::result<uint32_t> {
      auto r = std::make_shared<round>();
      r->promise = self->make_response_promise<uint32_t>();
      r->pending = targets.size();
      if (mode == deadline_mode::per_round)
        self->delayed_send(self, deadline, deadline_atom::value);
      for (auto& t : targets)
        self->request(t, timeout, event_atom::value, ev)
          .then(
            [r](ack_atom) {
              ++r->acked;
              if (--r->pending == 0)
                r->promise.deliver(r->acked);
            },
            [r](caf::error&) {
              if (--r->pending == 0)
                r->promise.deliver(r->acked);
            });
      return r->promise;
    },
    // Every round finishes long before its deadline: nothing to settle.
    [](deadline_atom) {},
  };
}

[[noreturn]] void fail_with(const std::string& what, const caf::error& err) {
  fail(what + ": " + render(err));
}

class fixture {
public:
  explicit fixture(caf::actor_system& sys) : sys_(sys), self_(sys) {
    registry_config cfg;
    cfg.fanout_deadline = fanout_deadline;
    registry_ = spawn_registry(sys, cfg);
  }

  ~fixture() {
    caf::anon_send_exit(registry_, caf::exit_reason::user_shutdown);
    for (auto& a : fans_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& s : subscribers_)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    for (auto& s : targets_)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  /// Adds `containers` containers, then subscribes `subscriber_count`
  /// subscribers to everything (in that order: subscribing first would fan
  /// out 10,000 times for nothing), and spawns the floor's actors.
  /// Returns the time of each subscribe, snapshot included.
  samples populate() {
    samples subscribe_ns;
    // Fire and forget (the replies go nowhere), then one round trip: the
    // registry handles its mailbox in order, so all adds are in after it.
    for (uint64_t i = 0; i < containers; ++i)
      caf::anon_send(registry_, add_atom::value,
                     sample_container(i, namespaces));
    self_
      ->request(registry_, caf::infinite, get_atom::value, counters_atom::value)
      .receive(
        [&](const counters& xs) {
          if (xs.at("registry_added") != containers)
            fail("the registry did not take every container");
        },
        [&](caf::error& err) { fail_with("counters", err); });
    for (size_t i = 0; i < subscriber_count; ++i) {
      auto sub = sys_.spawn(ack_subscriber);
      auto t0 = clock_type::now();
      self_
        ->request(registry_, caf::infinite, subscribe_atom::value, selector{},
                  sub)
        .receive(
          [&](const std::vector<container_event>& snapshot) {
            subscribe_ns.add(ns_between(t0, clock_type::now()));
            if (snapshot.size() != containers)
              fail("subscribe returned a short snapshot");
          },
          [&](caf::error& err) { fail_with("subscribe", err); });
      subscribers_.push_back(std::move(sub));
    }
    for (size_t i = 0; i < subscriber_count; ++i)
      targets_.push_back(sys_.spawn(ack_subscriber));
    auto ev = container_event{event_kind::added, 1, 0,
                              sample_container(containers * 2, namespaces), ""};
    for (auto mode : {deadline_mode::per_request, deadline_mode::per_round,
                      deadline_mode::none})
      fans_.push_back(
        sys_.spawn(fan, targets_, ev, mode, caf::timespan{fanout_deadline}));
    return subscribe_ns;
  }

  /// Nanoseconds until the listing for `sel` is in hand; `expected` entries.
  double list(const selector& sel, size_t expected) {
    double ns = 0;
    auto t0 = clock_type::now();
    self_->request(registry_, caf::infinite, list_atom::value, sel)
      .receive(
        [&](const std::vector<container_event>& xs) {
          ns = ns_between(t0, clock_type::now());
          if (xs.size() != expected)
            fail("list returned " + std::to_string(xs.size()) + " entries");
        },
        [&](caf::error& err) { fail_with("list", err); });
    return ns;
  }

  /// Nanoseconds until the add of `c` is acknowledged by every subscriber.
  double add(container_info c) {
    double ns = 0;
    auto t0 = clock_type::now();
    self_->request(registry_, caf::infinite, add_atom::value, std::move(c))
      .receive(
        [&](const add_result& r) {
          ns = ns_between(t0, clock_type::now());
          if (r.duplicate || r.late != 0
              || r.acked != static_cast<uint32_t>(subscribers_.size()))
            fail("add was not acknowledged by every subscriber");
        },
        [&](caf::error& err) { fail_with("add", err); });
    return ns;
  }

  /// Nanoseconds until the remove of `id` is answered.
  double remove(const std::string& id) {
    double ns = 0;
    auto t0 = clock_type::now();
    self_->request(registry_, caf::infinite, remove_atom::value, id)
      .receive(
        [&](bool found) {
          ns = ns_between(t0, clock_type::now());
          if (!found)
            fail("remove did not find " + id);
        },
        [&](caf::error& err) { fail_with("remove", err); });
    return ns;
  }

  /// Nanoseconds for one request/ack round from a fan actor to its 50
  /// targets.
  double fan_round(deadline_mode mode) {
    auto which = static_cast<size_t>(mode);
    double ns = 0;
    auto t0 = clock_type::now();
    self_->request(fans_[which], caf::infinite, go_atom::value)
      .receive(
        [&](uint32_t acked) {
          ns = ns_between(t0, clock_type::now());
          if (acked != targets_.size())
            fail("the floor round lost acks");
        },
        [&](caf::error& err) { fail_with("floor", err); });
    return ns;
  }

private:
  caf::actor_system& sys_;
  caf::scoped_actor self_;
  registry_actor registry_;
  std::vector<subscriber_actor> subscribers_;
  std::vector<subscriber_actor> targets_;
  std::vector<caf::actor> fans_;
};

/// Nanoseconds to copy `xs` element by element into a new vector, as the
/// registry builds a listing: the part of `list` no messaging can avoid.
double copy_round(const std::vector<container_event>& xs) {
  auto t0 = clock_type::now();
  std::vector<container_event> out;
  for (auto& x : xs)
    out.push_back(x);
  auto ns = ns_between(t0, clock_type::now());
  if (out.size() != xs.size())
    fail("copy");
  return ns;
}

void run(caf::actor_system& sys, const std::string& policy, size_t list_rounds,
         size_t op_rounds) {
  fixture fx{sys};
  auto t0 = clock_type::now();
  auto subscribes = fx.populate();
  note("registry: " + std::to_string(containers) + " containers in "
       + std::to_string(namespaces) + " namespaces, "
       + std::to_string(subscriber_count)
       + " subscribers acking at once; set up in "
       + fmt_time(ns_between(t0, clock_type::now())) + "; "
       + std::to_string(sys.scheduler().num_workers()) + " workers (" + policy
       + ")");

  // -- list ------------------------------------------------------------------
  selector one_ns;
  std::string err;
  if (!parse_selector("namespace=ns-042", one_ns, err))
    fail("selector: " + err);
  auto per_ns = containers / namespaces;
  std::vector<container_event> events;
  for (uint64_t i = 0; i < containers; ++i)
    events.push_back(container_event{event_kind::added, i + 1, 0,
                                     sample_container(i, namespaces), ""});
  samples list_all;
  samples list_ns;
  samples copies;
  for (size_t r = 0; r < list_rounds + 3; ++r) {
    auto all_ns = fx.list(selector{}, containers);
    auto ns_ns = fx.list(one_ns, per_ns);
    auto copy_ns = copy_round(events);
    if (r >= 3) { // the first rounds warm the allocator
      list_all.add(all_ns);
      list_ns.add(ns_ns);
      copies.add(copy_ns);
    }
  }

  // -- add + fan-out, the floors, remove: each alone -------------------------
  // Four measured operations per round, their order rotating so that none
  // always runs first; the remove undoes the round's add.
  constexpr size_t warmup = 20;
  constexpr deadline_mode modes[] = {
    deadline_mode::per_request, deadline_mode::per_round, deadline_mode::none};
  samples adds;
  samples floors[3];
  samples removes;
  auto pause = [] { std::this_thread::sleep_for(settle); };
  for (size_t r = 0; r < op_rounds + warmup; ++r) {
    auto c = sample_container(containers + r, namespaces);
    auto id = c.id;
    double took[4];
    for (size_t k = 0; k < 4; ++k) {
      auto op = (r + k) % 4;
      took[op] = op == 3 ? fx.add(c) : fx.fan_round(modes[op]);
      pause();
    }
    auto rm = fx.remove(id);
    pause();
    if (r >= warmup) {
      for (size_t m = 0; m < 3; ++m)
        floors[m].add(took[m]);
      adds.add(took[3]);
      removes.add(rm);
    }
  }

  // -- the same, back to back ------------------------------------------------
  // After a pause the operation finds CAF's workers idle (sleeping between
  // polls, or on their condition variable); right after another it finds
  // them polling.
  samples adds_warm;
  samples floors_warm;
  constexpr size_t burst = 20;
  for (size_t b = 0; b < (op_rounds + burst - 1) / burst; ++b) {
    std::vector<std::string> ids;
    for (size_t k = 0; k < burst; ++k) {
      auto c = sample_container(containers * 3 + b * burst + k, namespaces);
      ids.push_back(c.id);
      auto a = fx.add(std::move(c));
      if (k > 0) // the first one found the workers idle
        adds_warm.add(a);
    }
    for (size_t k = 0; k < burst; ++k) {
      auto f = fx.fan_round(deadline_mode::per_round);
      if (k > 0)
        floors_warm.add(f);
    }
    for (auto& id : ids)
      fx.remove(id);
    pause();
  }

  auto target = [](double ns) { return "< " + fmt_time(ns); };
  auto subs = std::to_string(subscriber_count);
  time_row("registry",
           "list all (" + std::to_string(containers) + " of "
             + std::to_string(containers) + ")",
           list_all, target(list_target_ns),
           verdict(list_all.median(), list_target_ns));
  time_row("registry",
           "floor: copy " + std::to_string(containers)
             + " container_events (1 thread)",
           copies);
  row("registry", "ratio list all / copy floor",
      fmt_ratio(list_all.median() / copies.median()), "-", list_all.size());
  time_row("registry",
           "list namespace=ns-042 (" + std::to_string(per_ns) + " of "
             + std::to_string(containers) + ")",
           list_ns, target(list_target_ns),
           verdict(list_ns.median(), list_target_ns));
  time_row("registry", "add + fan-out to " + subs + " subscribers", adds,
           target(add_target_ns), verdict(adds.median(), add_target_ns));
  // The registry sets one deadline per fan-out, so that floor is its peer.
  time_row("registry",
           "floor: request/ack to " + subs + " actors, one deadline per round",
           floors[1]);
  row("registry", "ratio add+fan-out / floor (one deadline per round)",
      fmt_ratio(adds.median() / floors[1].median()), "-", adds.size());
  time_row("registry",
           "floor: request/ack to " + subs + " actors, timeout per request",
           floors[0]);
  time_row("registry", "floor: request/ack to " + subs + " actors, no timeout",
           floors[2]);
  time_row("registry",
           "add + fan-out to " + subs + " subscribers, back to back", adds_warm,
           target(add_target_ns), verdict(adds_warm.median(), add_target_ns));
  time_row("registry", "floor (one deadline per round), back to back",
           floors_warm);
  row("registry", "ratio add+fan-out / floor, back to back",
      fmt_ratio(adds_warm.median() / floors_warm.median()), "-",
      adds_warm.size());
  time_row("registry", "remove (publishes to " + subs + ", no ack wait)",
           removes);
  time_row("registry",
           "subscribe (snapshot of " + std::to_string(containers) + ")",
           subscribes);
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  auto rounds = rounds_arg(argc, argv, 300);
  auto policy = policy_arg(argc, argv);
  caf::actor_system_config cfg;
  configure(cfg, policy);
  caf::actor_system sys{cfg};
  run(sys, policy, std::max<size_t>(rounds / 10, 15), rounds);
  return 0;
}
