// The agent graph on the real kernel, in process, with a recording
// subscriber: what the manager detection tests (containerd, podman, crun)
// share, for containers started by a manager rather than driven step by
// step. runc_detection_test.cpp uses the same subscriber and event log with
// a fixture of its own (a fake runtime besides the real one).
//
// The proof of "added before the entrypoint": the subscriber, on `added`,
// reads /proc/PID/comm of the container's init on arrival and again
// `ack_delay` later, just before it acks. Both must still be the runtime's
// init (runc: `runc:[2:INIT]`, crun: `crun`) while the start is held.
//
//   nw::test::agent_harness agent{{}, [&] { return start_one(); }};
//   auto added = agent.log().wait(nw::event_kind::added, id, deadline);
//
// Every wait blocks with a deadline; no sleep stands in for synchronisation.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace nw::test {

/// The agent's backstop on every held event (CONTRACTS.md default).
inline constexpr auto harness_hold_deadline = std::chrono::milliseconds{2000};

/// The /proc termination poller's period here (1 s by default).
inline constexpr auto harness_poll_interval = std::chrono::milliseconds{100};

/// How long the subscriber waits before it acks an `added`: far longer than
/// a runtime's `start` takes to run the entrypoint (~4 ms here).
inline constexpr auto ack_delay = std::chrono::milliseconds{50};

inline double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

/// One event, with what /proc said when it arrived and when it was acked.
struct observed {
  nw::container_event ev;
  /// When the subscriber received it.
  runc_clock::time_point at;
  /// /proc/PID of the container's init on arrival (`added`, `removed`) ...
  proc_probe proc;
  /// ... and for `added` again `ack_delay` later, just before the ack.
  proc_probe proc_at_ack;

  /// For `removed`: whether the init of `start_time` had exited when the
  /// event arrived (its /proc entry gone, a zombie, or another process).
  bool init_gone(uint64_t start_time) const {
    return !proc.ok || proc.start_time != start_time || proc.state == 'Z'
           || proc.state == 'X';
  }
};

/// Every event the subscriber saw; tests wait on it with deadlines.
class event_log {
public:
  void push(observed o) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      events_.push_back(std::move(o));
    }
    cv_.notify_all();
  }

  /// The first event of `kind` for `id`, waiting until `deadline`.
  std::optional<observed> wait(nw::event_kind kind, const std::string& id,
                               runc_clock::time_point deadline) {
    return wait_for(
      [&](const observed& o) {
        return o.ev.kind == kind && o.ev.info->id == id;
      },
      deadline);
  }

  /// The first event that `match` accepts, waiting until `deadline`.
  std::optional<observed>
  wait_for(const std::function<bool(const observed&)>& match,
           runc_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    std::optional<observed> found;
    cv_.wait_until(lock, deadline, [&] {
      for (auto& o : events_)
        if (match(o)) {
          found = o;
          return true;
        }
      return false;
    });
    return found;
  }

  /// Every event for `id` so far.
  std::vector<observed> of(const std::string& id) {
    std::lock_guard<std::mutex> guard{mx_};
    std::vector<observed> result;
    for (auto& o : events_)
      if (o.ev.info->id == id)
        result.push_back(o);
    return result;
  }

  /// A line per event so far, for failure messages.
  std::string describe() {
    std::lock_guard<std::mutex> guard{mx_};
    std::string result;
    for (auto& o : events_)
      result += std::string{"\n  "} + nw::to_string(o.ev.kind) + " "
                + o.ev.info->id + " (" + o.ev.info->runtime + ", pid "
                + std::to_string(o.ev.info->pid) + ")"
                + (o.ev.reason.empty() ? "" : ": " + o.ev.reason);
    return result.empty() ? " none" : result;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::vector<observed> events_;
};

/// If NODEWATCH_RECORD_OCI names a directory, copies `config` (a running
/// container's config.json) there as `name`: how tests/data/oci/'s recorded
/// files are made (`NODEWATCH_RECORD_OCI=tests/data/oci ctest -R
/// 'containerd|podman'_detection).
inline void record_config(const std::filesystem::path& config,
                          const std::string& name) {
  auto dir = std::getenv("NODEWATCH_RECORD_OCI");
  if (dir == nullptr || *dir == '\0')
    return;
  std::error_code ec;
  std::filesystem::copy_file(config, std::filesystem::path{dir} / name,
                             std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec)
    throw std::runtime_error{"cannot record " + config.string() + " in " + dir
                             + ": " + ec.message()};
}

/// The annotations of a config.json ({} if it has none or cannot be read).
inline std::map<std::string, std::string>
config_annotations(const std::filesystem::path& config) {
  std::map<std::string, std::string> result;
  std::ifstream in{config};
  auto json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_object() && json.contains("annotations")
      && json["annotations"].is_object())
    for (auto& [k, v] : json["annotations"].items())
      if (v.is_string())
        result.emplace(k, v.get<std::string>());
  return result;
}

