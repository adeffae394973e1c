// runtime/kernel/tc_hook against the real kernel, on the CNI bridge model
// (tests/integration/support/netns_fixture.hpp): the shared dispatcher
// attached with libbpf to host-side veths shows up in `tc filter show` as
// CONTRACTS.md says (pref 20055, handle 0x1, nw_dispatch) and lets traffic
// through with its slot empty; detach removes exactly our filter (the clsact
// and foreign filters stay); remove_stale removes a crashed owner's filter
// and nobody else's; a missing interface is a clean error.
#define BOOST_TEST_MODULE tc_hook
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "runtime/kernel/tc_hook.hpp"
#include "runtime/kernel/tc_programs.hpp"
#include "tests/integration/support/netns_fixture.hpp"
#include "tests/support/skip.hpp"

namespace {

using nw::kernel::tc_direction;
using nw::kernel::tc_hook;
using nw::test::cni_bridge;
using nw::test::run;
using nw::test::run_ok;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string filters(const std::string& dev, const char* dir = "ingress") {
  return run_ok({"tc", "filter", "show", "dev", dev, dir});
}

/// Our filter is listed: priority 20055 and the program's name.
bool ours_listed(const std::string& dev, const char* dir = "ingress") {
  auto out = filters(dev, dir);
  return contains(out, "pref 20055") && contains(out, "nw_dispatch");
}

bool has_clsact(const std::string& dev) {
  return contains(run_ok({"tc", "qdisc", "show", "dev", dev}), "clsact");
}

/// A foreign filter at priority 100 (the tc CLI; a u32 that matches
/// everything and decides nothing: act_gact is not available here); the
/// clsact must exist.
void add_foreign(const std::string& dev) {
  run_ok({"tc", "filter", "add", "dev", dev, "ingress", "prio", "100",
          "protocol", "all", "u32", "match", "u32", "0", "0"});
}

bool foreign_listed(const std::string& dev) {
  return contains(filters(dev), "pref 100 u32");
}

std::unique_ptr<tc_hook> load() {
  std::string error;
  auto hook = tc_hook::load(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(hook), "load: " << error);
  return hook;
}

/// An interface's own counters (what `ip -s link` shows), from sysfs.
struct if_stats {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  bool operator==(const if_stats& o) const {
    return rx_packets == o.rx_packets && rx_bytes == o.rx_bytes
           && tx_packets == o.tx_packets && tx_bytes == o.tx_bytes;
  }
};

uint64_t read_stat(const std::string& dev, const char* name) {
  std::ifstream in{"/sys/class/net/" + dev + "/statistics/" + name};
  uint64_t v = 0;
  in >> v;
  BOOST_TEST_REQUIRE(!in.fail(), "cannot read " << name << " of " << dev);
  return v;
}

if_stats stats_of(const std::string& dev) {
  return {read_stat(dev, "rx_packets"), read_stat(dev, "rx_bytes"),
          read_stat(dev, "tx_packets"), read_stat(dev, "tx_bytes")};
}

uint64_t netns_inode(const std::string& name) {
  struct stat st {};
  BOOST_TEST_REQUIRE(::stat(("/var/run/netns/" + name).c_str(), &st) == 0);
  return st.st_ino;
}

struct setup {
  setup() {
    nw::test::require_ip();
  }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(setup);

BOOST_AUTO_TEST_CASE(attach_on_two_veths_lists_ours_and_traffic_flows) {
  cni_bridge net{2};
  BOOST_TEST_REQUIRE(net.ping(0, 1), "no traffic before any filter");
  auto hook = load();
  std::string error;
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST_REQUIRE(
      hook->attach(net.host_ifindex(i), tc_direction::ingress, error), error);
    BOOST_TEST_REQUIRE(
      hook->attach(net.host_ifindex(i), tc_direction::egress, error), error);
  }
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(ours_listed(net.host_veth(i)), filters(net.host_veth(i)));
    BOOST_TEST(ours_listed(net.host_veth(i), "egress"));
    BOOST_TEST(contains(filters(net.host_veth(i)), "handle 0x1"));
  }
  BOOST_TEST(hook->attached().size() == 4u);
  // Attaching again where we are is fine.
  BOOST_TEST(hook->attach(net.host_ifindex(0), tc_direction::ingress, error),
             error);
  // An empty slot: TC_ACT_UNSPEC, the packet goes on.
  BOOST_TEST(net.ping(0, 1), "traffic stopped with the dispatcher attached");
  BOOST_TEST(net.ping(1, 0));

  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(hook->detach(net.host_ifindex(i), tc_direction::ingress, error),
               error);
    BOOST_TEST(!ours_listed(net.host_veth(i)), filters(net.host_veth(i)));
    BOOST_TEST(has_clsact(net.host_veth(i)), "detach removed the clsact");
  }
  // Egress is still attached; the destructor detaches it.
  BOOST_TEST(ours_listed(net.host_veth(0), "egress"));
  hook.reset();
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(!ours_listed(net.host_veth(i), "egress"));
    BOOST_TEST(has_clsact(net.host_veth(i)));
  }
  BOOST_TEST(net.ping(0, 1));
}

