// The node facade: the one actor an agent publishes. Controllers list and
// stream containers through it; it talks to the registry on their behalf and
// never lets a remote client hold a container's start.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace nw {

/// Settings of a node facade.
struct node_config {
  registry_actor registry;
  /// The TC attacher behind `net`; null when the agent runs without TC.
  tc_attacher_actor tc;
  /// The traceloop actor behind `traceloop`; null when it is off.
  traceloop_actor traceloop;
  /// What `status` says of the agent: its version, kernel and features,
  /// and whose counters it gathers (each asked, in parallel, every time).
  std::string version;
  std::string kernel;
  std::map<std::string, bool> features;
  std::vector<counters_source_actor> sources;
  /// How long the facade waits on the registry for a client's request.
  std::chrono::milliseconds request_timeout{5000};
};

/// Spawns a node facade in front of `cfg.registry`.
node_actor spawn_node(caf::actor_system& sys, node_config cfg);

} // namespace nw