namespace harness_detail {

using probe_atom = caf::atom_constant<caf::atom("t_probe")>;

/// The subscriber: nw::subscriber_actor plus its own timer message.
using recorder_actor
  = nw::subscriber_actor::extend<caf::reacts_to<probe_atom, uint64_t>>;

struct recorder_state {
  /// `added` events waiting for their ack, by seq.
  std::map<uint64_t,
           std::pair<observed, caf::typed_response_promise<nw::ack_atom>>>
    pending;
};

inline recorder_actor::behavior_type
recorder(recorder_actor::stateful_pointer<recorder_state> self,
         std::shared_ptr<event_log> log) {
  return {
    [self, log](nw::event_atom,
                const nw::container_event& ev) -> caf::result<nw::ack_atom> {
      observed o;
      o.ev = ev;
      o.at = runc_clock::now();
      if (ev.kind != nw::event_kind::added || ev.info->pid == 0) {
        if (ev.kind == nw::event_kind::removed && ev.info->pid != 0)
          o.proc = probe_process(static_cast<pid_t>(ev.info->pid));
        log->push(std::move(o));
        return nw::ack_atom::value;
      }
      // Before the ack: the container's start is still held.
      o.proc = probe_process(static_cast<pid_t>(ev.info->pid));
      auto promise = self->make_response_promise<nw::ack_atom>();
      self->state.pending.emplace(ev.seq,
                                  std::make_pair(std::move(o), promise));
      self->delayed_send(self, ack_delay, probe_atom::value, ev.seq);
      return promise;
    },
    [self, log](probe_atom, uint64_t seq) {
      auto i = self->state.pending.find(seq);
      if (i == self->state.pending.end())
        return;
      auto& [o, promise] = i->second;
      o.proc_at_ack = probe_process(static_cast<pid_t>(o.ev.info->pid));
      log->push(o);
      promise.deliver(nw::ack_atom::value);
      self->state.pending.erase(i);
    },
  };
}

inline caf::actor_system_config& agent_config(caf::actor_system_config& cfg) {
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  nw::add_nodewatch_types(cfg);
  return cfg;
}

} // namespace harness_detail

/// The agent graph (real kernel) with the recorder subscribed and played.
class agent_harness {
public:
  /// Starts one container and returns its id (or "" when it could not).
  using starter = std::function<std::string()>;

  /// Spawns the graph watching `runtime_paths` besides the defaults, then
  /// runs `warm_up` containers until one is detected (the marks may be
  /// placed on the edge's loop thread after spawn_graph returned). Throws
  /// if the graph does not start or nothing is detected within 30 s.
  agent_harness(std::vector<std::string> runtime_paths, const starter& warm_up)
      : sys_(harness_detail::agent_config(cfg_)) {
    nw::graph_options opts;
    opts.real_kernel = true;
    opts.hold_deadline = harness_hold_deadline;
    opts.poll_interval = harness_poll_interval;
    opts.edge.runtime_paths = std::move(runtime_paths);
    auto spawned = nw::spawn_graph(sys_, opts);
    if (!spawned)
      throw std::runtime_error{"the agent graph did not start: "
                               + nw::render(spawned.error())};
    g_ = *spawned;
    sub_ = caf::actor_cast<nw::subscriber_actor>(
      sys_.spawn(harness_detail::recorder, events_));
    try {
      caf::scoped_actor self{sys_};
      std::string error;
      self
        ->request(g_.registry, std::chrono::seconds{10},
                  nw::subscribe_atom::value, nw::selector{}, sub_)
        .receive([](const std::vector<nw::container_event>&) {},
                 [&](caf::error& err) { error = nw::render(err); });
      if (!error.empty())
        throw std::runtime_error{"cannot subscribe: " + error};
      g_.play();
      if (warm_up)
        warm(warm_up);
    } catch (...) {
      // No destructor after a throwing constructor: stop the actors here,
      // or ~actor_system() would wait for them forever.
      stop();
      throw;
    }
  }

  agent_harness(const agent_harness&) = delete;
  agent_harness& operator=(const agent_harness&) = delete;

  ~agent_harness() {
    stop();
  }

  /// Every event so far.
  event_log& log() {
    return *events_;
  }

  /// How many warm-up containers it took.
  int warm_ups() const {
    return warm_ups_;
  }

  /// The edge's non-zero counters, the events so far and what a missing
  /// `added` has meant before: for failure messages.
  std::string diagnose() {
    std::string text = "\n  edge counters:";
    try {
      caf::scoped_actor self{sys_};
      self
        ->request(g_.edge, std::chrono::seconds{5}, nw::get_atom::value,
                  nw::counters_atom::value)
        .receive(
          [&](const nw::counters& c) {
            for (auto& [name, value] : c)
              if (value != 0)
                text += " " + name + "=" + std::to_string(value);
          },
          [&](caf::error& err) { text += " (" + nw::render(err) + ")"; });
    } catch (const std::exception& e) {
      text += std::string{" ("} + e.what() + ")";
    }
    text += "\n  events:" + log().describe();
    text += "\n  A create the agent did not recognise is logged above as "
            "`runtime argv rejected`. Seen here: `create without a container "
            "id (5 argv entries, the last 'create')` for podman's runc, when "
            "bpf/execruntime could not read argv strings that sat in a page "
            "not mapped in the exec'ing process (bpf_probe_read_user_str "
            "cannot fault) and stopped there.";
    return text;
  }

private:
  void warm(const starter& warm_up) {
    auto deadline = runc_clock::now() + std::chrono::seconds{30};
    while (runc_clock::now() < deadline) {
      ++warm_ups_;
      auto id = warm_up();
      if (!id.empty()
          && log().wait(nw::event_kind::added, id,
                        runc_clock::now() + std::chrono::seconds{3}))
        return;
    }
    throw std::runtime_error{"no warm-up container was detected within 30 s;"
                             " events:"
                             + log().describe()};
  }

  void stop() {
    caf::anon_send_exit(sub_, caf::exit_reason::user_shutdown);
    g_.shutdown();
  }

  std::shared_ptr<event_log> events_ = std::make_shared<event_log>();
  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  nw::graph g_;
  nw::subscriber_actor sub_;
  int warm_ups_ = 0;
};

} // namespace nw::test
