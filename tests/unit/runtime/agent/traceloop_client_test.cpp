// The `traceloop` client commands (runtime/agent/client.cpp) end to end over
// a real loopback connection, without root: a real node facade and registry
// published on port 0 (anonymous TLS, as with --insecure-loopback), a stand-in
// traceloop actor behind the facade with a canned ring. What each command
// prints and its exit code; the facade's errors (unknown and ambiguous
// containers, an agent without traceloop) on stderr with exit 1; a bad `start`
// selector exits 2 before connecting; and a dump the size of a full ring on a
// 64-CPU node (60000 syscalls, ~19 MB of msgpack) crosses CAF's wire intact.
#define BOOST_TEST_MODULE traceloop_client
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "actors/traceloop/decode.hpp"
#include "messages/errors.hpp"
#include "messages/msgpack_adaptors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "tests/support/temp_dir.hpp"

using namespace nw;

namespace {

/// A ring of `n` syscalls, each with a full 128-byte capture (the largest
/// record traceloop keeps).
traceloop_dump ring_of(size_t n) {
  traceloop_dump d;
  d.ring = {"c0ffee0123456789abcdef", "web", 4026532291ull, false, 266240};
  d.overwritten = 476561;
  d.lost = 3;
  d.lines.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    syscall_line x;
    x.ts_ns = 1763932212000000000ull + i * 1000;
    x.cpu = static_cast<uint32_t>(i % 64);
    x.pid = 4242;
    x.tid = 4242 + static_cast<uint32_t>(i % 7);
    x.comm = "sh";
    x.syscall = i % 2 ? "write" : "openat";
    x.params = {{"fd", std::to_string(i)},
                {"buf", "\"" + std::string(128, 'a' + i % 26) + "\"..."},
                {"count", "4096"}};
    x.ret = i % 5 == 0 ? -1 : static_cast<int64_t>(i);
    if (x.ret == -1) {
      x.errno_name = "ENOENT";
      x.errno_text = "No such file or directory";
    }
    x.unfinished = i + 1 == n;
    d.lines.push_back(std::move(x));
  }
  return d;
}

struct standin_state {
  traceloop_dump dump;
  uint64_t traced = 2;
  std::vector<std::string> deleted;
  std::vector<std::string> started;
};

/// The traceloop actor as the facade sees it: one ring, "web"; "w" matches
/// it and "webby" (ambiguous), anything else is unknown.
traceloop_actor::behavior_type
standin(traceloop_actor::stateful_pointer<standin_state> self,
        traceloop_dump dump) {
  self->state.dump = std::move(dump);
  auto resolve = [self](const std::string& q) -> caf::error {
    auto& id = self->state.dump.ring.id;
    if (q == "w")
      return make_error(errc::ambiguous_container,
                        "'w' matches c0ffee012345 (web), d00d (webby)");
    if (q == "web" || id.compare(0, q.size(), q) == 0)
      return caf::none;
    return make_error(errc::unknown_container,
                      "no traceloop ring for '" + q
                        + "'; rings: c0ffee012345 (web)");
  };
  return {
    [](event_atom, const container_event&) { return ack_atom::value; },
    [self](traceloop_atom, list_atom) {
      auto gone = self->state.dump.ring;
      gone.id = "d00d";
      gone.name = "webby";
      gone.live = true;
      return std::vector<traceloop_ring_info>{self->state.dump.ring, gone};
    },
    [self, resolve](traceloop_atom, get_atom,
                    const std::string& q) -> caf::result<traceloop_dump> {
      if (auto err = resolve(q))
        return err;
      return self->state.dump;
    },
    [self, resolve](traceloop_atom, remove_atom,
                    const std::string& q) -> caf::result<traceloop_ring_info> {
      if (auto err = resolve(q))
        return err;
      self->state.deleted.push_back(q);
      return self->state.dump.ring;
    },
    [self](traceloop_atom, start_atom, const selector& sel) {
      self->state.started.push_back(to_string(sel));
      return self->state.traced;
    },
    [](traceloop_atom, stop_atom) { return uint64_t{1}; },
    [](get_atom, counters_atom) { return counters{}; },
  };
}

