// Container detection end to end: the whole agent graph on a real actor
// system with the real kernel edge (fanotify + bpf/execruntime), real runc
// containers from a busybox-static bundle driven as containerd's shim
// drives runc (create, read the pidfile, start at once, wait, delete).
//
// The proof of "added before the entrypoint": an in-process subscriber that,
// on `added`, reads /proc/PID/comm of the container's init on arrival and
// again 50 ms later, just before it acks. Both must still be runc's init
// (`runc:[2:INIT]`), the pidfile read must have lasted at least those 50 ms
// and returned after the event arrived. The driver starts the container the
// moment its pidfile read returns and `runc start` runs the entrypoint in
// ~4 ms here, so a start that was not held until the ack cannot pass by
// winning a race (checked: allowing the read before the add makes every
// container fail the second comm read and the read's duration).
//
// Bad input goes through a fake `runc` (a shell script watched as an extra
// runtime path) that writes a chosen pidfile: the shim's read must return
// within the hold deadline, a `detection_failed` with a reason must follow,
// and the agent's fd count must not grow.
//
// Every wait blocks or polls with a deadline; no sleep stands in for
// synchronisation.
#define BOOST_TEST_MODULE runc_detection
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "tests/integration/detection/agent_harness.hpp"
#include "tests/integration/support/runc_fixture.hpp"
#include "tests/support/text.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nw::test::runc_clock;
using nw::test::runc_container;
using nw::test::runc_env;

/// The agent's backstop on every held event (CONTRACTS.md default).
constexpr auto hold_deadline = 2000ms;
/// The /proc termination poller's period here (1 s by default).
constexpr auto poll_interval = 100ms;
/// How long an event may take to show up once it is due.
constexpr auto event_deadline = 5s;

using nw::test::ms;

// -- the agent, once for the whole module -------------------------------------

// The subscriber and what it saw are the manager tests' (agent_harness.hpp):
// on `added` it reads /proc/PID of the init on arrival and again `ack_delay`
// later, just before it acks; on `removed` it reads it once.
using nw::test::ack_delay;
using nw::test::event_log;
using nw::test::observed;
using nw::test::harness_detail::agent_config;
using nw::test::harness_detail::recorder;

/// The agent graph (real kernel) with the recorder subscribed, a runc
/// environment for real containers and one for the fake runtime.
struct agent_fixture {
  static inline agent_fixture* instance = nullptr;

  agent_fixture() {
    nw::test::require_runc();
    nw::graph_options opts;
    opts.real_kernel = true;
    opts.hold_deadline = hold_deadline;
    opts.poll_interval = poll_interval;
    opts.edge.runtime_paths = {fake.path()};
    auto spawned = nw::spawn_graph(sys, opts);
    if (!spawned)
      throw std::runtime_error{"the agent graph did not start: "
                               + nw::render(spawned.error())};
    g = *spawned;
    sub = caf::actor_cast<nw::subscriber_actor>(sys.spawn(recorder, events));
    try {
      caf::scoped_actor self{sys};
      std::string error;
      self
        ->request(g.registry, 10s, nw::subscribe_atom::value, nw::selector{},
                  sub)
        .receive([](const std::vector<nw::container_event>&) {},
                 [&](caf::error& err) { error = nw::render(err); });
      if (!error.empty())
        throw std::runtime_error{"cannot subscribe: " + error};
      g.play();
      warm_up();
    } catch (...) {
      // No destructor after a throwing constructor: stop the actors here,
      // or ~actor_system() would wait for them forever.
      stop();
      throw;
    }
    instance = this;
  }

  ~agent_fixture() {
    instance = nullptr;
    stop();
  }

  void stop() {
    caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
    g.shutdown();
  }

