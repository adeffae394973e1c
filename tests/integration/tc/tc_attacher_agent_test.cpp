// The TC attacher in the real agent (issue 6, "Tests (real kernel)"), on the
// CNI bridge model (tests/integration/support/netns_fixture.hpp) with real
// runc containers driven as a shim does (runc_fixture.hpp):
// - a pod (a sandbox and an app sharing one netns): its host veth hooked
//   once (pref 20055, nw_dispatch, both hooks), still hooked when the first
//   container goes, unhooked when the second goes, the clsact left;
// - a container with two veths: both hooked, both unhooked;
// - its counters (the facade's `net`) equal the host veths' own counters,
//   inverted, summed over its veths;
// - a veth plumbed into a container's netns later is hooked (and one that
//   vanishes is forgotten);
// - a host-network container: nothing hooked, `net` says why;
// - the agent binary killed with SIGKILL leaves its filters; restarted, it
//   replaces them with its own (a new program id), and a clean stop leaves
//   none of ours; a foreign filter survives all of it;
// - `--tc-program` with the build's counters object loads and attaches
//   (`net` says the counters were replaced); a tracepoint program is a clear
//   error and the agent runs without TC.
// Every wait is on a condition with a deadline. Root only (skipped
// otherwise); ctest's `tc` and `fanotify` locks.
#define BOOST_TEST_MODULE tc_attacher_agent
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <net/if.h>
#include <sys/stat.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "tests/integration/support/netns_fixture.hpp"

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "tests/integration/support/live_graph.hpp"
#include "tests/integration/support/pin_dir.hpp"
#include "tests/integration/support/runc_fixture.hpp"

using namespace std::chrono_literals;
using nw::test::cni_bridge;
using nw::test::run;
using nw::test::run_ok;
using nw::test::runc_container;
using nw::test::runc_env;

