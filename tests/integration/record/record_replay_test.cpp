// Record and replay end to end: the whole agent graph in process on the
// real kernel with recording on (graph_options::record, what `agent
// --record FILE` sets), real runc containers driven as containerd's shim
// drives runc (one running before the agent starts, found by the start-up
// scan; then containers run one after another), then the recorded file
// replayed through the same graph on the scripted kernel in virtual time
// (simulate_output, what `nodewatch simulate FILE` prints). The replayed
// event stream must equal the live one: kinds, seq, ids, names, pids,
// runtime, flags, namespaces and bundles, in order (ts_ns aside).
//
// Root, runc and a static busybox are needed (exit 77 with the reason
// otherwise). Every wait blocks with a deadline; no sleep stands in for
// synchronisation.
#define BOOST_TEST_MODULE record_replay
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <nlohmann/json.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"
#include "tests/integration/support/runc_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using nw::test::runc_clock;
using nw::test::runc_container;
using nw::test::runc_env;
using json = nlohmann::json;
using strings = std::vector<std::string>;

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
        auto j = json::parse(line);
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
  strings lines_;
};

/// What must be equal between live and replay: every event's kind, seq,
/// id, name, pid, runtime, flags, namespaces and bundle, in order.
strings comparable(const std::string& out) {
  strings result;
  std::istringstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line);
    json k;
    for (auto key : {"type", "seq", "id", "name", "pid", "runtime", "initial",
                     "held", "sandbox", "mntns", "netns", "bundle"})
      k[key] = j[key];
    result.push_back(k.dump());
  }
  return result;
}

uint64_t realtime_ns() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

} // namespace

BOOST_AUTO_TEST_CASE(a_recorded_runc_node_replays_to_the_same_events) {
  nw::test::require_runc();
  runc_env env;
  auto record_path = (env.dir() / "record.jsonl").string();
  // Running before the agent starts: the start-up scan finds it.
  runc_container initial{env, {{"/bin/sleep", "60"}}, env.unique_id("nwr-i")};
  initial.create();
  initial.read_pid();
  initial.start();

  line_log live;
  strings ids;
  {
    std::string error;
    auto writer = std::shared_ptr<nw::record_writer>{nw::record_writer::open(
      record_path, nw::default_record_max_bytes, error)};
    BOOST_REQUIRE_MESSAGE(writer, error);
    writer->header({"record_replay_test", realtime_ns(), {env.root()}});
    caf::actor_system_config cfg;
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    nw::add_nodewatch_types(cfg);
    caf::actor_system sys{cfg};
    nw::graph_options opts;
    opts.real_kernel = true;
    opts.poll_interval = 100ms;
    opts.state_roots = {env.root()};
    opts.record = writer;
    opts.print = true;
    opts.fmt = nw::output_format::json;
    opts.out = [&live](const std::string& line) { live.push(line); };
    auto spawned = nw::spawn_graph(sys, opts);
    BOOST_REQUIRE_MESSAGE(
      spawned, "the agent graph did not start: "
                 + (spawned ? std::string{} : nw::render(spawned.error())));
    auto g = *spawned;
    g.play();
    auto ok = live.wait("added", initial.id(), runc_clock::now() + 10s);
    BOOST_CHECK_MESSAGE(ok, "the running container was not found at start");
    // The marks may be placed on the edge's loop thread after the graph
    // started: run containers until one is detected.
    bool ready = false;
    for (int attempt = 0; ok && !ready && attempt < 20; ++attempt) {
      runc_container c{env, {{"/bin/true"}}, env.unique_id("nwr-w")};
      c.run();
      ready = live.wait("removed", c.id(), runc_clock::now() + 5s);
    }
    BOOST_CHECK_MESSAGE(ready, "no warm-up container was detected");
    // Containers one after another: each added and removed before the next.
    for (int i = 0; ok && ready && i < 4; ++i) {
      nw::test::bundle_options bo;
      bo.args = i % 2 == 0 ? strings{"/bin/true"}
                           : strings{"/bin/sh", "-c", "echo hi"};
      runc_container c{env, bo, env.unique_id("nwr-c")};
      c.run();
      ids.push_back(c.id());
      BOOST_CHECK_MESSAGE(live.wait("removed", c.id(), runc_clock::now() + 10s),
                          c.id() << " was not added and removed");
    }
    // The container found at start, killed.
    ::kill(initial.init_pid(), SIGKILL);
    initial.wait_exit();
    BOOST_CHECK_MESSAGE(
      live.wait("removed", initial.id(), runc_clock::now() + 10s),
      "the running container's exit was not seen");
    initial.remove();
    g.shutdown();
  } // ~actor_system: every actor gone, the recording ended

  nw::scenario sc;
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::load_scenario(record_path, sc, error), error);
  auto started = runc_clock::now();
  auto replayed = nw::simulate_output(std::make_shared<nw::scenario>(sc),
                                      nw::output_format::json);
  auto replay_ms
    = std::chrono::duration<double, std::milli>(runc_clock::now() - started)
        .count();
  // NW_KEEP_RECORD=PATH keeps a copy of the recording (to look at).
  if (auto keep = std::getenv("NW_KEEP_RECORD"))
    std::filesystem::copy_file(
      record_path, keep, std::filesystem::copy_options::overwrite_existing);
  auto want = comparable(live.text());
  auto got = comparable(replayed);
  BOOST_TEST_MESSAGE("recorded "
                     << std::filesystem::file_size(record_path) << " bytes, "
                     << sc.timeline.size() << " timed records; " << want.size()
                     << " live events; replayed in " << replay_ms << " ms");
  BOOST_TEST(want.size() >= 2 * (ids.size() + 2));
  BOOST_TEST(got == want, boost::test_tools::per_element());
  if (got != want) {
    BOOST_TEST_MESSAGE("live:\n" << live.text());
    BOOST_TEST_MESSAGE("replayed:\n" << replayed);
    std::ifstream in{record_path};
    std::stringstream rec;
    rec << in.rdbuf();
    BOOST_TEST_MESSAGE("record:\n" << rec.str());
  }
}