  /// Runs containers until one is detected: the marks may be placed on the
  /// edge's loop thread after spawn_graph returned. Says how many it took.
  void warm_up() {
    auto deadline = runc_clock::now() + 20s;
    for (int attempt = 1; runc_clock::now() < deadline; ++attempt) {
      runc_container c{real, {{"/bin/true"}}, real.unique_id("nwt-warm")};
      c.run();
      if (log.wait(nw::event_kind::added, c.id(), runc_clock::now() + 2s)) {
        BOOST_TEST_MESSAGE("agent ready after " << attempt
                                                << " warm-up container(s)");
        return;
      }
    }
    throw std::runtime_error{"no warm-up container was detected within 20 s"};
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{agent_config(cfg)};
  nw::graph g;
  nw::subscriber_actor sub;
  std::shared_ptr<event_log> events = std::make_shared<event_log>();
  event_log& log = *events;
  nw::test::fake_runc fake;
  runc_env real;
  runc_env fake_env{fake.path()};
};

BOOST_TEST_GLOBAL_FIXTURE(agent_fixture);

agent_fixture& agent() {
  BOOST_TEST_REQUIRE(agent_fixture::instance != nullptr);
  return *agent_fixture::instance;
}

// -- one real container -------------------------------------------------------

/// What a driver thread did (checked on the test's thread: Boost.Test is
/// not thread safe).
struct drive_result {
  std::string id;
  std::string bundle;
  pid_t pid = 0;
  nw::test::pidfile_read_result read;
  runc_clock::time_point exited{};
  std::string output;
  std::string error;
};

/// Drives one container as a shim does, up to its exit; deletes it only
/// after the agent removed it (or the removal deadline passed).
drive_result drive(runc_env& env, event_log& log,
                   const std::vector<std::string>& args,
                   const std::string& prefix) {
  drive_result r;
  try {
    runc_container c{env, {args, "nw-detect"}, env.unique_id(prefix)};
    r.id = c.id();
    r.bundle = c.bundle().dir().string();
    c.create();
    r.pid = c.read_pid();
    r.read = c.last_read();
    c.start();
    c.wait_exit();
    r.exited = c.exited_at();
    r.output = c.output();
    log.wait(nw::event_kind::removed, r.id, runc_clock::now() + event_deadline);
    c.remove();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

/// Every check on one driven container: added before its entrypoint,
/// while its start was held, with the right record; removed after its exit.
void check_detected(const drive_result& r, const std::string& want_output) {
  BOOST_TEST_CONTEXT("container " << r.id) {
    BOOST_TEST_REQUIRE(r.error == "");
    auto& log = agent().log;
    auto added = log.wait(nw::event_kind::added, r.id,
                          runc_clock::now() + event_deadline);
    BOOST_TEST_REQUIRE(added.has_value(), "no `added` event");
    auto& info = *added->ev.info;
    // Before the entrypoint: the init was still runc's, on arrival and
    // `ack_delay` later, just before the ack.
    BOOST_TEST(added->proc.comm == "runc:[2:INIT]");
    BOOST_TEST(added->proc_at_ack.comm == "runc:[2:INIT]");
    // While the start was held: the event came before the pidfile read
    // returned, the read lasted at least until the ack, and returned within
    // the hold deadline.
    BOOST_TEST((added->at <= r.read.returned),
               "`added` arrived " << ms(added->at - r.read.returned)
                                  << " ms after the pidfile read returned");
    BOOST_TEST(ms(r.read.duration()) >= ms(ack_delay));
    BOOST_TEST(ms(r.read.duration()) < ms(hold_deadline));
    BOOST_TEST(info.held);
    BOOST_TEST(info.pid == static_cast<uint32_t>(r.pid));
    BOOST_TEST(info.mntns == added->proc.mntns);
    BOOST_TEST(info.netns == added->proc.netns);
    BOOST_TEST(info.start_time == added->proc.start_time);
    BOOST_TEST(info.mntns != nw::test::probe_process(0).mntns);
    // Enrichment from /proc (linux_host): the 64-bit mount namespace id and
    // the cgroup v2 id (runc names the cgroup /ID), neither the test's own;
    // runc's spec gives the container a network namespace of its own.
    nw::proc_status self;
    std::string self_error;
    BOOST_TEST_REQUIRE(nw::make_linux_host("")->proc(
                         static_cast<uint32_t>(::getpid()), self, self_error),
                       self_error);
    BOOST_TEST(info.mntns_id64 != 0u);
    BOOST_TEST(info.mntns_id64 != self.mntns_id64);
    BOOST_TEST(nw::test::contains(info.cgroup_path, r.id), info.cgroup_path);
    BOOST_TEST(info.cgroup_id != 0u);
    BOOST_TEST(info.cgroup_id != self.cgroup_id);
    BOOST_TEST(!info.host_network);
    BOOST_TEST(info.runtime == "runc");
    BOOST_TEST(info.id == r.id);
    BOOST_TEST(info.bundle == r.bundle);
    // The entrypoint did run, after the hold.
    BOOST_TEST(r.output == want_output);
    auto removed = log.wait(nw::event_kind::removed, r.id,
                            runc_clock::now() + event_deadline);
    BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
    BOOST_TEST(removed->init_gone(info.start_time),
               "`removed` came while the init ran");
    BOOST_TEST_MESSAGE(r.id << ": pidfile read held " << ms(r.read.duration())
                            << " ms; removed " << ms(removed->at - r.exited)
                            << " ms after the driver reaped the init");
    // One of each, nothing else.
    BOOST_TEST(log.of(r.id).size() == 2u);
  }
}

// -- bad input through the fake runtime ---------------------------------------

/// One create by the fake runtime with a chosen pidfile and bundle.
struct fake_result {
  std::string id;
  nw::test::pidfile_read_result read;
  std::optional<observed> failed;
};

fake_result
fake_create(const std::string& pidfile, const std::string& id = {},
            const std::function<void(nw::test::runc_bundle&)>& prepare = {}) {
  auto& a = agent();
  a.fake.pidfile_content(pidfile);
  runc_container c{a.fake_env,
                   {{"/bin/true"}},
                   id.empty() ? a.fake_env.unique_id("nwt-bad") : id};
  if (prepare)
    prepare(c.bundle());
  c.create();
  fake_result r;
  r.id = c.id();
  r.read = c.read_pidfile();
  if (!id.empty() && id != r.id)
    throw std::logic_error{"id changed"};
  // The first event tells: `detection_failed`, or (wrongly) `added`.
  auto first
    = a.log.wait_for([&](const observed& o) { return o.ev.info->id == r.id; },
                     runc_clock::now() + event_deadline);
  if (first && first->ev.kind == nw::event_kind::detection_failed)
    r.failed = first;
  return r;
}

/// The read came back in time and detection failed with a reason (that
/// contains `reason_part`, if given).
void check_failed(const fake_result& r, const std::string& what,
                  const std::string& reason_part = {}) {
  BOOST_TEST_CONTEXT(what << " (" << r.id << ")") {
    BOOST_TEST(r.read.error == 0);
    BOOST_TEST(ms(r.read.duration()) < ms(hold_deadline));
    if (!r.failed) {
      std::string seen;
      for (auto& o : agent().log.of(r.id))
        seen += std::string{" "} + nw::to_string(o.ev.kind) + " (pid "
                + std::to_string(o.ev.info->pid) + ", held "
                + (o.ev.info->held ? "true" : "false") + ")";
      BOOST_ERROR("no `detection_failed` event; saw:"
                  << (seen.empty() ? " nothing" : seen));
      return;
    }
    BOOST_TEST(!r.failed->ev.reason.empty());
    if (!reason_part.empty())
      BOOST_TEST(nw::test::contains(r.failed->ev.reason, reason_part),
                 "the reason does not say \"" << reason_part << "\"");
    BOOST_TEST_MESSAGE(what << ": read returned after " << ms(r.read.duration())
                            << " ms; reason: " << r.failed->ev.reason);
    for (auto& o : agent().log.of(r.id))
      BOOST_TEST(std::string{nw::to_string(o.ev.kind)} == "detection_failed");
  }
}

/// Waits (bounded) for the fd count to come back to `baseline`; the count.
size_t settled_fds(size_t baseline) {
  auto deadline = runc_clock::now() + 2s;
  auto n = nw::test::count_open_fds();
  while (n > baseline && runc_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    n = nw::test::count_open_fds();
  }
  return n;
}

/// A process in a mount namespace of its own (not the runtime's): what a
/// pidfile names when only config.json is bad.
class foreign_process {
public:
  foreign_process()
      : child_({nw::test::find_program("unshare"), "--mount", "--propagation",
                "private", "/bin/sleep", "60"},
               {}) {
    auto ours = nw::test::probe_process(0).mntns;
    auto deadline = runc_clock::now() + 10s;
    while (runc_clock::now() < deadline) {
      auto p = nw::test::probe_process(child_.pid());
      if (p.comm == "sleep" && p.mntns != 0 && p.mntns != ours)
        return;
      std::this_thread::sleep_for(1ms);
    }
    throw std::runtime_error{"unshare --mount did not exec sleep in time"};
  }

  pid_t pid() const {
    return child_.pid();
  }

private:
  nw::test::child_process child_;
};

} // namespace

// -- real containers ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_container_is_added_before_its_entrypoint_and_removed) {
  auto r
    = drive(agent().real, agent().log, {"/bin/sh", "-c", "echo hi"}, "nwt-one");
  check_detected(r, "hi\n");
}

BOOST_AUTO_TEST_CASE(a_container_that_sleeps_is_removed_after_it_exits) {
  auto r = drive(agent().real, agent().log, {"/bin/sleep", "0.2"}, "nwt-sleep");
  check_detected(r, "");
}

BOOST_AUTO_TEST_CASE(five_containers_in_a_row) {
  for (int i = 0; i < 5; ++i) {
    auto r
      = drive(agent().real, agent().log,
              {"/bin/sh", "-c", "echo row-" + std::to_string(i)}, "nwt-row");
    check_detected(r, "row-" + std::to_string(i) + "\n");
  }
}

BOOST_AUTO_TEST_CASE(four_containers_in_parallel) {
  constexpr int n = 4;
  auto& a = agent();
  std::vector<drive_result> results(n);
  std::mutex mx;
  std::condition_variable cv;
  int ready = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      {
        // All four creates start together.
        std::unique_lock<std::mutex> lock{mx};
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return ready == n; });
      }
      results[i]
        = drive(a.real, a.log,
                {"/bin/sh", "-c", "echo par-" + std::to_string(i)}, "nwt-par");
    });
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < n; ++i)
    check_detected(results[i], "par-" + std::to_string(i) + "\n");
}