BOOST_AUTO_TEST_CASE(detach_twice_is_a_clean_error) {
  cni_bridge net{1};
  auto hook = load();
  std::string error;
  auto ifindex = net.host_ifindex(0);
  BOOST_TEST_REQUIRE(hook->attach(ifindex, tc_direction::ingress, error),
                     error);
  BOOST_TEST_REQUIRE(hook->detach(ifindex, tc_direction::ingress, error),
                     error);
  error.clear();
  BOOST_TEST(!hook->detach(ifindex, tc_direction::ingress, error));
  BOOST_TEST(contains(error, "not attached"), error);
  BOOST_TEST(hook->attached().empty());
}

BOOST_AUTO_TEST_CASE(foreign_filter_is_left_alone) {
  cni_bridge net{2};
  auto hook = load();
  std::string error;
  auto dev = net.host_veth(0);
  auto ifindex = net.host_ifindex(0);
  BOOST_TEST_REQUIRE(hook->attach(ifindex, tc_direction::ingress, error),
                     error);
  add_foreign(dev);
  BOOST_TEST_REQUIRE(foreign_listed(dev), filters(dev));
  BOOST_TEST(ours_listed(dev));
  BOOST_TEST(net.ping(0, 1));

  // Our own live filter is not stale, the foreign one is not ours.
  auto removed = hook->remove_stale(ifindex, error);
  BOOST_TEST(removed == 0, error);
  BOOST_TEST(ours_listed(dev));
  BOOST_TEST(foreign_listed(dev));

  BOOST_TEST(hook->detach(ifindex, tc_direction::ingress, error), error);
  BOOST_TEST(!ours_listed(dev));
  BOOST_TEST(foreign_listed(dev), filters(dev));
  BOOST_TEST(has_clsact(dev));

  // A filter at our priority and handle that is not ours (a classic BPF
  // one from the tc CLI, "ret 0": no program name, no eBPF id): attach,
  // detach and remove_stale all leave it alone.
  run_ok({"tc", "filter", "add", "dev", dev, "ingress", "prio", "20055",
          "handle", "1", "protocol", "all", "bpf", "bytecode", "1,6 0 0 0"});
  BOOST_TEST_REQUIRE(contains(filters(dev), "pref 20055 bpf"), filters(dev));
  error.clear();
  BOOST_TEST(!hook->attach(ifindex, tc_direction::ingress, error));
  BOOST_TEST(contains(error, "is there already"), error);
  error.clear();
  BOOST_TEST(!hook->detach(ifindex, tc_direction::ingress, error));
  BOOST_TEST(!error.empty());
  BOOST_TEST(hook->remove_stale(ifindex, error) == 0, error);
  BOOST_TEST(contains(filters(dev), "bytecode"), filters(dev));
  BOOST_TEST(!contains(filters(dev), "nw_dispatch"));
  BOOST_TEST(foreign_listed(dev));
}

