// What the benchmarks that run real containers share: an in-process agent
// graph on the real kernel with a recording subscriber, and what that
// subscriber saw of each container.
//
//   agent a{{policy, probe_delay}};        // a fresh actor system + graph
//   ... start containers ...
//   auto s = a.seen->wait_added(id, deadline);       // or wait_added_named
//   if (s && s->held && s->comm == "runc:[2:INIT]") ...
//   a.seen->wait_removed(id, deadline);
//
// With a probe delay the subscriber acks an `added` only after that delay,
// reading /proc/PID/comm just before the ack: a held start still shows the
// runtime's init then, an unheld one its entrypoint. ~agent ends the graph
// and waits for every actor (~actor_system), so no mark or BPF link
// survives it.
//
// Needs root at run time (fanotify, BPF); header-only.
#pragma once

#include <sys/resource.h>
#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bench/harness.hpp"
#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace nw::bench {

// -- what the subscriber saw --------------------------------------------------

/// What the subscriber saw of one container's `added` (and `removed`).
struct sighting {
  /// When `added` was recorded: on arrival, or at the ack after the probe
  /// delay.
  clock_type::time_point added_at{};
  /// /proc/PID/comm read on `added`, before the ack ("" if not probed).
  std::string comm;
  bool held = false;
  uint32_t pid = 0;
  std::string name;
  std::optional<clock_type::time_point> removed_at;
};

/// Every container's sighting, by id (and by name), for the driver's
/// threads to wait on.
class sightings {
public:
  void added(const container_info& info, std::string comm) {
    std::lock_guard<std::mutex> guard{mx_};
    auto& s = by_id_[info.id];
    s.added_at = clock_type::now();
    s.comm = std::move(comm);
    s.held = info.held;
    s.pid = info.pid;
    s.name = info.name;
    id_by_name_[info.name] = info.id;
    cv_.notify_all();
  }

  void removed(const std::string& id) {
    std::lock_guard<std::mutex> guard{mx_};
    by_id_[id].removed_at = clock_type::now();
    cv_.notify_all();
  }

  /// The sighting of `id` once it was added (nullopt at the deadline).
  std::optional<sighting> wait_added(const std::string& id,
                                     clock_type::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    std::optional<sighting> out;
    cv_.wait_until(lock, deadline, [&] {
      auto i = by_id_.find(id);
      if (i == by_id_.end() || i->second.pid == 0)
        return false;
      out = i->second;
      return true;
    });
    return out;
  }

  /// The sighting of the container named `name` once it was added (nullopt
  /// at the deadline): for managers whose ids the driver does not learn
  /// (`podman run` in the foreground).
  std::optional<sighting> wait_added_named(const std::string& name,
                                           clock_type::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    std::optional<sighting> out;
    cv_.wait_until(lock, deadline, [&] {
      auto n = id_by_name_.find(name);
      if (n == id_by_name_.end())
        return false;
      out = by_id_[n->second];
      return true;
    });
    return out;
  }

  /// When `id` was removed (nullopt at the deadline).
  std::optional<clock_type::time_point>
  wait_removed(const std::string& id, clock_type::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    std::optional<clock_type::time_point> out;
    cv_.wait_until(lock, deadline, [&] {
      auto i = by_id_.find(id);
      if (i == by_id_.end() || !i->second.removed_at)
        return false;
      out = i->second.removed_at;
      return true;
    });
    return out;
  }

  /// How many of `ids` were removed, waiting until all are or `deadline`.
  size_t wait_removed(const std::vector<std::string>& ids,
                      clock_type::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    size_t n = 0;
    cv_.wait_until(lock, deadline, [&] {
      n = 0;
      for (auto& id : ids)
        if (auto i = by_id_.find(id); i != by_id_.end() && i->second.removed_at)
          ++n;
      return n == ids.size();
    });
    return n;
  }

  /// How many containers were added.
  size_t added_count() {
    std::lock_guard<std::mutex> guard{mx_};
    return id_by_name_.size();
  }