// -- termination
// ----------------------------------------------------------------

/// The edge's counters.
nw::counters edge_counters() {
  caf::scoped_actor self{agent().sys};
  nw::counters out;
  self
    ->request(agent().g.edge, event_deadline, nw::get_atom::value,
              nw::counters_atom::value)
    .receive([&](nw::counters& c) { out = std::move(c); },
             [&](caf::error& err) {
               BOOST_FAIL("edge counters: " << nw::render(err));
             });
  return out;
}

/// Starts a container running `args`, kills its init with `sig` unless
/// `sig` is 0, and checks it is removed exactly once, by the edge's pidfd
/// report (the poller runs every 100 ms beside it).
void check_removed_by_pidfd(const std::vector<std::string>& args, int sig,
                            const std::string& prefix) {
  auto& a = agent();
  runc_container c{a.real, {args, "nw-term"}, a.real.unique_id(prefix)};
  // Before anything runs: an init that exits at once may be gone before
  // `added` is even looked at.
  auto before = edge_counters()["edge_pidfd_exits"];
  c.create();
  auto pid = c.read_pid();
  c.start();
  auto added = a.log.wait(nw::event_kind::added, c.id(),
                          runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(added.has_value(), "no `added` event");
  auto t0 = runc_clock::now();
  if (sig != 0)
    ::kill(pid, sig);
  c.wait_exit();
  auto removed = a.log.wait(nw::event_kind::removed, c.id(),
                            runc_clock::now() + event_deadline);
  BOOST_TEST_REQUIRE(removed.has_value(), "no `removed` event");
  BOOST_TEST(removed->init_gone(added->ev.info->start_time),
             "`removed` came while the init ran");
  BOOST_TEST(edge_counters()["edge_pidfd_exits"] > before,
             "the removal did not come from a pidfd");
  BOOST_TEST_MESSAGE(c.id()
                     << ": removed " << ms(removed->at - t0) << " ms after the "
                     << (sig != 0 ? "kill" : "start of the wait"));
  c.remove();
  BOOST_TEST(a.log.of(c.id()).size() == 2u, "one `added`, one `removed`");
}

BOOST_AUTO_TEST_CASE(a_container_killed_with_sigkill_is_removed) {
  check_removed_by_pidfd({"/bin/sleep", "30"}, SIGKILL, "nwt-kill");
}

BOOST_AUTO_TEST_CASE(a_container_whose_init_exits_by_itself_is_removed) {
  check_removed_by_pidfd({"/bin/sleep", "0.1"}, 0, "nwt-exit");
}

BOOST_AUTO_TEST_CASE(a_container_whose_init_forks_and_exits_is_removed) {
  // The init's exit is what counts; its child goes with the pid namespace.
  check_removed_by_pidfd({"/bin/sh", "-c", "sleep 30 & exit 0"}, 0, "nwt-fork");
}

// -- bad input ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(bad_pidfiles_fail_detection_without_holding_the_runtime) {
  // One bad create first: whatever the agent opens once (and keeps) is open
  // before the baseline is taken.
  check_failed(fake_create("abc"), "warm-up");
  auto baseline = settled_fds(nw::test::count_open_fds());
  struct bad_case {
    const char* what;
    std::string content;
  };
  std::vector<bad_case> cases = {
    {"empty pidfile", ""},
    {"non-numeric pidfile", "abc"},
    {"negative pid", "-1"},
    {"overflowing pid", "99999999999"},
    {"40-byte pidfile", std::string(39, '7') + "\n"},
    // Not a container: the host's init. (Its /proc/1/ns/* may be unreadable
    // even to root, as on this host: that must fail too, not pass.)
    {"pid 1 (the host's init)", "1"},
    {"this agent's pid (same mount namespace)", std::to_string(::getpid())},
  };
  for (auto& c : cases)
    check_failed(fake_create(c.content), c.what);
  // Twice, so a leak per create would show even if one fd was cached.
  for (auto& c : cases)
    fake_create(c.content);
  auto after = settled_fds(baseline);
  BOOST_TEST(after <= baseline, "fds: " << baseline << " before, " << after
                                        << " after " << 2 * cases.size()
                                        << " bad pidfiles");
}