BOOST_AUTO_TEST_CASE(stale_filter_of_a_crashed_owner_is_removed) {
  cni_bridge net{2};
  std::string error;
  auto dev = net.host_veth(1);
  auto ifindex = net.host_ifindex(1);
  run_ok({"tc", "qdisc", "add", "dev", dev, "clsact"});
  add_foreign(dev);
  {
    // The "crashed" owner: attached, then gone without detaching.
    auto crashed = load();
    BOOST_TEST_REQUIRE(crashed->attach(ifindex, tc_direction::ingress, error),
                       error);
    BOOST_TEST_REQUIRE(crashed->attach(ifindex, tc_direction::egress, error),
                       error);
    crashed->release();
  }
  BOOST_TEST_REQUIRE(ours_listed(dev), "the stale filter did not outlive its "
                                       "owner: "
                                         << filters(dev));
  BOOST_TEST_REQUIRE(ours_listed(dev, "egress"));

  auto hook = load();
  // The stale filter blocks a plain attach, and the error says why.
  error.clear();
  BOOST_TEST(!hook->attach(ifindex, tc_direction::ingress, error));
  BOOST_TEST(contains(error, "remove_stale"), error);

  auto removed = hook->remove_stale(ifindex, error);
  BOOST_TEST(removed == 2, error);
  BOOST_TEST(!ours_listed(dev), filters(dev));
  BOOST_TEST(!ours_listed(dev, "egress"));
  BOOST_TEST(foreign_listed(dev));
  BOOST_TEST(has_clsact(dev));
  BOOST_TEST(hook->remove_stale(ifindex, error) == 0, error);

  // Now the new owner attaches there.
  BOOST_TEST(hook->attach(ifindex, tc_direction::ingress, error), error);
  BOOST_TEST(ours_listed(dev));
  BOOST_TEST(net.ping(1, 0));
}

BOOST_AUTO_TEST_CASE(missing_interface_is_a_clean_error) {
  auto hook = load();
  std::string error;
  // ifindex values are 32-bit and allocated upwards: this one is unused.
  const int missing = 0x7ffffff0;
  BOOST_TEST(!hook->attach(missing, tc_direction::ingress, error));
  BOOST_TEST(contains(error, "no interface with ifindex"), error);
  BOOST_TEST(contains(error, "No such device"), error);
  error.clear();
  BOOST_TEST(!hook->detach(missing, tc_direction::egress, error));
  BOOST_TEST(contains(error, "no interface with ifindex"), error);
  error.clear();
  BOOST_TEST(hook->remove_stale(missing, error) == -1);
  BOOST_TEST(contains(error, "no interface with ifindex"), error);
  BOOST_TEST(hook->attached().empty());
}

BOOST_AUTO_TEST_CASE(vanished_interface_is_a_clean_error) {
  auto hook = load();
  std::string error;
  int ifindex = 0;
  {
    cni_bridge net{1};
    ifindex = net.host_ifindex(0);
    BOOST_TEST_REQUIRE(hook->attach(ifindex, tc_direction::ingress, error),
                       error);
  }
  // The veth went with its namespace, and our filter with it.
  error.clear();
  BOOST_TEST(!hook->detach(ifindex, tc_direction::ingress, error));
  BOOST_TEST(contains(error, "no interface with ifindex"), error);
  BOOST_TEST(hook->attached().empty());
}