namespace {

using clock_type = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Polls `done` until it holds or `limit` passed; whether it held.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  for (;;) {
    if (done())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

// -- the kernel's view: tc and sysfs ------------------------------------------

std::string filters(const std::string& dev, const char* dir) {
  return run({"tc", "filter", "show", "dev", dev, dir}).output;
}

/// The program ids of our filters (CONTRACTS.md: pref 20055, handle 0x1,
/// program nw_dispatch) on one hook of `dev`: libbpf-attached cls_bpf
/// filters are listed as `... pref 20055 bpf chain 0 handle 0x1
/// nw_dispatch:[ID] direct-action ... id ID name nw_dispatch ...`.
std::vector<uint32_t> our_ids(const std::string& dev, const char* dir) {
  std::vector<uint32_t> ids;
  std::istringstream in{filters(dev, dir)};
  for (std::string line; std::getline(in, line);) {
    if (!contains(line, "pref 20055") || !contains(line, "handle 0x1")
        || !contains(line, "nw_dispatch"))
      continue;
    auto at = line.find(" id ");
    ids.push_back(at == std::string::npos
                    ? 0u
                    : static_cast<uint32_t>(
                      std::strtoul(line.c_str() + at + 4, nullptr, 10)));
  }
  return ids;
}

/// Both hooks of an interface, as far as our filters go.
struct hooks {
  std::vector<uint32_t> ingress;
  std::vector<uint32_t> egress;

  /// Exactly one filter of ours per hook, the same program on both.
  bool once() const {
    return ingress.size() == 1 && egress.size() == 1 && ingress[0] == egress[0];
  }

  bool none() const {
    return ingress.empty() && egress.empty();
  }
};

hooks hooks_of(const std::string& dev) {
  return {our_ids(dev, "ingress"), our_ids(dev, "egress")};
}

/// Both hooks' listings, for failure messages.
std::string listing(const std::string& dev) {
  return "\n" + dev + " ingress:\n" + filters(dev, "ingress") + dev
         + " egress:\n" + filters(dev, "egress");
}

bool has_clsact(const std::string& dev) {
  return contains(run({"tc", "qdisc", "show", "dev", dev}).output, "clsact");
}

bool exists(const std::string& dev) {
  return ::if_nametoindex(dev.c_str()) != 0;
}

/// Every interface of the host's namespace.
std::vector<std::string> host_links() {
  std::vector<std::string> out;
  auto* list = ::if_nameindex();
  if (list == nullptr)
    return out;
  for (auto* i = list; i->if_index != 0; ++i)
    out.emplace_back(i->if_name);
  ::if_freenameindex(list);
  return out;
}

/// An interface's own counters (what `ip -s link` shows), from sysfs.
struct if_stats {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;

  bool operator==(const if_stats& o) const {
    return rx_packets == o.rx_packets && rx_bytes == o.rx_bytes
           && tx_packets == o.tx_packets && tx_bytes == o.tx_bytes;
  }

  if_stats& operator+=(const if_stats& o) {
    rx_packets += o.rx_packets;
    rx_bytes += o.rx_bytes;
    tx_packets += o.tx_packets;
    tx_bytes += o.tx_bytes;
    return *this;
  }

  if_stats operator-(const if_stats& o) const {
    return {rx_packets - o.rx_packets, rx_bytes - o.rx_bytes,
            tx_packets - o.tx_packets, tx_bytes - o.tx_bytes};
  }
};

std::ostream& operator<<(std::ostream& out, const if_stats& s) {
  return out << "rx " << s.rx_packets << "/" << s.rx_bytes << " tx "
             << s.tx_packets << "/" << s.tx_bytes;
}

uint64_t read_stat(const std::string& dev, const char* name) {
  std::ifstream in{"/sys/class/net/" + dev + "/statistics/" + name};
  uint64_t v = 0;
  in >> v;
  BOOST_TEST_REQUIRE(!in.fail(), "cannot read " << name << " of " << dev);
  return v;
}

/// The sum of the interfaces' counters.
if_stats stats_of(const std::vector<std::string>& devs) {
  if_stats sum;
  for (auto& dev : devs)
    sum += if_stats{read_stat(dev, "rx_packets"), read_stat(dev, "rx_bytes"),
                    read_stat(dev, "tx_packets"), read_stat(dev, "tx_bytes")};
  return sum;
}

uint64_t netns_inode(const std::string& name) {
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(("/var/run/netns/" + name).c_str(), &st) == 0);
  return st.st_ino;
}

/// Short names unique to this process (interface names are ≤ 15 bytes).
std::string unique_name(const std::string& prefix) {
  static int counter = 0;
  return prefix + std::to_string(::getpid() % 100000) + "x"
         + std::to_string(++counter);
}

/// A veth pair made as CNI does: the host end here (up), the other end in
/// `netns` (up there): made there (`move` false), or made here and then
/// moved there (`move` true). The host end (and with it the pair) is
/// deleted by the destructor if it is still there.
class extra_veth {
public:
  explicit extra_veth(const std::string& netns, bool move = false)
      : host_(unique_name("nwe")), peer_(unique_name("nwq")) {
    if (move) {
      run_ok(
        {"ip", "link", "add", host_, "type", "veth", "peer", "name", peer_});
      made_ = true;
      run_ok({"ip", "link", "set", peer_, "netns", netns});
    } else {
      run_ok({"ip", "link", "add", host_, "type", "veth", "peer", "name", peer_,
              "netns", netns});
      made_ = true;
    }
    run_ok({"ip", "-n", netns, "link", "set", peer_, "up"});
    run_ok({"ip", "link", "set", host_, "up"});
  }

  extra_veth(const extra_veth&) = delete;
  extra_veth& operator=(const extra_veth&) = delete;

  ~extra_veth() {
    if (made_ && exists(host_))
      run({"ip", "link", "del", host_});
  }

  const std::string& host() const {
    return host_;
  }

  /// Deletes the pair now.
  void remove() {
    run_ok({"ip", "link", "del", host_});
  }

private:
  std::string host_;
  std::string peer_;
  bool made_ = false;
};

/// A network namespace with no interface but `lo` (`ip netns add`),
/// deleted by the destructor.
class bare_netns {
public:
  bare_netns() : name_(unique_name("nw-bare-")) {
    run_ok({"ip", "netns", "add", name_});
  }

  bare_netns(const bare_netns&) = delete;
  bare_netns& operator=(const bare_netns&) = delete;

  ~bare_netns() {
    run({"ip", "netns", "del", name_});
  }