BOOST_AUTO_TEST_CASE(bad_config_json_fails_detection) {
  // The pidfile names a process that would pass every pidfile check, so
  // only config.json can be what fails.
  foreign_process target;
  auto pid = std::to_string(target.pid());
  check_failed(fake_create("abc"), "warm-up");
  auto baseline = settled_fds(nw::test::count_open_fds());
  check_failed(
    fake_create(pid, {},
                [](nw::test::runc_bundle& b) { fs::remove(b.config_path()); }),
    "missing config.json", "no config.json");
  check_failed(
    fake_create(pid, {},
                [](nw::test::runc_bundle& b) {
                  // 17 MiB of valid JSON: over the 16 MiB bound.
                  std::ofstream out{b.config_path(), std::ios::trunc};
                  out << R"({"ociVersion":"1.0.2","pad":")"
                      << std::string(17u << 20, 'x') << R"("})";
                }),
    "17 MiB config.json", "larger than");
  check_failed(
    fake_create(pid, {},
                [](nw::test::runc_bundle& b) {
                  std::ofstream out{b.config_path(), std::ios::trunc};
                  out << R"({"ociVersion": "1.0.2", "process": )";
                }),
    "truncated config.json", "not valid JSON");
  check_failed(
    fake_create(pid, {},
                [](nw::test::runc_bundle& b) {
                  std::ofstream out{b.config_path(), std::ios::trunc};
                  out << "{\"ociVersion\": \"1.0.2\", "
                         "\"hostname\": \"\xff\xfe\"}";
                }),
    "non-UTF-8 config.json", "UTF-8");
  auto after = settled_fds(baseline);
  BOOST_TEST(after <= baseline, "fds: " << baseline << " before, " << after
                                        << " after the bad config.json cases");
}

