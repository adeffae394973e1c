// What a detected container's record is made of: its bundle's config.json
// and what /proc tells about its init. Shared by the pidfile watcher (a
// live create) and the start-up scan (a container already running).
#include "actors/pidfile_watcher/oci_config.hpp"
#include "actors/pidfile_watcher/pidfile_watcher.hpp"

namespace nw {

parse_result<oci_config> read_bundle_config(const host_view& host,
                                            const std::string& bundle) {
  for (auto& path : config_json_paths(bundle)) {
    if (!host.exists(path))
      continue;
    std::string text;
    std::string error;
    if (!host.read_file(path, max_config_bytes, text, error))
      return parse_error{error};
    return parse_oci_config(text);
  }
  return parse_error{"no config.json in the bundle " + bundle};
}

namespace {

/// Whether the container uses the host's network namespace. The
/// namespaces decide when both inodes are known: the init's netns is the
/// host's (pid 1's, else the agent's own; see host_view.hpp). That also
/// covers a config that joins the host's namespace by path, and a runtime
/// that ran in another namespace than the host's, whose containers without
/// a "network" entry share the runtime's, not the host's. Otherwise
/// (a netns unreadable, a scripted host that does not tell) config.json
/// decides: no "network" namespace entry means the runtime's, taken as the
/// host's.
bool host_network(const oci_config& config, const proc_status& proc) {
  if (proc.netns != 0 && proc.host_netns != 0)
    return proc.netns == proc.host_netns;
  return config.host_network;
}

} // namespace

container_info make_container_info(const pidfile_watch_request& req,
                                   const oci_config& config,
                                   const proc_status& proc) {
  container_info info;
  info.id = req.id;
  info.pid = proc.pid;
  info.start_time = proc.start_time;
  info.mntns = proc.mntns;
  info.netns = proc.netns;
  info.mntns_id64 = proc.mntns_id64;
  info.cgroup_path = proc.cgroup;
  info.cgroup_id = proc.cgroup_id;
  info.bundle = req.bundle;
  info.runtime = req.runtime;
  info.held = true;
  info.annotations = config.annotations;
  info.host_network = host_network(config, proc);
  auto k8s = extract_k8s(info.annotations);
  info.k8s.namespace_ = k8s.namespace_;
  info.k8s.pod = k8s.pod;
  info.k8s.container = k8s.container;
  info.k8s.pod_uid = k8s.pod_uid;
  info.sandbox = k8s.sandbox;
  info.name = container_display_name(k8s, req.manager_name, req.id);
  return info;
}

} // namespace nw
