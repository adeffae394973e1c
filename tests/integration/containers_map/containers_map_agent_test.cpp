// The containers map in the real agent graph, with real runc containers
// (driven as a shim does): after `added` the pinned map holds the
// container's mount namespace → its id, k8s fields and name (bpftool's
// dump), a sandbox is left out, after `removed` the entry is gone, and the
// pin is gone once the graph has shut down. The example program
// (docs/examples/containers_map), run against the pin while the container's
// init loops in the shell, prints the container's name from inside the
// kernel.
#define BOOST_TEST_MODULE containers_map_agent
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <sys/stat.h>

#include "tests/integration/support/live_graph.hpp"
#include "tests/integration/support/pin_dir.hpp"
#include "tests/integration/support/runc_fixture.hpp"
#include "tests/support/temp_dir.hpp"

using namespace std::chrono_literals;
using nw::test::runc_container;

namespace {

/// A k8s container as containerd's CRI annotates it.
std::unique_ptr<runc_container> make_container(nw::test::runc_env& env,
                                               const std::string& id,
                                               const std::string& type) {
  auto c = std::make_unique<runc_container>(
    env,
    nw::test::bundle_options{
      {"/bin/sh", "-c", "while true; do sleep 0.05; done"}},
    id);
  auto& ann = c->bundle().config["annotations"];
  ann["io.kubernetes.cri.container-type"] = type;
  ann["io.kubernetes.cri.sandbox-namespace"] = "team-a";
  ann["io.kubernetes.cri.sandbox-name"] = "web-0";
  ann["io.kubernetes.cri.container-name"] = "web-" + id;
  ann["io.kubernetes.cri.sandbox-id"] = "sb-" + id;
  c->bundle().write_config();
  return c;
}

/// Starts containers until the agent reports one `added` (its marks may be
/// placed after the graph was spawned); null if none was within 20 s.
std::unique_ptr<runc_container> detected(nw::test::live_graph& agent,
                                         nw::test::runc_env& env,
                                         const std::string& type,
                                         nw::container_event& ev) {
  auto deadline = nw::test::runc_clock::now() + 20s;
  while (nw::test::runc_clock::now() < deadline) {
    auto c = make_container(env, env.unique_id("nwt-cmap"), type);
    c->create();
    c->read_pid();
    c->start();
    if (auto seen = agent.seen().wait(nw::event_kind::added, c->id(), 2000ms)) {
      ev = *seen;
      return c;
    }
  }
  return nullptr;
}

/// The dump's entries of our containers (ids "nwt-cmap-..."): other tests
/// may run containers of their own meanwhile.
std::map<uint64_t, nw::test::map_entry> ours(const std::string& pin) {
  auto all = nw::test::bpftool_dump(pin);
  std::map<uint64_t, nw::test::map_entry> out;
  for (auto& [k, v] : all)
    if (v.container_id.rfind("nwt-cmap", 0) == 0)
      out[k] = v;
  return out;
}

uint64_t mntns_of(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), &st) != 0)
    return 0;
  return st.st_ino;
}

std::string run_example(const std::string& pin, pid_t pid, int& rc) {
  auto cmd = std::string{NW_EXAMPLE_CONTAINERS_MAP} + " --pin '" + pin
             + "' --pid " + std::to_string(pid) + " --timeout-ms 5000 2>&1";
  std::string out;
  auto* p = ::popen(cmd.c_str(), "r");
  BOOST_TEST_REQUIRE(p != nullptr);
  char buf[1024];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  auto st = ::pclose(p);
  rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_pinned_map_follows_the_registry_and_is_unpinned) {
  nw::test::require_runc();
  nw::test::pin_dir pins{"agent"};
  nw::test::runc_env env;
  auto pin = pins.map_pin();
  {
    nw::graph_options opts;
    opts.pin_path = pins.path();
    nw::test::live_graph agent{opts};
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(pin.c_str(), &st) == 0, "no pin at " + pin);
    BOOST_TEST(ours(pin).empty());

    nw::container_event ev;
    auto c = detected(agent, env, "container", ev);
    BOOST_TEST_REQUIRE(static_cast<bool>(c), "no container was detected");
    auto mntns = ev.info->mntns;
    BOOST_TEST(mntns == mntns_of(c->init_pid()));
    BOOST_TEST(ev.info->name == "web-" + c->id());
    // The map was written before the ack, so before the held start went on.
    auto dump = ours(pin);
    BOOST_TEST_REQUIRE(dump.size() == 1u);
    BOOST_TEST_REQUIRE(dump.count(mntns) == 1u);
    BOOST_TEST(dump[mntns].container_id == c->id());
    BOOST_TEST(dump[mntns].container_name == "web-" + c->id());
    BOOST_TEST(dump[mntns].k8s_namespace == "team-a");
    BOOST_TEST(dump[mntns].k8s_pod == "web-0");

    // The example program, from inside the kernel: the init loops in the
    // shell, so it makes syscalls.
    int rc = -1;
    auto out = run_example(pin, c->init_pid(), rc);
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out.find("container_name=web-" + c->id() + " ")
                 != std::string::npos,
               out);
    BOOST_TEST(out.find("container_id=" + c->id()) != std::string::npos, out);
    BOOST_TEST(out.find("mntns=" + std::to_string(mntns)) != std::string::npos,
               out);

    // A sandbox is registered, and not mapped.
    nw::container_event sev;
    auto sandbox = detected(agent, env, "sandbox", sev);
    BOOST_TEST_REQUIRE(static_cast<bool>(sandbox), "no sandbox was detected");
    BOOST_TEST(sev.info->sandbox);
    dump = ours(pin);
    BOOST_TEST(dump.size() == 1u);
    BOOST_TEST(dump.count(sev.info->mntns) == 0u);
    // The example says so for the sandbox's init.
    out = run_example(pin, sandbox->init_pid(), rc);
    BOOST_TEST(rc == 1, out);
    BOOST_TEST(out.find("not in the containers map") != std::string::npos, out);

    // Removed: the entry goes (the map actor handles `removed` in parallel
    // with the tally, so wait for it, bounded).
    ::kill(c->init_pid(), SIGKILL);
    c->wait_exit();
    BOOST_TEST_REQUIRE(
      agent.seen().wait(nw::event_kind::removed, c->id(), 5000ms).has_value());
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!ours(pin).empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    BOOST_TEST(ours(pin).empty());
    c->remove();
    ::kill(sandbox->init_pid(), SIGKILL);
    sandbox->wait_exit();
    sandbox->remove();
  }
  // The graph is down (~actor_system waited for every actor): unpinned.
  struct stat st {};
  BOOST_TEST(::stat(pin.c_str(), &st) != 0, "the pin outlived the agent");
}

BOOST_AUTO_TEST_CASE(a_pin_path_off_bpffs_leaves_the_agent_running_without_it) {
  nw::test::pin_dir pins{"unused"}; // root and bpffs, or skipped
  nw::test::temp_dir tmp{"nw-cmap-agent"};
  nw::graph_options opts;
  opts.pin_path = tmp.path().string(); // not on a bpffs: logged, left out
  nw::test::live_graph agent{opts};    // throws if the graph did not start
  BOOST_TEST(!agent.edge_counters().empty(), "the edge does not answer");
  struct stat st {};
  BOOST_TEST(::stat((tmp.path() / "containers").c_str(), &st) != 0);
}
