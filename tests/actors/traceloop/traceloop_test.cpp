// The traceloop actor on CAF's deterministic scheduler, in front of a real
// registry, with a scripted port: a selected container's ring exists and is
// routed before `added` is answered; sandboxes and unselected containers
// get none; `removed` unroutes but keeps the ring for reading; show
// resolves id, prefix and name (gone containers too) and names candidates
// when ambiguous or unknown; delete frees; the budget evicts the least
// recently gone ring first and refuses when only live rings are left;
// start/stop change the selection at run time; the port goes with the
// actor.
#define BOOST_TEST_MODULE traceloop
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/traceloop/traceloop.hpp"
#include "tests/support/registry_fixture.hpp"

using namespace nw;
using nw::test::code_of;
using nw::test::sel;

namespace {

struct kernel_script {
  std::set<uint64_t> rings;
  /// mntns → ring.
  std::map<uint64_t, uint64_t> routes;
  /// What a read of each ring gives.
  std::map<uint64_t, std::vector<syscall_line>> contents;
  bool create_fails = false;
  bool destroyed = false;
};

class scripted_port : public traceloop_port {
public:
  explicit scripted_port(std::shared_ptr<kernel_script> k) : k_(std::move(k)) {}
  ~scripted_port() override {
    k_->destroyed = true;
  }
  bool start(std::string&) override {
    return true;
  }
  uint64_t ring_bytes() const override {
    return 1000;
  }
  bool create(uint64_t ring, std::string& error) override {
    if (k_->create_fails) {
      error = "scripted: ENOMEM";
      return false;
    }
    k_->rings.insert(ring);
    return true;
  }
  bool route(uint64_t mntns, uint64_t ring, std::string&) override {
    k_->routes[mntns] = ring;
    return true;
  }
  bool unroute(uint64_t mntns, std::string&) override {
    k_->routes.erase(mntns);
    return true;
  }
  void read(uint64_t ring, traceloop::ring_read& out) override {
    for (auto& line : k_->contents[ring]) {
      traceloop::syscall_record r;
      r.comm = line.comm; // what the scripted decoder turns back into a line
      out.records.push_back(r);
    }
    out.overwritten = 3;
    out.lost = 1;
  }
  std::function<syscall_line(const traceloop::syscall_record&)>
  decoder() const override {
    return [](const traceloop::syscall_record& r) {
      syscall_line line;
      line.comm = r.comm;
      line.syscall = "scripted";
      return line;
    };
  }
  void destroy(uint64_t ring) override {
    k_->rings.erase(ring);
  }

private:
  std::shared_ptr<kernel_script> k_;
};

struct fixture : test::registry_fixture {
  std::shared_ptr<kernel_script> k = std::make_shared<kernel_script>();
  traceloop_actor tl;

  fixture() {
    reg = track(spawn_registry(sys, rcfg));
    run();
  }

  void start(std::optional<selector> select = selector{},
             uint64_t budget = 10'000) {
    traceloop_config cfg;
    cfg.registry = reg;
    cfg.port = std::make_unique<scripted_port>(k);
    cfg.select = std::move(select);
    cfg.budget = budget;
    tl = track(spawn_traceloop(sys, std::move(cfg)));
    run();
  }

  container_info make(std::string id, std::string name, uint64_t mntns,
                      std::string ns = "default", bool sandbox = false) {
    container_info x;
    x.id = std::move(id);
    x.name = std::move(name);
    x.pid = static_cast<uint32_t>(mntns % 100000);
    x.mntns = mntns;
    x.netns = mntns + 1;
    x.runtime = "runc";
    x.k8s.namespace_ = std::move(ns);
    x.sandbox = sandbox;
    return x;
  }

  std::vector<traceloop_ring_info> list() {
    return ask<std::vector<traceloop_ring_info>>(tl, traceloop_atom::value,
                                                 list_atom::value)
      .value();
  }

  test::reply<traceloop_dump> show(const std::string& q) {
    return ask<traceloop_dump>(tl, traceloop_atom::value, get_atom::value, q);
  }

