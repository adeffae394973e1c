// Termination: a registry subscriber that watches each container's init
// process through its kernel edge and asks the registry to remove the
// container when it exits. (The pidfd path and the /proc poller arrive with
// the termination issue; the scripted edge reports exits from a scenario.)
#pragma once

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"

namespace nw {

/// A subscriber that also receives process exits.
using termination_actor = subscriber_actor::extend_with<exit_watcher_actor>;

/// Spawns the termination watcher and subscribes it to `registry`.
termination_actor spawn_termination(caf::actor_system& sys,
                                    registry_actor registry,
                                    kernel_edge_actor edge);

} // namespace nw