  const std::string& name() const {
    return name_;
  }

private:
  std::string name_;
};

// -- containers ---------------------------------------------------------------

/// A runc container that sleeps, in the network namespace
/// /var/run/netns/`netns` ("" = no network namespace entry: the host's),
/// annotated as containerd's CRI annotates a pod's `type` container.
std::unique_ptr<runc_container>
make_container(runc_env& env, const std::string& netns,
               const std::string& type = "container",
               const std::string& pod = "pod") {
  auto c = std::make_unique<runc_container>(
    env, nw::test::bundle_options{{"/bin/sleep", "600"}},
    env.unique_id("nwt-tca"));
  auto& config = c->bundle().config;
  auto kept = nlohmann::json::array();
  bool had_network = false;
  for (auto ns : config["linux"]["namespaces"]) {
    if (ns.value("type", "") == "network") {
      had_network = true;
      if (netns.empty())
        continue;
      ns["path"] = "/var/run/netns/" + netns;
    }
    kept.push_back(ns);
  }
  BOOST_TEST_REQUIRE(had_network, "runc spec has no network namespace");
  config["linux"]["namespaces"] = kept;
  auto& ann = config["annotations"];
  ann["io.kubernetes.cri.container-type"] = type;
  ann["io.kubernetes.cri.sandbox-namespace"] = "tc-test";
  ann["io.kubernetes.cri.sandbox-name"] = pod;
  ann["io.kubernetes.cri.sandbox-id"] = "sb-" + pod;
  ann["io.kubernetes.cri.container-name"] = type + "-" + c->id();
  c->bundle().write_config();
  return c;
}

// -- the agent graph in process -----------------------------------------------

/// The real agent graph with the TC attacher (opts.tc), a tally of what the
/// registry publishes, and the facade's and the attacher's answers.
class agent_graph {
public:
  agent_graph() : agent_graph(nw::graph_options{}) {}

  explicit agent_graph(nw::graph_options opts) : sys_(config(cfg_)) {
    opts.real_kernel = true;
    opts.tc = true;
    opts.poll_interval = 100ms;
    auto g = nw::spawn_graph(sys_, opts);
    // Boost.Test builds the message even when the check passes.
    BOOST_TEST_REQUIRE(static_cast<bool>(g),
                       "the agent graph did not start: "
                         << (g ? std::string{} : nw::render(g.error())));
    g_ = *g;
    if (!g_.tc) {
      g_.shutdown();
      BOOST_TEST_REQUIRE(false, "the TC attacher did not start (see the log)");
    }
    sub_ = caf::actor_cast<nw::subscriber_actor>(sys_.spawn(tally, seen_));
    caf::scoped_actor self{sys_};
    std::string error;
    self
      ->request(g_.registry, 10s, nw::subscribe_atom::value, nw::selector{},
                sub_)
      .receive([](const std::vector<nw::container_event>&) {},
               [&](caf::error& err) { error = nw::render(err); });
    g_.play();
    // Answered once `play` is in effect on the edge.
    self->request(g_.edge, 10s, nw::get_atom::value, nw::counters_atom::value)
      .receive([](nw::counters&) {},
               [&](caf::error& err) { error = nw::render(err); });
    if (!error.empty()) {
      stop();
      BOOST_TEST_REQUIRE(false, "the agent graph does not answer: " << error);
    }
  }

  agent_graph(const agent_graph&) = delete;
  agent_graph& operator=(const agent_graph&) = delete;

  ~agent_graph() {
    stop();
  }

  nw::test::event_tally& seen() {
    return *seen_;
  }

  /// The facade's `net` (every live container, sandboxes too).
  std::vector<nw::net_stats> net() {
    std::vector<nw::net_stats> out;
    std::string error;
    caf::scoped_actor self{sys_};
    self->request(g_.node, 10s, nw::net_atom::value, nw::selector{}, true)
      .receive([&](std::vector<nw::net_stats>& xs) { out = std::move(xs); },
               [&](caf::error& err) { error = nw::render(err); });
    BOOST_TEST_REQUIRE(error.empty(), "net: " << error);
    return out;
  }

  /// The attacher's own report (every container it tracks).
  std::vector<nw::net_stats> tc_net() {
    std::vector<nw::net_stats> out;
    std::string error;
    caf::scoped_actor self{sys_};
    self->request(g_.tc, 10s, nw::net_atom::value)
      .receive([&](std::vector<nw::net_stats>& xs) { out = std::move(xs); },
               [&](caf::error& err) { error = nw::render(err); });
    BOOST_TEST_REQUIRE(error.empty(), "the attacher's net: " << error);
    return out;
  }

  /// The attacher's counters.
  nw::counters tc_counters() {
    nw::counters out;
    std::string error;
    caf::scoped_actor self{sys_};
    self->request(g_.tc, 10s, nw::get_atom::value, nw::counters_atom::value)
      .receive([&](nw::counters& c) { out = std::move(c); },
               [&](caf::error& err) { error = nw::render(err); });
    BOOST_TEST_REQUIRE(error.empty(), "the attacher's counters: " << error);
    return out;
  }

