// The containers map actor with a real registry on CAF's deterministic
// scheduler and a real (small) pinned map: the subscription's snapshot and
// live `added` put, sandboxes and containers without a mount namespace are
// skipped, `removed` deletes, a full map is a counted error (and the
// container's later `removed` deletes nothing), and the pin is gone once the
// actor has ended.
#define BOOST_TEST_MODULE containers_map_actor
#include <boost/test/unit_test.hpp>

#include <string>

#include <sys/stat.h>

#include "actors/containers_map/containers_map.hpp"
#include "actors/registry/registry.hpp"
#include "tests/integration/support/pin_dir.hpp"
#include "tests/support/registry_fixture.hpp"

using namespace nw;

namespace {

container_info make(std::string id, uint64_t mntns, bool sandbox = false) {
  container_info x;
  x.id = std::move(id);
  x.name = "name-" + x.id;
  x.mntns = mntns;
  x.runtime = "runc";
  x.sandbox = sandbox;
  x.k8s.namespace_ = "ns";
  x.k8s.pod = "pod-" + x.id;
  return x;
}

struct fixture : test::registry_fixture {
  containers_map_actor cm;
  std::string pin;

  uint64_t count(const std::string& name) {
    auto all = ask<counters>(cm, get_atom::value, counters_atom::value).value();
    auto i = all.find(name);
    BOOST_REQUIRE_MESSAGE(i != all.end(), "no counter " << name);
    return i->second;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(containers_map_actor, fixture)

BOOST_AUTO_TEST_CASE(follows_the_registry_and_unpins_when_it_ends) {
  test::pin_dir pins{"actor"};
  // Registered before the actor subscribes: it comes in the snapshot.
  reg = track(spawn_registry(sys, rcfg));
  run();
  add(make("early", 101));
  std::string error;
  auto m = kernel::containers_map::create(pins.path(), error, 3);
  BOOST_TEST_REQUIRE(static_cast<bool>(m), error);
  pin = m->pin_path();
  cm = track(spawn_containers_map(sys, {reg, std::move(m)}));
  run();
  auto dump = test::bpftool_dump(pin);
  BOOST_TEST_REQUIRE(dump.size() == 1u);
  BOOST_TEST(dump[101].container_id == "early");
  BOOST_TEST(dump[101].container_name == "name-early");
  BOOST_TEST(dump[101].k8s_namespace == "ns");
  BOOST_TEST(dump[101].k8s_pod == "pod-early");

  add(make("live", 102));
  add(make("pause", 103, true));
  add(make("nomnt", 0));
  dump = test::bpftool_dump(pin);
  BOOST_TEST(dump.size() == 2u);
  BOOST_TEST(dump.count(102) == 1u);
  BOOST_TEST(dump.count(103) == 0u, "a sandbox was mapped");
  BOOST_TEST(count("containers_map_puts") == 2u);
  BOOST_TEST(count("containers_map_sandboxes_skipped") == 1u);
  BOOST_TEST(count("containers_map_no_mntns") == 1u);

  // Full at 3 entries: the fourth is a counted error.
  add(make("third", 104));
  add(make("fourth", 105));
  BOOST_TEST(count("containers_map_put_errors") == 1u);
  BOOST_TEST(count("containers_map_full") == 1u);
  BOOST_TEST(count("containers_map_entries") == 3u);
  BOOST_TEST(test::bpftool_dump(pin).count(105) == 0u);

  BOOST_TEST(remove("early"));
  BOOST_TEST(remove("fourth")); // never put: nothing to delete
  BOOST_TEST(remove("pause"));
  run();
  dump = test::bpftool_dump(pin);
  BOOST_TEST(dump.size() == 2u);
  BOOST_TEST(dump.count(101) == 0u);
  BOOST_TEST(count("containers_map_deletes") == 1u);
  BOOST_TEST(count("containers_map_delete_errors") == 0u);
  BOOST_TEST(count("containers_map_entries") == 2u);

  kill(cm);
  struct stat st {};
  BOOST_TEST(::stat(pin.c_str(), &st) != 0, "the pin outlived the actor");
}

BOOST_AUTO_TEST_SUITE_END()
