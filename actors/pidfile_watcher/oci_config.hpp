// Parsing an OCI bundle's config.json, and reading the Kubernetes identity
// its annotations carry.
//
// config.json is untrusted: its author is whoever ran the runtime (a rootless
// podman user, say). The parser is bounded in size, nesting and everything it
// keeps, names the offending field when it rejects, and never throws.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "actors/runtime_watcher/parse_result.hpp"

namespace nw {

// -- bounds -------------------------------------------------------------------

/// Largest config.json accepted; real ones are a few KiB to a few 100 KiB
/// (CRI-O copies all pod annotations into one annotation).
inline constexpr size_t max_config_bytes = size_t{16} << 20;

/// Deepest nesting of arrays and objects accepted (real configs reach ~6).
inline constexpr size_t max_json_depth = 64;

/// Most annotations accepted; more means the config is not a real one.
inline constexpr size_t max_annotations = 1024;

/// Longest annotation key kept (Kubernetes allows 253 + '/' + 63 bytes).
inline constexpr size_t max_annotation_key_bytes = 1024;

/// Longest annotation value kept. Longer ones are dropped, not rejected:
/// CRI-O's `io.kubernetes.cri-o.Annotations` carries the pod's annotations
/// as one JSON string, legitimately up to Kubernetes' 256 KiB total.
inline constexpr size_t max_annotation_value_bytes = size_t{64} << 10;

/// Most process args kept, and the longest arg kept; both are for display,
/// so longer lists and args are cut (see oci_config::process_args_truncated).
inline constexpr size_t max_process_args = 256;

/// @copydoc max_process_args
inline constexpr size_t max_process_arg_bytes = 4096;

/// Longest hostname accepted: the kernel's __NEW_UTS_LEN; the runtime would
/// fail to set a longer one.
inline constexpr size_t max_hostname_bytes = 64;

// -- config.json --------------------------------------------------------------

/// One `linux.namespaces` entry.
struct oci_namespace {
  /// "pid", "network", "mount", "ipc", "uts", "user", "cgroup" or "time".
  std::string type;
  /// An absolute path to join (e.g. a pod's /var/run/netns/NAME); empty when
  /// the runtime creates a new namespace.
  std::string path;
};

/// What nodewatch needs from a config.json.
struct oci_config {
  /// `annotations`, minus entries over the key/value bounds.
  std::map<std::string, std::string> annotations;
  /// How many annotations were dropped for exceeding the key/value bounds.
  size_t annotations_dropped = 0;
  /// `hostname` ("" when absent).
  std::string hostname;
  /// `process.args`, at most max_process_args, each cut to at most
  /// max_process_arg_bytes (on a UTF-8 character boundary).
  std::vector<std::string> process_args;
  /// Whether process_args lost entries or bytes to the bounds.
  bool process_args_truncated = false;
  /// `linux.namespaces`, in order; each type at most once.
  std::vector<oci_namespace> namespaces;
  /// True when there is no "network" namespace entry: the container shares
  /// the runtime's (the host's) network namespace. An entry with a path
  /// joins that namespace, which may or may not be the host's: only the
  /// namespace inode (the registry's job) can tell.
  bool host_network = true;
  /// `linux.cgroupsPath` ("" when absent). Not necessarily absolute: the
  /// systemd driver's form is "slice:prefix:name".
  std::string cgroups_path;
};

/// Parses config.json text. Rejects (returns why): input over
/// max_config_bytes, nesting over max_json_depth, invalid JSON, a top level
/// that is not an object, a known field of the wrong type (the reason names
/// it, e.g. `process.args[2]`), more than max_annotations annotations, an
/// unknown or repeated namespace type, a relative namespace path, an over-long
/// hostname or cgroupsPath. Fields nodewatch does not use are not checked.
parse_result<oci_config> parse_oci_config(std::string_view json_text);

// -- annotations --------------------------------------------------------------

/// The identity a container manager wrote into the annotations ("" / false
/// when absent).
struct k8s_fields {
  /// The pod's Kubernetes namespace.
  std::string namespace_;
  /// The pod's name.
  std::string pod;
  /// The container's name in the pod spec.
  std::string container;
  /// The pod's UID.
  std::string pod_uid;
  /// A sandbox (pause / infra) container rather than a workload container.
  bool sandbox = false;
  /// The id of the pod's sandbox container.
  std::string sandbox_id;
  /// Who wrote the annotations: "containerd-cri", "cri-o", "podman" or "".
  std::string manager;
  /// A name the manager gave the container, when the annotations carry one
  /// (CRI-O's `io.kubernetes.cri-o.ContainerName`); "" otherwise.
  std::string name_hint;
};

/// Reads the identity from annotations written by containerd's CRI plugin
/// (`io.kubernetes.cri.*`), CRI-O (`io.kubernetes.pod.*`,
/// `io.kubernetes.container.name`, `io.kubernetes.cri-o.*`) or podman
/// (`io.container.manager` = "libpod"). Podman is recognised first and never
/// yields Kubernetes names: any podman user can set any annotation, so
/// trusting them would let a local user pose as a pod in some namespace.
k8s_fields extract_k8s(const std::map<std::string, std::string>& annotations);

/// The container's display name, per CONTRACTS.md: the Kubernetes container
/// name if annotated, else the name the manager gave (conmon's `-n` as
/// `manager_name`, failing that the annotations' name_hint), else the id.
std::string container_display_name(const k8s_fields& k8s,
                                   std::string_view manager_name,
                                   std::string_view id);

/// Where the config.json of `bundle` may be, most likely first:
/// `B/config.json`, then podman's `B/userdata/config.json` unless B already
/// ends in `userdata` (as CRI-O's and podman's bundles do). Trailing slashes
/// of B are ignored; an empty B gives no candidates.
std::vector<std::string> config_json_paths(std::string_view bundle);

} // namespace nw