  /// The id of the container named `name` ("" if none was added).
  std::string id_of(const std::string& name) {
    std::lock_guard<std::mutex> guard{mx_};
    auto n = id_by_name_.find(name);
    return n == id_by_name_.end() ? std::string{} : n->second;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::unordered_map<std::string, sighting> by_id_;
  std::unordered_map<std::string, std::string> id_by_name_;
};

// -- the recording subscriber -------------------------------------------------

using probe_atom = caf::atom_constant<caf::atom("nwb_probe")>;

/// The recorder: a subscriber plus its own timer message.
using recorder_actor
  = subscriber_actor::extend<caf::reacts_to<probe_atom, uint64_t>>;

struct recorder_state {
  /// `added` events waiting for their ack, by seq.
  std::map<uint64_t,
           std::pair<container_event, caf::typed_response_promise<ack_atom>>>
    pending;
};

/// Records `added` and `removed`. With a `probe_delay` > 0 it acks an
/// `added` only after that delay, reading /proc/PID/comm just before the
/// ack: far longer than a runtime's `start` takes to run the entrypoint,
/// so a start that was not held shows the entrypoint's comm.
inline recorder_actor::behavior_type
recorder(recorder_actor::stateful_pointer<recorder_state> self,
         std::shared_ptr<sightings> seen, caf::timespan probe_delay) {
  return {
    [=](event_atom, const container_event& ev) -> caf::result<ack_atom> {
      if (ev.kind == event_kind::removed)
        seen->removed(ev.info->id);
      if (ev.kind != event_kind::added)
        return ack_atom::value;
      if (probe_delay.count() == 0) {
        seen->added(*ev.info, {});
        return ack_atom::value;
      }
      auto promise = self->make_response_promise<ack_atom>();
      self->state.pending.emplace(ev.seq, std::make_pair(ev, promise));
      self->delayed_send(self, probe_delay, probe_atom::value, ev.seq);
      return promise;
    },
    [=](probe_atom, uint64_t seq) {
      auto i = self->state.pending.find(seq);
      if (i == self->state.pending.end())
        return;
      auto& [ev, promise] = i->second;
      seen->added(*ev.info,
                  test::probe_process(static_cast<pid_t>(ev.info->pid)).comm);
      promise.deliver(ack_atom::value);
      self->state.pending.erase(i);
    },
  };
}

// -- an agent -----------------------------------------------------------------

/// How to set up an agent.
struct agent_options {
  /// CAF's scheduler policy (`sharing`, the agent's, or `stealing`).
  std::string policy = "sharing";
  /// The subscriber's delay before it probes and acks an `added` (0: acks
  /// at once, no probe).
  caf::timespan probe_delay{0};
  /// The edge's pidfds for exits (false: the /proc poller alone).
  bool use_pidfd = true;
  std::chrono::milliseconds poll_interval{1000};
};

/// An actor system with the agent graph on the real kernel and a recorder.
/// The destructor ends both and waits for every actor (~actor_system).
class agent {
public:
  explicit agent(const agent_options& opts) : sys_(init(cfg_, opts.policy)) {
    using namespace std::chrono_literals;
    graph_options g_opts;
    g_opts.real_kernel = true;
    g_opts.edge.use_pidfd = opts.use_pidfd;
    g_opts.poll_interval = opts.poll_interval;
    auto g = spawn_graph(sys_, g_opts);
    if (!g)
      fail("the agent graph did not start: " + render(g.error()));
    g_ = *g;
    sub_ = caf::actor_cast<subscriber_actor>(
      sys_.spawn(recorder, seen, opts.probe_delay));
    caf::scoped_actor self{sys_};
    self->request(g_.registry, 10s, subscribe_atom::value, selector{}, sub_)
      .receive([](const std::vector<container_event>&) {},
               [](caf::error& err) { fail("subscribe: " + render(err)); });
    g_.play();
  }

  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  ~agent() {
    caf::anon_send_exit(sub_, caf::exit_reason::user_shutdown);
    g_.shutdown();
  }

  /// The edge's counters (empty if it does not answer within 5 s).
  counters edge_counters() {
    using namespace std::chrono_literals;
    counters result;
    caf::scoped_actor self{sys_};
    self->request(g_.edge, 5s, get_atom::value, counters_atom::value)
      .receive([&](counters& xs) { result = std::move(xs); },
               [](caf::error&) {});
    return result;
  }

  std::shared_ptr<sightings> seen = std::make_shared<sightings>();

private:
  static caf::actor_system_config& init(caf::actor_system_config& cfg,
                                        const std::string& policy) {
    configure(cfg, policy);
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    return cfg;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  graph g_;
  subscriber_actor sub_;
};

/// The edge counters (`edge_*`) that moved between `before` and `after`,
/// per container: ` NAME X.XX` each, or ` none`.
inline std::string edge_counters_per(const counters& before,
                                     const counters& after, size_t containers) {
  std::string out;
  for (auto& [name, value] : after) {
    auto i = before.find(name);
    auto was = i != before.end() ? i->second : 0;
    if (value == was || name.rfind("edge_", 0) != 0)
      continue;
    out += " " + name.substr(5) + " "
           + printf_string("%.2f", static_cast<double>(value - was)
                                     / static_cast<double>(containers));
  }
  return out.empty() ? std::string{" none"} : out;
}

// -- small helpers ------------------------------------------------------------

/// User + system CPU time of `who` (RUSAGE_SELF or RUSAGE_CHILDREN), in ns.
inline double cpu_ns(int who) {
  rusage ru{};
  ::getrusage(who, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e9
           + static_cast<double>(tv.tv_usec) * 1e3;
  };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

/// `--name N` from the command line if a positive number, else `fallback`.
inline size_t positive_arg(int argc, char** argv, const char* name,
                           size_t fallback) {
  auto n = std::strtoul(option_arg(argc, argv, name, "").c_str(), nullptr, 10);
  return n > 0 ? static_cast<size_t>(n) : fallback;
}

} // namespace nw::bench
