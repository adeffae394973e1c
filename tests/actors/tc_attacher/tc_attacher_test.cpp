// The TC attacher on CAF's deterministic scheduler, in front of a real
// registry, with a scripted port (the kernel): hooks exist before `added`
// is answered; a pod's containers share one namespace's hooks until the
// last is gone; every veth of a namespace is hooked, later ones when the
// port reports a link change, vanished ones forgotten; host-network
// containers skipped; `--tc-iface` hooks host interfaces (later when they
// appear); a namespace that cannot be opened or an interface that cannot be
// hooked is a note and a counter for that container only; `net` reports the
// port's counts; the port is destroyed (everything unhooked) with the actor;
// a port that cannot start is an error from spawn.
#define BOOST_TEST_MODULE tc_attacher
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/tc_attacher/tc_attacher.hpp"
#include "tests/support/registry_fixture.hpp"

using namespace nw;

namespace {

constexpr uint64_t host_ns = 4026531840;

/// The scripted kernel, shared by the port (owned by the actor) and the test.
struct kernel_script {
  /// Host links: ifindex → (name, netns of the peer; 0: a host interface).
  std::map<int, std::pair<std::string, uint64_t>> links;
  /// pid → its netns.
  std::map<uint32_t, uint64_t> pids{{0, host_ns}};
  std::set<uint64_t> open;
  /// Hooked ifindex → (netns, peer).
  std::map<int, std::pair<uint64_t, bool>> hooked;
  std::set<int> refuse_attach;
  std::map<uint64_t, tc_counts> counts;
  std::function<void()> on_change;
  bool start_fails = false;
  bool destroyed = false;
  int opens = 0;
  int attaches = 0;
  int detaches = 0;

  void add_link(int ifindex, std::string name, uint64_t peer_ns) {
    links[ifindex] = {std::move(name), peer_ns};
  }
};

class scripted_port : public tc_port {
public:
  explicit scripted_port(std::shared_ptr<kernel_script> k) : k_(std::move(k)) {}

  ~scripted_port() override {
    k_->hooked.clear(); // like tc_hook's destructor
    k_->destroyed = true;
  }

  bool start(std::function<void()> cb, std::string& error) override {
    if (k_->start_fails) {
      error = "scripted refusal";
      return false;
    }
    k_->on_change = std::move(cb);
    return true;
  }
  uint64_t stale_removed() const override {
    return 2;
  }
  uint64_t host_netns() const override {
    return host_ns;
  }
  bool open_netns(uint64_t netns, uint32_t pid, std::string& error) override {
    auto i = k_->pids.find(pid);
    if (i == k_->pids.end() || i->second != netns) {
      error = "no such process";
      return false;
    }
    ++k_->opens;
    k_->open.insert(netns);
    k_->counts.emplace(netns, tc_counts{});
    return true;
  }
  void close_netns(uint64_t netns) override {
    k_->open.erase(netns);
    k_->counts.erase(netns);
  }
  bool peers(std::map<uint64_t, std::vector<tc_iface>>& out,
             std::string&) override {
    for (auto& [ifindex, link] : k_->links)
      if (link.second != 0 && k_->open.count(link.second) != 0)
        out[link.second].push_back({ifindex, link.first});
    return true;
  }
  bool host_iface(const std::string& name, tc_iface& out,
                  std::string& error) override {
    for (auto& [ifindex, link] : k_->links)
      if (link.first == name && link.second == 0) {
        out = {ifindex, name};
        return true;
      }
    error = "no interface " + name;
    return false;
  }
  bool attach(const tc_iface& iface, uint64_t netns, bool peer,
              std::string& error) override {
    if (k_->refuse_attach.count(iface.ifindex) != 0) {
      error = "scripted: ENODEV";
      return false;
    }
    ++k_->attaches;
    k_->hooked[iface.ifindex] = {netns, peer};
    return true;
  }
  bool detach(const tc_iface& iface, std::string&) override {
    ++k_->detaches;
    k_->hooked.erase(iface.ifindex);
    return true;
  }
  bool read(uint64_t netns, tc_counts& out, std::string& error) override {
    auto i = k_->counts.find(netns);
    if (i == k_->counts.end()) {
      error = "untracked";
      return false;
    }
    out = i->second;
    return true;
  }

private:
  std::shared_ptr<kernel_script> k_;
};

struct fixture : test::registry_fixture {
  std::shared_ptr<kernel_script> k = std::make_shared<kernel_script>();
  tc_attacher_actor tc;

