// The record of one container, as the registry keeps it and every consumer
// (actors, remote controllers, recordings) sees it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "messages/fields.hpp"

namespace nw {

/// Kubernetes identity of a container, from OCI annotations ("" when absent).
struct k8s_meta {
  std::string namespace_;
  std::string pod;
  std::string container;
  std::string pod_uid;
};

/// @relates k8s_meta
inline auto fields(k8s_meta& x) {
  return std::make_tuple(field("namespace", x.namespace_), field("pod", x.pod),
                         field("container", x.container),
                         field("pod_uid", x.pod_uid));
}

/// @relates k8s_meta
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, k8s_meta& x) {
  return inspect_fields(f, "nw::k8s_meta", x);
}

inline bool operator==(const k8s_meta& a, const k8s_meta& b) {
  return fields_equal(a, b);
}

/// Everything nodewatch knows about one container.
struct container_info {
  /// The OCI container id: `[A-Za-z0-9_+.-]` only (it becomes file names).
  std::string id;
  /// The k8s container name if annotated, else the manager's name, else id.
  std::string name;
  /// The container's init process, in the host's pid namespace.
  uint32_t pid = 0;
  /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22);
  /// with `pid` it names the process without being fooled by pid reuse.
  uint64_t start_time = 0;
  /// Mount and network namespace inode numbers (what /proc/PID/ns/* shows).
  uint64_t mntns = 0;
  uint64_t netns = 0;
  /// The 64-bit mount namespace id from NS_GET_MNTNS_ID (0 when unknown).
  uint64_t mntns_id64 = 0;
  std::string cgroup_path;
  uint64_t cgroup_id = 0;
  /// The OCI bundle directory.
  std::string bundle;
  /// The OCI runtime that ran `create` (`runc`, `crun`).
  std::string runtime;
  std::map<std::string, std::string> annotations;
  k8s_meta k8s;
  bool host_network = false;
  /// A sandbox (pause) container: hidden from listings unless asked for.
  bool sandbox = false;
  /// Found at start-up by scanning, not seen being created.
  bool initial = false;
  /// Its start was held until every subscriber had seen it.
  bool held = false;
};

/// @relates container_info
inline auto fields(container_info& x) {
  return std::make_tuple(
    field("id", x.id), field("name", x.name), field("pid", x.pid),
    field("start_time", x.start_time), field("mntns", x.mntns),
    field("netns", x.netns), field("mntns_id64", x.mntns_id64),
    field("cgroup_path", x.cgroup_path), field("cgroup_id", x.cgroup_id),
    field("bundle", x.bundle), field("runtime", x.runtime),
    field("annotations", x.annotations), field("k8s", x.k8s),
    field("host_network", x.host_network), field("sandbox", x.sandbox),
    field("initial", x.initial), field("held", x.held));
}

/// @relates container_info
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_info& x) {
  return inspect_fields(f, "nw::container_info", x);
}

inline bool operator==(const container_info& a, const container_info& b) {
  return fields_equal(a, b);
}

inline bool operator!=(const container_info& a, const container_info& b) {
  return !(a == b);
}

} // namespace nw
