// What the record-and-replay tests share: the agent graph in process on the
// real kernel with recording on (graph_options::record, what `agent
// --record FILE` sets) and its printed events, then the recorded file
// replayed through the same graph on the scripted kernel in virtual time
// (simulate_output, what `nodewatch simulate FILE` prints), compared.
//
//   nw::test::record_session rec{path, {state root}};
//   rec.warm_up([&] { run a container; return its id; });
//   ... run containers, rec.live().wait("removed", id, deadline) ...
//   rec.stop();                   // every actor gone, the file ended
//   nw::test::check_replay(path, rec.live().text());
//
// Every wait blocks with a deadline; no sleep stands in for
// synchronisation.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <nlohmann/json.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace nw::test {

/// The printed event lines of the live agent, waited on with deadlines.
class line_log {
public:
  void push(const std::string& line) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      lines_.push_back(line);
    }
    cv_.notify_all();
  }

  /// Whether an event of `type` for `id` was printed by `deadline`.
  bool wait(const std::string& type, const std::string& id,
            runc_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock{mx_};
    return cv_.wait_until(lock, deadline, [&] {
      for (auto& line : lines_) {
        auto j = nlohmann::json::parse(line);
        if (j["type"] == type && j["id"] == id)
          return true;
      }
      return false;
    });
  }

  std::string text() {
    std::lock_guard<std::mutex> guard{mx_};
    std::string out;
    for (auto& line : lines_)
      out += line;
    return out;
  }

private:
  std::mutex mx_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/// The agent graph on the real kernel, recording to a file.
class record_session {
public:
  /// Records to `path` ("": the same agent without recording).
  record_session(const std::string& path, std::vector<std::string> state_roots)
      : sys_(std::make_unique<caf::actor_system>(config(cfg_))) {
    std::shared_ptr<record_writer> writer;
    if (!path.empty()) {
      std::string error;
      writer = record_writer::open(path, default_record_max_bytes, error);
      if (!writer)
        throw std::runtime_error{error};
      writer->header({"record session", now_ns(), state_roots});
    }
    graph_options opts;
    opts.real_kernel = true;
    opts.poll_interval = std::chrono::milliseconds{100};
    opts.state_roots = std::move(state_roots);
    opts.record = writer;
    opts.print = true;
    opts.fmt = output_format::json;
    opts.out = [log = log_](const std::string& line) { log->push(line); };
    auto spawned = spawn_graph(*sys_, opts);
    if (!spawned)
      throw std::runtime_error{"the agent graph did not start: "
                               + render(spawned.error())};
    g_ = *spawned;
    g_.play();
  }

  ~record_session() {
    stop();
  }

  line_log& live() {
    return *log_;
  }

  /// Runs containers (`run_one` returns the id) until one is added and
  /// removed: the marks may be placed on the edge's loop thread after the
  /// graph started. Whether one was, within 20 tries.
  bool warm_up(const std::function<std::string()>& run_one) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto id = run_one();
      if (log_->wait("removed", id,
                     runc_clock::now() + std::chrono::seconds{5}))
        return true;
    }
    return false;
  }

  /// Stops the agent; once it returns every actor is gone and the record
  /// file has its `end`.
  void stop() {
    if (!sys_)
      return;
    g_.shutdown();
    g_ = graph{}; // no handle outlives the system
    sys_.reset();
  }

private:
  static uint64_t now_ns() {
    return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count());
  }

  static caf::actor_system_config& config(caf::actor_system_config& cfg) {
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    add_nodewatch_types(cfg);
    return cfg;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  graph g_;
  std::shared_ptr<line_log> log_ = std::make_shared<line_log>();
};

/// What must be equal between live and replay: every event line but its
/// ts_ns (kind, seq, id, name, pid, runtime, namespaces, bundle, flags,
/// k8s fields, reason), in order.
inline std::vector<std::string> comparable_events(const std::string& out) {
  std::vector<std::string> result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("ts_ns");
    result.push_back(j.dump());
  }
  return result;
}

