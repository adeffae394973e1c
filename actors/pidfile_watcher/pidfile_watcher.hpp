// A pidfile watcher: one per `runtime create`. Reads the bundle's
// config.json first, then waits for the runtime to read the pidfile — a read
// the edge holds — and turns it into a registered container before the
// container's start may go on.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/pidfile_watcher/oci_config.hpp"
#include "messages/interfaces.hpp"
#include "messages/kernel_edge.hpp"
#include "runtime/kernel/host_view.hpp"

namespace nw {

/// What the runtime watcher learnt from the runtime's argv.
struct pidfile_watch_request {
  std::string id;
  std::string bundle;
  std::string pid_file;
  /// The runtime that ran create (runc, crun).
  std::string runtime;
  /// conmon's `-n`, if a conmon announced this id.
  std::string manager_name;
  /// The runtime's own mount namespace: the container's must differ.
  uint64_t runtime_mntns = 0;
};

/// Whom a pidfile watcher talks to.
struct pidfile_watcher_config {
  kernel_edge_actor edge;
  registry_actor registry;
  std::shared_ptr<const host_view> host;
  std::chrono::milliseconds add_timeout{1900};
  std::chrono::milliseconds pending_timeout{15000};
  /// Mount namespaces no container has (pid 1's, the agent's; 0: unknown),
  /// for a container registered from its state directory.
  uint64_t host_mntns = 0;
  uint64_t agent_mntns = 0;
};

/// Spawns a pidfile watcher for one create.
pidfile_watcher_actor spawn_pidfile_watcher(caf::actor_system& sys,
                                            pidfile_watch_request req,
                                            pidfile_watcher_config cfg);

/// Reads and parses the bundle's config.json through `host`: the first of
/// config_json_paths(bundle) that exists is the config, so its error (too
/// large, unreadable) is the reason, not a later candidate's "missing".
parse_result<oci_config> read_bundle_config(const host_view& host,
                                            const std::string& bundle);

/// Builds the registry's record from what detection gathered; pure, so the
/// rules for names and k8s fields are tested without actors.
container_info make_container_info(const pidfile_watch_request& req,
                                   const oci_config& config,
                                   const proc_status& proc);

} // namespace nw