BOOST_AUTO_TEST_CASE(container_ids_with_dot_dot_are_ignored) {
  check_failed(fake_create("abc"), "warm-up");
  auto baseline = settled_fds(nw::test::count_open_fds());
  std::vector<std::string> ids = {"..", "../escape"};
  std::vector<fake_result> results;
  for (auto& id : ids) {
    auto& a = agent();
    a.fake.pidfile_content("abc");
    runc_container c{a.fake_env, {{"/bin/true"}}, id};
    c.create();
    fake_result r;
    r.id = id;
    r.read = c.read_pidfile();
    results.push_back(r);
  }
  // A marker after them: the runtime watcher handles execs in order, so
  // once the marker's event is in, anything the rejected ids caused is too.
  auto marker = fake_create("abc");
  check_failed(marker, "marker after the rejected ids");
  for (auto& r : results) {
    BOOST_TEST_CONTEXT("container id " << r.id) {
      BOOST_TEST(r.read.error == 0);
      // Nothing held: a watched read takes a permission round trip and a
      // parse; an unwatched one returns at once.
      BOOST_TEST(ms(r.read.duration()) < 100.0);
      BOOST_TEST(agent().log.of(r.id).empty());
      BOOST_TEST_MESSAGE("id " << r.id << ": read returned after "
                               << ms(r.read.duration()) << " ms, no event");
    }
  }
  auto after = settled_fds(baseline);
  BOOST_TEST(after <= baseline);
}
