// A coordinator fixture with a registry on virtual time and the requests
// tests make of it, shared by the registry's and the node facade's tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/registry/registry.hpp"
#include "tests/support/coordinator_fixture.hpp"

namespace nw::test {

/// Wall clock at the start of registry tests (ts_ns of the first events).
inline constexpr uint64_t registry_wall_start = 1763932212000000000ull;

struct registry_fixture : coordinator_fixture {
  /// The registry's realtime clock; tests move it by hand.
  std::shared_ptr<uint64_t> wall
    = std::make_shared<uint64_t>(registry_wall_start);
  registry_config rcfg;
  registry_actor reg;

  registry_fixture() {
    using namespace std::chrono_literals;
    rcfg.fanout_deadline = 1750ms;
    rcfg.removed_grace = 5000ms;
    rcfg.realtime_ns = [w = wall] { return *w; };
  }

  // -- requests to `reg`, answered within run() ------------------------------

  std::shared_ptr<reply<add_result>> add_async(const container_info& x) {
    return request<add_result>(reg, add_atom::value, x);
  }

  add_result add(const container_info& x) {
    return ask<add_result>(reg, add_atom::value, x).value();
  }

  bool remove(const std::string& id) {
    return ask<bool>(reg, remove_atom::value, id).value();
  }

  uint64_t fail(const container_info& x, const std::string& reason) {
    return ask<uint64_t>(reg, failed_atom::value, x, reason).value();
  }

  counters registry_counters() {
    return ask<counters>(reg, get_atom::value, counters_atom::value).value();
  }

  /// One registry counter; fails the test if it does not exist.
  uint64_t stat(const std::string& name) {
    auto all = registry_counters();
    auto i = all.find(name);
    BOOST_REQUIRE_MESSAGE(i != all.end(), "no counter " << name);
    return i->second;
  }
};

} // namespace nw::test