// The counters program in the slot counts each namespace's traffic from the
// container's point of view: its rx is what the host end of its veth sent
// (egress, inverted), its tx what that end received. Both sides are read
// until the interface stays still across a read of ours, so background
// packets (IPv6 neighbour discovery) cannot race the comparison.
BOOST_AUTO_TEST_CASE(counters_match_the_host_veths_counters) {
  cni_bridge net{2};
  auto hook = load();
  std::string error;
  auto counters = nw::kernel::net_counters::load(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(counters), error);
  BOOST_TEST_REQUIRE(hook->set_program(counters->prog_fd(), error), error);
  std::vector<uint64_t> netns;
  for (int i = 0; i < 2; ++i) {
    netns.push_back(netns_inode(net.netns(i)));
    BOOST_TEST_REQUIRE(counters->track(netns[i], error), error);
    BOOST_TEST_REQUIRE(
      hook->set_iface(net.host_ifindex(i), netns[i], true, error), error);
  }
  // Baselines: the interfaces count from their creation, we from attach.
  std::vector<if_stats> base;
  for (int i = 0; i < 2; ++i) {
    base.push_back(stats_of(net.host_veth(i)));
    for (auto dir : {tc_direction::ingress, tc_direction::egress})
      BOOST_TEST_REQUIRE(hook->attach(net.host_ifindex(i), dir, error), error);
  }
  // The interface may have moved between its baseline and our attach: take
  // the baseline again when it is still, with our counts at that moment.
  std::vector<nw_net_counters> ours_base(2);
  for (int i = 0; i < 2; ++i) {
    for (int tries = 0; tries < 100; ++tries) {
      auto before = stats_of(net.host_veth(i));
      nw_net_counters c{};
      BOOST_TEST_REQUIRE(counters->read(netns[i], c, error), error);
      if (stats_of(net.host_veth(i)) == before) {
        base[i] = before;
        ours_base[i] = c;
        break;
      }
    }
  }
  BOOST_TEST_REQUIRE(net.ping(0, 1));
  BOOST_TEST_REQUIRE(net.ping(1, 0));
  bool equal = false;
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST_CONTEXT("namespace " << i) {
      if_stats want, got;
      for (int tries = 0; tries < 100 && !equal; ++tries) {
        auto before = stats_of(net.host_veth(i));
        nw_net_counters c{};
        BOOST_TEST_REQUIRE(counters->read(netns[i], c, error), error);
        if (!(stats_of(net.host_veth(i)) == before))
          continue;
        // Host rx = container tx; host tx = container rx.
        want = {before.rx_packets - base[i].rx_packets,
                before.rx_bytes - base[i].rx_bytes,
                before.tx_packets - base[i].tx_packets,
                before.tx_bytes - base[i].tx_bytes};
        auto& ob = ours_base[i];
        got = {c.tx_packets - ob.tx_packets, c.tx_bytes - ob.tx_bytes,
               c.rx_packets - ob.rx_packets, c.rx_bytes - ob.rx_bytes};
        equal = want == got;
      }
      // `got` holds ours in the host end's terms (its rx = our tx).
      BOOST_TEST(equal, "host veth rx "
                          << want.rx_packets << "/" << want.rx_bytes << " tx "
                          << want.tx_packets << "/" << want.tx_bytes
                          << "; container tx " << got.rx_packets << "/"
                          << got.rx_bytes << " rx " << got.tx_packets << "/"
                          << got.tx_bytes);
      // A ping each way at least: two packets in, two out.
      BOOST_TEST(got.rx_packets >= 2u);
      BOOST_TEST(got.tx_packets >= 2u);
      equal = false;
    }
  }
  // Untracked: no entry, nothing counted, traffic still flows.
  BOOST_TEST(counters->untrack(netns[0], error), error);
  nw_net_counters c{};
  BOOST_TEST(!counters->read(netns[0], c, error));
  BOOST_TEST(net.ping(0, 1));
}

// A user's program: a clear error for a file that is not there, a section
// that is not in it, or a program of another type; the counters object
// itself loads as a user program and goes into the slot.
BOOST_AUTO_TEST_CASE(user_program_errors_are_clear) {
  std::string error;
  using nw::kernel::user_tc_program;
  BOOST_TEST(!user_tc_program::load("/nonexistent.o", "tc", error));
  BOOST_TEST(contains(error, "cannot open"), error);
  std::string objects = NW_BPF_OBJECT_DIR;
  error.clear();
  BOOST_TEST(
    !user_tc_program::load(objects + "/tc_counters.bpf.o", "nope", error));
  BOOST_TEST(contains(error, "no program in section or named 'nope'"), error);
  error.clear();
  BOOST_TEST(!user_tc_program::load(objects + "/execruntime.bpf.o",
                                    "tracepoint/syscalls/sys_enter_execve",
                                    error));
  BOOST_TEST(contains(error, "not sched_cls"), error);
  error.clear();
  auto prog
    = user_tc_program::load(objects + "/tc_counters.bpf.o", "tc", error);
  BOOST_TEST_REQUIRE(static_cast<bool>(prog), error);
  BOOST_TEST(prog->name() == "nw_net_counters");
  auto hook = load();
  BOOST_TEST(hook->set_program(prog->prog_fd(), error), error);
  BOOST_TEST(hook->set_program(-1, error), error);
}