  /// The row of `id` in `rows`, if any (a copy).
  static std::optional<nw::net_stats>
  row(const std::vector<nw::net_stats>& rows, const std::string& id) {
    for (auto& r : rows)
      if (r.id == id)
        return r;
    return std::nullopt;
  }

  /// Creates `c`, reads its pidfile (held by the agent), starts it and
  /// waits for its `added`.
  nw::container_event start(runc_container& c) {
    c.create();
    c.read_pid();
    c.start();
    auto ev = seen().wait(nw::event_kind::added, c.id(), 10000ms);
    BOOST_TEST_REQUIRE(ev.has_value(), "no `added` for " << c.id());
    return *ev;
  }

  /// Kills `c`'s init, waits for `removed` and for the attacher to have
  /// handled it (its row gone), then deletes the container.
  void remove(runc_container& c) {
    ::kill(c.init_pid(), SIGKILL);
    c.wait_exit();
    BOOST_TEST_REQUIRE(
      seen().wait(nw::event_kind::removed, c.id(), 10000ms).has_value(),
      "no `removed` for " << c.id());
    BOOST_TEST_REQUIRE(
      wait_until([&] { return !row(tc_net(), c.id()); }, 5000ms),
      "the attacher still reports " << c.id());
    c.remove();
  }

private:
  static caf::actor_system_config& config(caf::actor_system_config& cfg) {
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    nw::add_nodewatch_types(cfg);
    return cfg;
  }

  static nw::subscriber_actor::behavior_type
  tally(std::shared_ptr<nw::test::event_tally> t) {
    return {
      [t](nw::event_atom, const nw::container_event& ev) {
        t->push(ev);
        return nw::ack_atom::value;
      },
    };
  }

  void stop() {
    if (sub_)
      caf::anon_send_exit(sub_, caf::exit_reason::user_shutdown);
    g_.shutdown();
  }

