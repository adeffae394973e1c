// The containers map actor: a registry subscriber that owns the pinned BPF
// map of mount namespace inode → container (bpf/containers_map.h,
// runtime/kernel/containers_map.hpp), so that other eBPF tools on the node
// can tell from inside the kernel which container a task belongs to. It
// puts each `added` container (snapshot included; sandboxes skipped) before
// it acks, so the entry exists before the container's start is released,
// deletes it on `removed`, and unpins the map when it terminates.
#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>

#include "messages/interfaces.hpp"
#include "runtime/kernel/containers_map.hpp"

namespace nw {

/// A subscriber that also reports its counters.
using containers_map_actor = subscriber_actor::extend<
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

struct containers_map_config {
  registry_actor registry;
  /// The map, created and pinned already (kernel::containers_map::create);
  /// the actor becomes its only owner.
  std::shared_ptr<kernel::containers_map> map;
};

/// Spawns the actor and subscribes it to the registry.
containers_map_actor spawn_containers_map(caf::actor_system& sys,
                                          containers_map_config cfg);

} // namespace nw