/// The events of `out` without seq and ts_ns, sorted: what two streams
/// share when only their interleaving may differ.
inline std::vector<std::string> event_set(const std::string& out) {
  std::vector<std::string> result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("ts_ns");
    j.erase("seq");
    result.push_back(j.dump());
  }
  std::sort(result.begin(), result.end());
  return result;
}

/// Each container's event kinds in order, by id.
inline std::map<std::string, std::vector<std::string>>
kinds_by_id(const std::string& out) {
  std::map<std::string, std::vector<std::string>> result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    result[j["id"].get<std::string>()].push_back(j["type"].get<std::string>());
  }
  return result;
}

/// How a replay must match the live stream.
enum class replay_match {
  /// Every line but ts_ns, in order.
  exact,
  /// The same events (but seq and ts_ns) and each container's in the same
  /// order; containers may interleave otherwise (starts within the time
  /// the agent takes to add one: docs/scenario-format.md).
  per_container,
};

/// Whether an event (a parsed line) is of a container the test ran.
using event_filter = std::function<bool(const nlohmann::json&)>;

/// The lines of `out` that `ours` accepts, without their seq: what is left
/// to compare when the agent also saw containers of other tests (the
/// fanotify marks are on the runtime binaries, host-wide).
inline std::string only_ours(const std::string& out, const event_filter& ours) {
  std::string result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (!ours(j))
      continue;
    j.erase("seq");
    result += j.dump() + "\n";
  }
  return result;
}

/// Replays the recording at `path` as `simulate` does and checks it prints
/// the events `live` printed. With `ours`, events of other containers (other
/// tests on this host) are left out of the comparison, and so is seq, if
/// there were any. NW_KEEP_RECORD=FILE keeps a copy of the recording. Says
/// how big it was and how long the replay took.
inline void check_replay(const std::string& path, std::string live,
                         replay_match match = replay_match::exact,
                         const event_filter& ours = nullptr) {
  if (auto keep = std::getenv("NW_KEEP_RECORD"))
    std::filesystem::copy_file(
      path, keep, std::filesystem::copy_options::overwrite_existing);
  scenario sc;
  std::string error;
  BOOST_REQUIRE_MESSAGE(load_scenario(path, sc, error), error);
  auto started = runc_clock::now();
  auto replayed
    = simulate_output(std::make_shared<scenario>(sc), output_format::json);
  auto replay_ms
    = std::chrono::duration<double, std::milli>(runc_clock::now() - started)
        .count();
  if (ours) {
    auto mine = only_ours(live, ours);
    auto all = comparable_events(live).size();
    auto kept = comparable_events(mine).size();
    if (kept != all) {
      BOOST_TEST_MESSAGE(all - kept
                         << " events of other containers left out, and seq");
      live = mine;
      replayed = only_ours(replayed, ours);
    }
  }
  auto want = comparable_events(live);
  auto got = comparable_events(replayed);
  BOOST_TEST_MESSAGE("recorded "
                     << std::filesystem::file_size(path) << " bytes, "
                     << sc.timeline.size() << " timed records; " << want.size()
                     << " live events; replayed in " << replay_ms << " ms");
  if (match == replay_match::per_container) {
    BOOST_TEST(got.size() == want.size());
    BOOST_TEST(event_set(replayed) == event_set(live),
               boost::test_tools::per_element());
    BOOST_TEST((kinds_by_id(replayed) == kinds_by_id(live)));
    if (got != want)
      BOOST_TEST_MESSAGE("the replay interleaved containers otherwise");
    return;
  }
  BOOST_TEST(got == want, boost::test_tools::per_element());
  if (got != want) {
    BOOST_TEST_MESSAGE("live:\n" << live);
    BOOST_TEST_MESSAGE("replayed:\n" << replayed);
  }
}

} // namespace nw::test