  std::shared_ptr<nw::test::event_tally> seen_
    = std::make_shared<nw::test::event_tally>();
  caf::actor_system_config cfg_;
  caf::actor_system sys_;
  nw::graph g_;
  nw::subscriber_actor sub_;
};

std::string names(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

// -- the agent binary ---------------------------------------------------------

/// `nodewatch agent` as a node runs it, on a loopback port the kernel picks
/// (anonymous TLS: --insecure-loopback, as the client below) and a pin path
/// of its own; stdout and stderr go to one log file.
class agent_process {
public:
  agent_process(const std::string& log, const std::string& pin_path,
                const std::string& state_root,
                const std::vector<std::string>& extra = {})
      : log_(log) {
    std::vector<std::string> argv{
      NW_AGENT_BIN,         "agent",  "--listen",     "127.0.0.1:0",
      "--pin-path",         pin_path, "--state-root", state_root,
      "--poll-interval",    "100",    "-o",           "json",
      "--insecure-loopback"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::ofstream{log_, std::ios::trunc}; // this run's lines only
    child_ = std::make_unique<nw::test::child_process>(argv, log_);
  }

  /// What it printed so far.
  std::string log() const {
    std::ifstream in{log_};
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  /// Waits until it logs its facade's address; "127.0.0.1:PORT".
  std::string wait_listening() {
    std::string node;
    auto ok = wait_until(
      [&] {
        auto text = log();
        auto at = text.find("listen=127.0.0.1:");
        if (at == std::string::npos)
          return false;
        auto begin = at + 7;
        auto end = text.find_first_not_of("0123456789.:", begin);
        node = text.substr(begin, end - begin);
        return node.size() > 10;
      },
      20000ms);
    BOOST_TEST_REQUIRE(ok, "the agent does not listen: " << log());
    return node;
  }

  void kill9() {
    ::kill(child_->pid(), SIGKILL);
    auto st = child_->wait_until(clock_type::now() + 10s);
    BOOST_TEST_REQUIRE(st.has_value(), "the agent survived SIGKILL");
  }

  /// SIGTERM; its wait(2) status (throws if it does not stop within 15 s).
  int terminate() {
    ::kill(child_->pid(), SIGTERM);
    auto st = child_->wait_until(clock_type::now() + 15s);
    BOOST_TEST_REQUIRE(st.has_value(), "the agent did not stop on SIGTERM");
    return *st;
  }

private:
  std::string log_;
  std::unique_ptr<nw::test::child_process> child_;
};

/// `nodewatch --insecure-loopback --node NODE ARGS...`.
nw::test::command_result client(const std::string& node,
                                const std::vector<std::string>& args) {
  std::vector<std::string> argv{NW_AGENT_BIN, "--insecure-loopback", "--node",
                                node};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

/// A foreign filter on `dev`'s ingress at priority 100 (a u32 that matches
/// everything and decides nothing), the clsact being there.
void add_foreign(const std::string& dev) {
  run_ok({"tc", "filter", "add", "dev", dev, "ingress", "prio", "100",
          "protocol", "all", "u32", "match", "u32", "0", "0"});
}

bool foreign_listed(const std::string& dev) {
  return contains(filters(dev, "ingress"), "pref 100 u32");
}

struct setup {
  setup() {
    nw::test::require_runc();
    nw::test::require_ip();
  }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(setup);

// 1. A pod: one netns shared by a sandbox and an app. Its host veth is
//    hooked once (both hooks), stays hooked when the first container goes,
//    and is unhooked when the second goes; the clsact stays.
BOOST_AUTO_TEST_CASE(
  a_pods_veth_is_hooked_once_and_unhooked_with_its_last_user) {
  cni_bridge net{1};
  runc_env env;
  agent_graph agent;
  auto dev = net.host_veth(0);
  auto ns = netns_inode(net.netns(0));

  auto sandbox = make_container(env, net.netns(0), "sandbox", "pod-a");
  auto sev = agent.start(*sandbox);
  BOOST_TEST(sev.info->netns == ns);
  BOOST_TEST(!sev.info->host_network);
  BOOST_TEST_REQUIRE(wait_until([&] { return hooks_of(dev).once(); }, 5000ms),
                     "the sandbox's host veth is not hooked" << listing(dev));
  auto first = hooks_of(dev);
  BOOST_TEST(first.ingress[0] != 0u, "no program id" << listing(dev));
  auto r = agent_graph::row(agent.net(), sandbox->id());
  BOOST_TEST_REQUIRE(r.has_value(), "net has no row for the sandbox");
  BOOST_TEST(names(r->interfaces) == dev);
  BOOST_TEST(r->note == "");

  auto app = make_container(env, net.netns(0), "container", "pod-a");
  auto aev = agent.start(*app);
  BOOST_TEST(aev.info->netns == ns);
  // Wait until the attacher has the app (its ack came before the start was
  // released, but the tally runs beside it): still one filter per hook.
  BOOST_TEST_REQUIRE(wait_until(
    [&] { return agent_graph::row(agent.tc_net(), app->id()).has_value(); },
    5000ms));
  BOOST_TEST(hooks_of(dev).once(), listing(dev));
  BOOST_TEST(hooks_of(dev).ingress == first.ingress, listing(dev));
  r = agent_graph::row(agent.net(), app->id());
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(names(r->interfaces) == dev);
  auto c = agent.tc_counters();
  BOOST_TEST(c["tc_interfaces"] == 1u);
  BOOST_TEST(c["tc_netns"] == 1u);
  BOOST_TEST(c["tc_attached"] == 1u);

  // The sandbox goes first: the app still uses the namespace.
  agent.remove(*sandbox);
  BOOST_TEST(hooks_of(dev).once(), "unhooked with a user left" << listing(dev));
  BOOST_TEST(hooks_of(dev).ingress == first.ingress);
  BOOST_TEST(agent.tc_counters()["tc_detached"] == 0u);

  // The last user goes: our filters go, the clsact stays.
  agent.remove(*app);
  BOOST_TEST(wait_until([&] { return hooks_of(dev).none(); }, 5000ms),
             "still hooked after the pod's last container" << listing(dev));
  BOOST_TEST(has_clsact(dev), "the clsact was removed");
  c = agent.tc_counters();
  BOOST_TEST(c["tc_detached"] == 1u);
  BOOST_TEST(c["tc_detach_errors"] == 0u);
  BOOST_TEST(c["tc_interfaces"] == 0u);
  BOOST_TEST(c["tc_netns"] == 0u);
}

// 2. A container whose netns has two veths: both host ends hooked, both
//    unhooked on removal.
BOOST_AUTO_TEST_CASE(every_veth_of_a_container_is_hooked_and_unhooked) {
  cni_bridge net{1};
  extra_veth second{net.netns(0)};
  runc_env env;
  agent_graph agent;
  std::vector<std::string> devs{net.host_veth(0), second.host()};

  auto c = make_container(env, net.netns(0));
  agent.start(*c);
  for (auto& dev : devs)
    BOOST_TEST(wait_until([&] { return hooks_of(dev).once(); }, 5000ms),
               dev << " is not hooked" << listing(dev));
  auto r = agent_graph::row(agent.net(), c->id());
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((std::set<std::string>{r->interfaces.begin(), r->interfaces.end()}
              == std::set<std::string>{devs.begin(), devs.end()}),
             "net lists " << names(r->interfaces));
  BOOST_TEST(agent.tc_counters()["tc_interfaces"] == 2u);

  agent.remove(*c);
  for (auto& dev : devs) {
    BOOST_TEST(wait_until([&] { return hooks_of(dev).none(); }, 5000ms),
               dev << " is still hooked" << listing(dev));
    BOOST_TEST(has_clsact(dev), "the clsact of " << dev << " was removed");
  }
  BOOST_TEST(agent.tc_counters()["tc_detached"] == 2u);
}

// 3. Real traffic: a container's counters (the facade's `net`) move exactly
//    as its host veths' own counters do, inverted (its rx is what the host
//    ends transmitted), summed over its two veths. Both sides are read
//    while the interfaces stay still across the read, so background packets
//    (IPv6 neighbour discovery) cannot race the comparison.
BOOST_AUTO_TEST_CASE(counters_equal_the_host_veths_counters) {
  cni_bridge net{2};
  extra_veth second{net.netns(0)};
  runc_env env;
  agent_graph agent;
  std::vector<std::string> devs{net.host_veth(0), second.host()};

  auto c = make_container(env, net.netns(0));
  agent.start(*c);
  for (auto& dev : devs)
    BOOST_TEST_REQUIRE(wait_until([&] { return hooks_of(dev).once(); }, 5000ms),
                       dev << " is not hooked" << listing(dev));

  // Ours, in the host ends' terms (our rx is their tx).
  auto ours = [&](if_stats& out) {
    auto r = agent_graph::row(agent.net(), c->id());
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->note == "", r->note);
    out = {r->tx_packets, r->tx_bytes, r->rx_packets, r->rx_bytes};
  };
  // Both sides at a moment the host ends are still; false if they never
  // were within the deadline.
  auto still = [&](if_stats& host, if_stats& counted) {
    return wait_until(
      [&] {
        auto before = stats_of(devs);
        ours(counted);
        host = stats_of(devs);
        return host == before;
      },
      5000ms);
  };
  if_stats host_base, ours_base;
  BOOST_TEST_REQUIRE(still(host_base, ours_base),
                     "the host veths never stood still");

  // The deltas since `host_base` and `ours_base` at a moment the host
  // ends stand still, both in the host ends' terms; whether they were equal.
  if_stats want, got;
  auto measure = [&] {
    return wait_until(
      [&] {
        if_stats host, counted;
        if (!still(host, counted))
          return false;
        want = host - host_base;
        got = counted - ours_base;
        return want == got;
      },
      5000ms);
  };

  BOOST_TEST_REQUIRE(net.ping(0, 1), "no ping from the container's netns");
  BOOST_TEST_REQUIRE(net.ping(1, 0), "no ping into the container's netns");
  BOOST_TEST(measure(),
             "host veths' deltas " << want << "; ours (host terms) " << got);
  // A ping each way at least: two echo packets each way.
  BOOST_TEST(got.rx_packets >= 2u, got);
  BOOST_TEST(got.tx_packets >= 2u, got);

  // One way only, so that a direction mixed up cannot pass: the container
  // ignores echo requests, and gets an 8000-byte one (fragments) it does
  // not answer.
  BOOST_TEST_REQUIRE(still(host_base, ours_base));
  run_ok({"ip", "netns", "exec", net.netns(0), "/bin/busybox", "sysctl", "-w",
          "net.ipv4.icmp_echo_ignore_all=1"});
  auto unanswered
    = run({"ip", "netns", "exec", net.netns(1), "/bin/busybox", "ping", "-c",
           "1", "-s", "8000", "-W", "1", cni_bridge::address(0)});
  BOOST_TEST(!unanswered.ok(), "answered: " << unanswered.output);
  BOOST_TEST(measure(),
             "host veths' deltas " << want << "; ours (host terms) " << got);
  // The container's rx (the host ends' tx) has it; its tx is background
  // noise at most (IPv6 neighbour discovery).
  BOOST_TEST(got.tx_bytes >= 8000u, got);
  BOOST_TEST(got.tx_bytes > got.rx_bytes + 4000u, got);
  agent.remove(*c);
}

// 4. A container in a netns with no veth yet; CNI then plumbs one (the
//    peer moved into the netns, the host end up): it is hooked when netlink
//    reports it. When it vanishes, it is forgotten.
BOOST_AUTO_TEST_CASE(a_veth_that_appears_later_is_hooked) {
  bare_netns ns;
  runc_env env;
  agent_graph agent;

  auto c = make_container(env, ns.name());
  auto ev = agent.start(*c);
  BOOST_TEST(ev.info->netns == netns_inode(ns.name()));
  BOOST_TEST_REQUIRE(wait_until(
    [&] { return agent_graph::row(agent.tc_net(), c->id()).has_value(); },
    5000ms));
  auto r = agent_graph::row(agent.net(), c->id());
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->interfaces.empty());
  BOOST_TEST(r->note == "no veth yet");

  auto rescans = agent.tc_counters()["tc_link_rescans"];
  // Made on the host, then its peer moved into the namespace.
  extra_veth veth{ns.name(), true};
  BOOST_TEST(wait_until([&] { return hooks_of(veth.host()).once(); }, 5000ms),
             "the new host end is not hooked" << listing(veth.host()));
  BOOST_TEST(agent.tc_counters()["tc_link_rescans"] > rescans);
  BOOST_TEST(wait_until(
    [&] {
      auto rows = agent.net();
      auto r = agent_graph::row(rows, c->id());
      return r && names(r->interfaces) == veth.host() && r->note.empty();
    },
    5000ms));

  // It vanishes: forgotten (its filters went with it).
  veth.remove();
  BOOST_TEST(wait_until(
    [&] {
      auto rows = agent.net();
      auto r = agent_graph::row(rows, c->id());
      return r && r->interfaces.empty();
    },
    5000ms));
  auto counters = agent.tc_counters();
  BOOST_TEST(counters["tc_interfaces_vanished"] == 1u);
  BOOST_TEST(counters["tc_interfaces"] == 0u);

  // And the next one (made in the namespace) is hooked too; removal
  // unhooks it, the clsact stays.
  extra_veth again{ns.name()};
  BOOST_TEST(wait_until([&] { return hooks_of(again.host()).once(); }, 5000ms),
             listing(again.host()));
  agent.remove(*c);
  BOOST_TEST(wait_until([&] { return hooks_of(again.host()).none(); }, 5000ms),
             listing(again.host()));
  BOOST_TEST(has_clsact(again.host()));
}

// 5. A host-network container (no network namespace entry): nothing is
//    hooked, `net` says why.
BOOST_AUTO_TEST_CASE(a_host_network_container_is_not_hooked) {
  runc_env env;
  agent_graph agent;
  // Filters of ours on the host's interfaces before (none, unless another
  // agent runs outside ctest's locks) and after the container came.
  auto everywhere = [] {
    std::map<std::string, std::vector<uint32_t>> out;
    for (auto& dev : host_links()) {
      auto h = hooks_of(dev);
      if (!h.none())
        out[dev] = h.ingress.empty() ? h.egress : h.ingress;
    }
    return out;
  };
  auto before = everywhere();
  auto c = make_container(env, "");
  auto ev = agent.start(*c);
  BOOST_TEST(ev.info->host_network);
  BOOST_TEST_REQUIRE(wait_until(
    [&] { return agent_graph::row(agent.tc_net(), c->id()).has_value(); },
    5000ms));
  auto r = agent_graph::row(agent.net(), c->id());
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->note == "host network");
  BOOST_TEST(r->interfaces.empty());
  auto counters = agent.tc_counters();
  BOOST_TEST(counters["tc_host_network_skipped"] >= 1u);
  BOOST_TEST(counters["tc_interfaces"] == 0u);
  BOOST_TEST(counters["tc_netns"] == 0u);
  BOOST_TEST(counters["tc_attached"] == 0u);
  BOOST_TEST((everywhere() == before), "a filter of ours appeared");
  agent.remove(*c);
}

// 6. The agent binary killed with SIGKILL leaves its filters (TC filters
//    outlive their process); restarted, it removes them as stale and hooks
//    the still-running container with its own dispatcher (a new program
//    id), once per hook; a clean stop (SIGTERM) leaves no filter of ours and
//    the clsact. A foreign filter at another priority survives it all.
BOOST_AUTO_TEST_CASE(stale_filters_of_a_killed_agent_are_replaced) {
  cni_bridge net{1};
  runc_env env;
  nw::test::pin_dir pins{"tc-agent"};
  auto dev = net.host_veth(0);

  // Running before either agent: their start-up scans find it (runc's
  // state under env.root()).
  auto c = make_container(env, net.netns(0));
  c->create();
  c->read_pid();
  c->start();
  agent_process first{(env.dir() / "first.log").string(), pins.path(),
                      env.root().string()};
  first.wait_listening();
  BOOST_TEST_REQUIRE(wait_until([&] { return hooks_of(dev).once(); }, 10000ms),
                     "the first agent did not hook " << dev << listing(dev)
                                                     << "\n"
                                                     << first.log());
  auto old = hooks_of(dev);
  add_foreign(dev);
  BOOST_TEST_REQUIRE(foreign_listed(dev), listing(dev));

  first.kill9();
  auto left = hooks_of(dev);
  BOOST_TEST(left.once(),
             "the filters did not outlive the killed agent" << listing(dev));
  BOOST_TEST(left.ingress == old.ingress);
  BOOST_TEST(foreign_listed(dev));

  agent_process second{(env.dir() / "second.log").string(), pins.path(),
                       env.root().string()};
  auto node = second.wait_listening();
  BOOST_TEST(wait_until(
               [&] {
                 auto now = hooks_of(dev);
                 return now.once() && now.ingress[0] != old.ingress[0];
               },
               10000ms),
             "the stale filters were not replaced by the new agent's"
               << listing(dev) << "\n"
               << second.log());
  BOOST_TEST(contains(second.log(), "removed a stale TC filter of ours"),
             second.log());
  BOOST_TEST(foreign_listed(dev), listing(dev));
  auto ps = client(node, {"ps", "-o", "json"});
  BOOST_TEST(contains(ps.output, c->id()), ps.output);

  auto st = second.terminate();
  BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0),
             nw::test::runc_detail::describe_status(st)
               << ": " << second.log());
  BOOST_TEST(hooks_of(dev).none(),
             "filters of ours after a clean stop" << listing(dev));
  BOOST_TEST(has_clsact(dev), "the clsact was removed");
  BOOST_TEST(foreign_listed(dev), listing(dev));

  ::kill(c->init_pid(), SIGKILL);
  c->wait_exit();
  c->remove();
}

// 7. `--tc-program` with the build's own counters object: loaded, attached,
//    and `net` says the counters were replaced. A tracepoint program: a
//    clear error, and the agent runs without TC.
BOOST_AUTO_TEST_CASE(a_user_program_is_attached_and_a_bad_one_refused) {
  cni_bridge net{1};
  runc_env env;
  nw::test::pin_dir pins{"tc-prog"};
  auto dev = net.host_veth(0);
  auto log = (env.dir() / "agent.log").string();
  std::string objects = NW_BPF_OBJECT_DIR;

  // Running before the agent: its start-up scan finds it.
  auto c = make_container(env, net.netns(0));
  c->create();
  c->read_pid();
  c->start();
  {
    agent_process agent{log,
                        pins.path(),
                        env.root().string(),
                        {"--tc-program", objects + "/tc_counters.bpf.o:tc"}};
    auto node = agent.wait_listening();
    BOOST_TEST_REQUIRE(
      wait_until([&] { return hooks_of(dev).once(); }, 10000ms),
      "not hooked with --tc-program" << listing(dev) << "\n"
                                     << agent.log());
    BOOST_TEST(contains(agent.log(), "the dispatcher calls a user program"),
               agent.log());
    auto out = client(node, {"net"});
    BOOST_TEST(out.ok(), out.output);
    BOOST_TEST(contains(out.output, "no counters: --tc-program replaced them"),
               out.output);
    auto st = agent.terminate();
    BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0), agent.log());
    BOOST_TEST(hooks_of(dev).none(), listing(dev));
  }
  {
    agent_process agent{
      log,
      pins.path(),
      env.root().string(),
      {"--tc-program",
       objects + "/execruntime.bpf.o:tracepoint/syscalls/sys_enter_execve"}};
    auto node = agent.wait_listening();
    BOOST_TEST(contains(agent.log(), "running without TC"), agent.log());
    BOOST_TEST(contains(agent.log(), "not sched_cls"), agent.log());
    // Running without TC: the scan registers the container, nothing hooks.
    BOOST_TEST(wait_until(
      [&] {
        return contains(client(node, {"ps", "-o", "json"}).output, c->id());
      },
      10000ms));
    BOOST_TEST(hooks_of(dev).none(), listing(dev));
    auto out = client(node, {"net"});
    BOOST_TEST(!out.ok(), out.output);
    BOOST_TEST(contains(out.output, "runs without TC"), out.output);
    auto st = agent.terminate();
    BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0), agent.log());
  }
  ::kill(c->init_pid(), SIGKILL);
  c->wait_exit();
  c->remove();
}
