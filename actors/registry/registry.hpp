// The container registry: the one owner of the container set. Detection adds,
// termination removes, subscribers (tools, the node facade, the printer) are
// told, and the requester of an add learns when all of them have seen it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace nw {

/// Settings of one registry.
struct registry_config {
  /// How long an `added` fan-out waits for acks: the hold deadline − 250 ms
  /// (CONTRACTS.md), so the add's requester can still answer in time.
  std::chrono::milliseconds fanout_deadline{1750};
  /// How long removed records stay resolvable (CONTRACTS.md: 5 s).
  std::chrono::milliseconds removed_grace{5000};
  /// Realtime nanoseconds for `ts_ns`; empty = the system clock. A
  /// simulation passes its virtual clock here.
  std::function<uint64_t()> realtime_ns;
};

/// Spawns a registry.
registry_actor spawn_registry(caf::actor_system& sys, registry_config cfg);

} // namespace nw