  fixture() {
    reg = track(spawn_registry(sys, rcfg));
    run();
  }

  void start(std::vector<std::string> host_ifaces = {}) {
    auto h = spawn_tc_attacher(
      sys, tc_attacher_config{reg, std::make_unique<scripted_port>(k),
                              std::move(host_ifaces)});
    BOOST_REQUIRE_MESSAGE(h, "spawn: " << (h ? "" : render(h.error())));
    tc = track(*h);
    run();
  }

  container_info make(std::string id, uint64_t netns, uint32_t pid) {
    container_info x;
    x.id = std::move(id);
    x.name = x.id + "-name";
    x.pid = pid;
    x.mntns = 5000000 + pid; // its own: the registry refuses shared ones
    x.netns = netns;
    x.runtime = "runc";
    k->pids[pid] = netns;
    return x;
  }

  std::vector<net_stats> net() {
    return ask<std::vector<net_stats>>(tc, net_atom::value).value();
  }

  uint64_t tc_stat(const std::string& name) {
    auto all = ask<counters>(tc, get_atom::value, counters_atom::value).value();
    auto i = all.find(name);
    BOOST_REQUIRE_MESSAGE(i != all.end(), "no counter " << name);
    return i->second;
  }

  void links_changed() {
    k->on_change();
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(tc_attacher, fixture)

BOOST_AUTO_TEST_CASE(hooks_every_veth_before_added_is_answered) {
  start();
  k->add_link(7, "vethA1", 100);
  k->add_link(8, "vethA2", 100); // a second interface of the same container
  k->add_link(9, "vethB", 200);  // another container's
  auto r = add_async(make("a", 100, 4100));
  // The registry holds the add until the attacher acks: by then, hooked.
  run();
  BOOST_REQUIRE(r->ok());
  BOOST_TEST(k->hooked.size() == 2u);
  BOOST_TEST(k->hooked.at(7).first == 100u);
  BOOST_TEST(k->hooked.at(7).second, "a veth's host end: peer (inverted)");
  BOOST_TEST(k->hooked.count(9) == 0u, "another namespace's veth");
  BOOST_TEST(tc_stat("tc_stale_removed") == 2u);
  BOOST_TEST(tc_stat("tc_interfaces") == 2u);
  auto rows = net();
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows[0].interfaces
               == (std::vector<std::string>{"vethA1", "vethA2"}),
             boost::test_tools::per_element());
  BOOST_TEST(remove("a"));
  run();
  BOOST_TEST(k->hooked.empty());
  BOOST_TEST(k->open.empty());
  BOOST_TEST(k->detaches == 2);
  BOOST_TEST(net().empty());
}

BOOST_AUTO_TEST_CASE(a_pods_containers_share_hooks_until_both_are_gone) {
  start();
  k->add_link(7, "vethP", 300);
  add(make("sandbox", 300, 4200));
  add(make("app", 300, 4201));
  BOOST_TEST(k->opens == 1);
  BOOST_TEST(k->attaches == 1);
  k->counts[300] = {1, 100, 2, 200};
  for (auto& row : net()) {
    BOOST_TEST(row.rx_packets == 1u);
    BOOST_TEST(row.tx_bytes == 200u);
  }
  BOOST_TEST(remove("sandbox"));
  run();
  BOOST_TEST(k->hooked.count(7) == 1u, "unhooked while app still uses it");
  BOOST_TEST(remove("app"));
  run();
  BOOST_TEST(k->hooked.empty());
  BOOST_TEST(k->detaches == 1);
}

BOOST_AUTO_TEST_CASE(
  interfaces_that_appear_later_are_hooked_and_vanished_ones_forgotten) {
  start();
  add(make("late", 400, 4300)); // CNI has not plumbed it yet
  BOOST_TEST(k->hooked.empty());
  BOOST_TEST(net().at(0).note == "no veth yet");
  k->add_link(11, "vethL", 400);
  k->add_link(12, "vethM", 400);
  // A burst of reports is one rescan.
  k->on_change();
  k->on_change();
  links_changed();
  BOOST_TEST(k->hooked.size() == 2u);
  BOOST_TEST(tc_stat("tc_link_rescans") == 1u);
  k->links.erase(11);
  links_changed();
  BOOST_TEST(k->hooked.count(11) == 0u);
  BOOST_TEST(tc_stat("tc_interfaces_vanished") == 1u);
  BOOST_TEST(net().at(0).interfaces == (std::vector<std::string>{"vethM"}),
             boost::test_tools::per_element());
  // An ifindex reused by another interface is a new interface.
  k->links[12].first = "vethN";
  links_changed();
  BOOST_TEST(net().at(0).interfaces == (std::vector<std::string>{"vethN"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(host_network_and_unknown_namespaces_are_skipped) {
  start();
  auto h = make("hostnet", host_ns, 4400);
  h.host_network = true;
  add(h);
  auto none = make("nonet", 0, 4401);
  add(none);
  BOOST_TEST(k->opens == 0);
  auto rows = net();
  BOOST_REQUIRE(rows.size() == 2u);
  BOOST_TEST(rows[0].note == "host network");
  BOOST_TEST(rows[1].note == "no network namespace known");
  BOOST_TEST(tc_stat("tc_host_network_skipped") == 1u);
}

BOOST_AUTO_TEST_CASE(errors_stay_with_their_container) {
  start();
  k->add_link(21, "vethOK", 500);
  k->add_link(22, "vethBad", 600);
  k->refuse_attach.insert(22);
  auto gone = make("gone", 700, 4500);
  k->pids.erase(4500); // exited before we looked
  add(gone);
  add(make("ok", 500, 4501));
  add(make("bad", 600, 4502));
  BOOST_TEST(tc_stat("tc_netns_errors") == 1u);
  BOOST_TEST(tc_stat("tc_attach_errors") == 1u);
  auto rows = net();
  BOOST_REQUIRE(rows.size() == 3u);
  BOOST_TEST(rows[0].id == "bad");
  BOOST_TEST(rows[0].note.find("attach vethBad failed") == 0u, rows[0].note);
  BOOST_TEST(rows[1].id == "gone");
  BOOST_TEST(rows[1].note.find("netns: no such process") == 0u, rows[1].note);
  BOOST_TEST(rows[2].note == "");
  BOOST_TEST(k->hooked.count(21) == 1u);
  // The refused interface is tried again on the next link change.
  k->refuse_attach.clear();
  links_changed();
  BOOST_TEST(k->hooked.count(22) == 1u);
  BOOST_TEST(net().at(0).note == "");
}

BOOST_AUTO_TEST_CASE(host_interfaces_are_hooked_when_they_exist) {
  k->add_link(2, "eth0", 0);
  start({"eth0", "eth9"});
  BOOST_TEST(k->hooked.count(2) == 1u);
  BOOST_TEST(!k->hooked.at(2).second, "a host interface is not inverted");
  BOOST_TEST(k->hooked.at(2).first == host_ns);
  k->add_link(9, "eth9", 0);
  links_changed();
  BOOST_TEST(k->hooked.count(9) == 1u);
  // A host-network container's row says so; the host hooks stay.
  auto h = make("hostnet", host_ns, 4600);
  h.host_network = true;
  add(h);
  BOOST_TEST(remove("hostnet"));
  run();
  BOOST_TEST(k->hooked.size() == 2u);
}

BOOST_AUTO_TEST_CASE(containers_already_there_are_hooked_at_start) {
  k->add_link(31, "vethOld", 800);
  add(make("old", 800, 4700));
  start();
  BOOST_TEST(k->hooked.count(31) == 1u);
}

BOOST_AUTO_TEST_CASE(the_port_goes_with_the_actor) {
  start();
  k->add_link(41, "vethX", 900);
  add(make("x", 900, 4800));
  BOOST_TEST(k->hooked.size() == 1u);
  kill(tc);
  BOOST_TEST(k->destroyed);
  BOOST_TEST(k->hooked.empty());
  BOOST_TEST(k->open.empty());
}

BOOST_AUTO_TEST_CASE(a_port_that_cannot_start_is_an_error) {
  k->start_fails = true;
  auto h = spawn_tc_attacher(
    sys, tc_attacher_config{reg, std::make_unique<scripted_port>(k), {}});
  BOOST_REQUIRE(!h);
  BOOST_TEST(render(h.error()).find("scripted refusal") != std::string::npos);
  BOOST_TEST(k->destroyed);
}

BOOST_AUTO_TEST_SUITE_END()