  uint64_t stat(const std::string& name) {
    auto all = ask<counters>(tl, get_atom::value, counters_atom::value).value();
    auto i = all.find(name);
    BOOST_REQUIRE_MESSAGE(i != all.end(), "no counter " << name);
    return i->second;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(traceloop_suite, fixture)

BOOST_AUTO_TEST_CASE(routed_before_added_is_answered_and_kept_after_removal) {
  start();
  auto r = add_async(make("c0ffee01", "web", 7001));
  run();
  BOOST_REQUIRE(r->ok());
  BOOST_TEST(k->routes.count(7001) == 1u);
  BOOST_TEST(k->rings.size() == 1u);
  syscall_line marker;
  marker.comm = "marker";
  k->contents[k->routes[7001]] = {marker};
  BOOST_TEST(remove("c0ffee01"));
  run();
  BOOST_TEST(k->routes.empty(), "a gone container is unrouted");
  BOOST_TEST(k->rings.size() == 1u, "its ring stays for post-mortem reads");
  auto rows = list();
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(!rows[0].live);
  auto d = show("web");
  BOOST_REQUIRE(d.ok());
  BOOST_REQUIRE(d.value().lines.size() == 1u);
  BOOST_TEST(d.value().lines[0].comm == "marker");
  BOOST_TEST(d.value().lines[0].syscall == "scripted");
  BOOST_TEST(d.value().overwritten == 3u);
  BOOST_TEST(d.value().lost == 1u);
  BOOST_TEST(d.value().ring.id == "c0ffee01");
}

BOOST_AUTO_TEST_CASE(sandboxes_and_unselected_containers_get_no_ring) {
  start(sel("namespace=shop"));
  add(make("s1", "pause", 7101, "shop", true));
  add(make("a1", "cart", 7102, "shop"));
  add(make("b1", "other", 7103, "default"));
  BOOST_TEST(k->routes.size() == 1u);
  BOOST_TEST(k->routes.count(7102) == 1u);
}

BOOST_AUTO_TEST_CASE(none_traces_nothing_until_start_and_stop_unroutes) {
  start(std::nullopt);
  add(make("a1", "one", 7201));
  add(make("a2", "two", 7202, "shop"));
  BOOST_TEST(k->routes.empty());
  auto n = ask<uint64_t>(tl, traceloop_atom::value, start_atom::value,
                         sel("namespace=shop"))
             .value();
  BOOST_TEST(n == 1u);
  BOOST_TEST(k->routes.count(7202) == 1u);
  // New containers that match are traced too.
  add(make("a3", "three", 7203, "shop"));
  BOOST_TEST(k->routes.count(7203) == 1u);
  // A new selection replaces the old: a2 and a3 no longer match.
  auto again = ask<uint64_t>(tl, traceloop_atom::value, start_atom::value,
                             sel("container=one"))
                 .value();
  BOOST_TEST(again == 1u);
  BOOST_TEST(k->routes.size() == 1u);
  BOOST_TEST(k->routes.count(7201) == 1u);
  auto stopped
    = ask<uint64_t>(tl, traceloop_atom::value, stop_atom::value).value();
  BOOST_TEST(stopped == 1u);
  BOOST_TEST(k->routes.empty());
  BOOST_TEST(k->rings.size() == 3u, "rings stay after stop");
  add(make("a4", "four", 7204, "shop"));
  BOOST_TEST(k->routes.empty());
}

BOOST_AUTO_TEST_CASE(show_resolves_and_names_candidates) {
  start();
  add(make("abc111", "web", 7301));
  add(make("abc222", "web", 7302));
  add(make("def333", "db", 7303));
  BOOST_TEST(show("def").ok());
  BOOST_TEST(show("db").ok());
  auto amb = show("abc");
  BOOST_TEST(code_of(amb.err) == errc::ambiguous_container);
  BOOST_TEST(render(amb.err).find("abc111 (web)") != std::string::npos,
             render(amb.err));
  BOOST_TEST(code_of(show("web").err) == errc::ambiguous_container);
  auto none = show("zzz");
  BOOST_TEST(code_of(none.err) == errc::unknown_container);
  BOOST_TEST(render(none.err).find("rings: abc111 (web)") != std::string::npos,
             render(none.err));
}

BOOST_AUTO_TEST_CASE(delete_frees_the_ring) {
  start();
  add(make("d1", "gone-soon", 7401));
  auto info = ask<traceloop_ring_info>(tl, traceloop_atom::value,
                                       remove_atom::value, std::string{"d1"})
                .value();
  BOOST_TEST(info.id == "d1");
  BOOST_TEST(k->rings.empty());
  BOOST_TEST(k->routes.empty(), "a live container's ring is unrouted first");
  BOOST_TEST(list().empty());
  BOOST_TEST(stat("traceloop_rings_deleted") == 1u);
  BOOST_TEST(code_of(show("d1").err) == errc::unknown_container);
}

BOOST_AUTO_TEST_CASE(the_budget_evicts_the_least_recently_gone_first) {
  start(selector{}, 3000); // three rings of 1000 bytes
  add(make("e1", "one", 7501));
  add(make("e2", "two", 7502));
  add(make("e3", "three", 7503));
  BOOST_TEST(remove("e2"));
  run();
  BOOST_TEST(remove("e1"));
  run();
  add(make("e4", "four", 7504)); // evicts e2 (gone first)
  auto ids = [&] {
    std::vector<std::string> out;
    for (auto& r : list())
      out.push_back(r.id);
    return out;
  };
  BOOST_TEST(ids() == (std::vector<std::string>{"e1", "e3", "e4"}),
             boost::test_tools::per_element());
  BOOST_TEST(stat("traceloop_rings_evicted") == 1u);
  add(make("e5", "five", 7505)); // evicts e1
  add(make("e6", "six", 7506));  // only live rings left: refused
  BOOST_TEST(ids() == (std::vector<std::string>{"e3", "e4", "e5"}),
             boost::test_tools::per_element());
  BOOST_TEST(stat("traceloop_budget_refused") == 1u);
  BOOST_TEST(stat("traceloop_bytes") == 3000u);
}

BOOST_AUTO_TEST_CASE(a_ring_that_cannot_be_made_is_counted) {
  start();
  k->create_fails = true;
  add(make("f1", "fail", 7601));
  BOOST_TEST(k->routes.empty());
  BOOST_TEST(stat("traceloop_ring_errors") == 1u);
  k->create_fails = false;
  add(make("f2", "fine", 7602));
  BOOST_TEST(k->routes.count(7602) == 1u);
}

BOOST_AUTO_TEST_CASE(containers_already_there_are_traced_at_start) {
  add(make("g1", "early", 7701));
  start();
  BOOST_TEST(k->routes.count(7701) == 1u);
}

BOOST_AUTO_TEST_CASE(the_port_goes_with_the_actor) {
  start();
  add(make("h1", "x", 7801));
  kill(tl);
  BOOST_TEST(k->destroyed);
}

BOOST_AUTO_TEST_SUITE_END()