/// What a command wrote to stdout and stderr, and its exit code.
struct run_result {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `f` with fds 1 and 2 redirected to files.
template <class F>
run_result capture(F f) {
  test::temp_dir dir{"nw-tlclient"};
  auto out_path = (dir.path() / "out").string();
  auto err_path = (dir.path() / "err").string();
  std::fflush(stdout);
  std::fflush(stderr);
  int saved_out = ::dup(1);
  int saved_err = ::dup(2);
  int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  BOOST_REQUIRE(saved_out >= 0 && saved_err >= 0 && out_fd >= 0 && err_fd >= 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  run_result r;
  r.rc = f();
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  for (int fd : {saved_out, saved_err, out_fd, err_fd})
    ::close(fd);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

/// An agent's facade on a loopback port: a real registry and node facade,
/// the stand-in traceloop actor behind it (or none).
struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  registry_actor registry;
  traceloop_actor traceloop;
  node_actor node;
  /// How the client reaches it: --insecure-loopback.
  client_options at;

  explicit fixture(bool with_traceloop = true, size_t lines = 3) {
    cfg.load<caf::io::middleman>();
    cfg.load<caf::openssl::manager>();
    add_nodewatch_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    registry = spawn_registry(*sys, registry_config{});
    node_config ncfg;
    ncfg.registry = registry;
    if (with_traceloop) {
      traceloop = sys->spawn(standin, ring_of(lines));
      ncfg.traceloop = traceloop;
    }
    node = spawn_node(*sys, ncfg);
    auto port = caf::openssl::publish(node, 0, "127.0.0.1", true);
    if (!port)
      BOOST_FAIL("cannot publish: " << render(port.error()));
    at.nodes = {endpoint{"127.0.0.1", *port}};
    at.transport.insecure_loopback = true;
  }

  ~fixture() {
    for (auto& h :
         std::vector<caf::actor>{caf::actor_cast<caf::actor>(node),
                                 caf::actor_cast<caf::actor>(registry),
                                 caf::actor_cast<caf::actor>(traceloop)})
      if (h)
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(list_prints_the_rings) {
  fixture f;
  auto r
    = capture([&] { return run_traceloop_list(f.at, output_format::table); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.err.empty(), r.err);
  BOOST_TEST(
    r.out
    == format_traceloop_list(
      {ring_of(0).ring, {"d00d", "webby", 4026532291ull, true, 266240}},
      output_format::table));
  r = capture([&] { return run_traceloop_list(f.at, output_format::json); });
  BOOST_TEST(r.rc == 0, r.err);
  std::istringstream in{r.out};
  std::string line;
  std::getline(in, line);
  BOOST_TEST(nlohmann::json::parse(line)["live"] == false);
  std::getline(in, line);
  BOOST_TEST(nlohmann::json::parse(line)["id"] == "d00d");
}

BOOST_AUTO_TEST_CASE(show_in_every_format) {
  fixture f;
  auto dump = ring_of(3);
  for (auto fmt : {dump_format::table, dump_format::json, dump_format::msgpack})
    BOOST_TEST_CONTEXT("format " << static_cast<int>(fmt)) {
      auto r = capture([&] { return run_traceloop_show(f.at, "web", fmt); });
      BOOST_TEST(r.rc == 0, r.err);
      BOOST_TEST(r.err.empty(), r.err);
      BOOST_TEST(r.out == format_traceloop_dump(dump, fmt));
    }
  // A unique id prefix reaches the actor as it is.
  auto r = capture(
    [&] { return run_traceloop_show(f.at, "c0ffee", dump_format::json); });
  BOOST_TEST(r.rc == 0, r.err);
}

BOOST_AUTO_TEST_CASE(show_errors_name_the_candidates) {
  fixture f;
  auto r = capture(
    [&] { return run_traceloop_show(f.at, "nope", dump_format::table); });
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(r.err.find("msg=\"traceloop show failed\"") != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("unknown_container: no traceloop ring for 'nope'; "
                        "rings: c0ffee012345 (web)")
               != std::string::npos,
             r.err);
  r = capture([&] { return run_traceloop_delete(f.at, "w"); });
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(r.err.find("msg=\"traceloop delete failed\"") != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("ambiguous_container: 'w' matches c0ffee012345 (web), "
                        "d00d (webby)")
               != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(delete_start_stop) {
  fixture f;
  auto r = capture([&] { return run_traceloop_delete(f.at, "web"); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out == format_traceloop_deleted(ring_of(0).ring));
  r = capture([&] { return run_traceloop_start(f.at, ""); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out
             == "tracing 2 running containers; every new container "
                "(sandboxes never) is traced from its start\n");
  r = capture([&] { return run_traceloop_start(f.at, "all"); });
  BOOST_TEST(r.rc == 0, r.err);
  r = capture([&] { return run_traceloop_start(f.at, "namespace=shop"); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out
             == "tracing 2 running containers; new containers matching "
                "'namespace=shop' are traced from their start\n");
  r = capture([&] { return run_traceloop_stop(f.at); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out
             == "stopped tracing 1 container; their rings stay for "
                "`traceloop show` until deleted or evicted\n");
}

BOOST_AUTO_TEST_CASE(a_bad_start_selector_exits_2_before_connecting) {
  client_options nowhere;
  // Nothing listens there: a connection attempt fails (1).
  nowhere.nodes = {endpoint{"127.0.0.1", 1}};
  nowhere.transport.insecure_loopback = true;
  auto r = capture([&] { return run_traceloop_start(nowhere, "colour=red"); });
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.find("bad traceloop start SELECTOR") != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("colour") != std::string::npos, r.err);
  r = capture(
    [&] { return run_traceloop_list(nowhere, output_format::table); });
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err.find("cannot reach the agent") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(an_agent_without_traceloop) {
  fixture f{false};
  for (auto cmd : std::vector<std::pair<std::string, std::function<int()>>>{
         {"list",
          [&] { return run_traceloop_list(f.at, output_format::json); }},
         {"show",
          [&] {
            return run_traceloop_show(f.at, "web", dump_format::msgpack);
          }},
         {"delete", [&] { return run_traceloop_delete(f.at, "web"); }},
         {"start", [&] { return run_traceloop_start(f.at, ""); }},
         {"stop", [&] { return run_traceloop_stop(f.at); }},
       })
    BOOST_TEST_CONTEXT(cmd.first) {
      auto r = capture(cmd.second);
      BOOST_TEST(r.rc == 1);
      BOOST_TEST(r.out.empty(), r.out);
      BOOST_TEST(r.err.find("msg=\"traceloop " + cmd.first + " failed\"")
                   != std::string::npos,
                 r.err);
      BOOST_TEST(r.err.find("runs without traceloop (--traceloop none")
                   != std::string::npos,
                 r.err);
    }
}

BOOST_AUTO_TEST_CASE(a_full_ring_of_a_64_cpu_node_crosses_the_wire) {
  // ~811 syscalls per CPU filled a 128 KiB ring on this host (a busybox
  // loop; `traceloop show` of a container that overwrote 476561 records).
  constexpr size_t lines = 60000;
  fixture f{true, lines};
  auto dump = ring_of(lines);
  auto expected = format_traceloop_dump(dump, dump_format::msgpack);
  auto t0 = std::chrono::steady_clock::now();
  auto r = capture(
    [&] { return run_traceloop_show(f.at, "web", dump_format::msgpack); });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - t0)
              .count();
  BOOST_TEST_MESSAGE(lines << " syscalls, " << r.out.size()
                           << " bytes of msgpack, in " << ms << " ms");
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_REQUIRE(r.out.size() == expected.size());
  BOOST_TEST((r.out == expected));
  traceloop_dump back;
  std::string error;
  BOOST_REQUIRE_MESSAGE(from_msgpack(r.out, back, error), error);
  BOOST_TEST(back.lines.size() == lines);
  BOOST_TEST((back == dump));
  r = capture(
    [&] { return run_traceloop_show(f.at, "web", dump_format::table); });
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out.size()
             == format_traceloop_dump(dump, dump_format::table).size());
}
