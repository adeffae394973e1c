#include "actors/pidfile_watcher/oci_config.hpp"

#include <exception>
#include <utility>

#include <nlohmann/json.hpp>

namespace nw {

namespace {

using json = nlohmann::json;

/// The namespace types of the runtime spec (config-linux.md); runc rejects
/// any other, so a config with one would not start anyway.
constexpr std::string_view namespace_types[] = {
  "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
};

/// Finds the first nesting level over max_json_depth without parsing:
/// a linear scan that skips string contents. Valid JSON is measured exactly;
/// for invalid JSON any answer will do, since the parser rejects it next.
/// Done first so that no DOM is ever built for a hostile nesting.
std::string check_depth(std::string_view text) {
  size_t depth = 0;
  auto in_string = false;
  auto escaped = false;
  for (auto c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_json_depth)
          return "config.json nests arrays/objects deeper than "
                 + std::to_string(max_json_depth) + " levels";
        break;
      case ']':
      case '}':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return {};
}

std::string wrong_type(std::string_view field, std::string_view expected,
                       const json& got) {
  return std::string{field} + ": expected " + std::string{expected} + ", got "
         + got.type_name();
}

/// The member `key` of `obj`, or null when absent or JSON null (Go's
/// encoding/json, which the runtimes use, treats both alike).
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return nullptr;
  return &*it;
}

/// Cuts `s` to at most `max_bytes` without splitting a UTF-8 sequence (the
/// JSON parser validated the UTF-8, so the result stays valid).
bool cut_utf8(std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes)
    return false;
  auto end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80)
    --end;
  s.resize(end);
  return true;
}

std::string read_annotations(const json& doc, oci_config& out) {
  auto* annotations = member(doc, "annotations");
  if (annotations == nullptr)
    return {};
  if (!annotations->is_object())
    return wrong_type("annotations", "an object", *annotations);
  if (annotations->size() > max_annotations)
    return "annotations: " + std::to_string(annotations->size())
           + " entries (at most " + std::to_string(max_annotations) + ")";
  for (auto& [key, value] : annotations->items()) {
    if (!value.is_string())
      return wrong_type("annotations[" + quote_input(key) + "]", "a string",
                        value);
    auto& text = value.get_ref<const std::string&>();
    if (key.size() > max_annotation_key_bytes
        || text.size() > max_annotation_value_bytes) {
      ++out.annotations_dropped;
      continue;
    }
    out.annotations.emplace(key, text);
  }
  return {};
}

std::string read_process(const json& doc, oci_config& out) {
  auto* process = member(doc, "process");
  if (process == nullptr)
    return {};
  if (!process->is_object())
    return wrong_type("process", "an object", *process);
  auto* args = member(*process, "args");
  if (args == nullptr)
    return {};
  if (!args->is_array())
    return wrong_type("process.args", "an array", *args);
  size_t index = 0;
  for (auto& arg : *args) {
    if (!arg.is_string())
      return wrong_type("process.args[" + std::to_string(index) + "]",
                        "a string", arg);
    ++index;
    if (out.process_args.size() == max_process_args) {
      out.process_args_truncated = true;
      continue; // keep checking types: a wrong one is still an error
    }
    auto& kept
      = out.process_args.emplace_back(arg.get_ref<const std::string&>());
    if (cut_utf8(kept, max_process_arg_bytes))
      out.process_args_truncated = true;
  }
  return {};
}

std::string read_namespaces(const json& section, oci_config& out) {
  auto* namespaces = member(section, "namespaces");
  if (namespaces == nullptr)
    return {};
  if (!namespaces->is_array())
    return wrong_type("linux.namespaces", "an array", *namespaces);
  size_t index = 0;
  for (auto& entry : *namespaces) {
    auto field = "linux.namespaces[" + std::to_string(index++) + "]";
    if (!entry.is_object())
      return wrong_type(field, "an object", entry);
    auto* type = member(entry, "type");
    if (type == nullptr)
      return field + ".type is missing";
    if (!type->is_string())
      return wrong_type(field + ".type", "a string", *type);
    auto& type_text = type->get_ref<const std::string&>();
    auto known = false;
    for (auto t : namespace_types)
      known = known || t == type_text;
    if (!known)
      return field + ".type: unknown namespace type " + quote_input(type_text);
    for (auto& seen : out.namespaces)
      if (seen.type == type_text)
        return field + ".type: namespace type " + quote_input(type_text)
               + " appears twice";
    oci_namespace ns;
    ns.type = type_text;
    if (auto* path = member(entry, "path")) {
      if (!path->is_string())
        return wrong_type(field + ".path", "a string", *path);
      auto& path_text = path->get_ref<const std::string&>();
      if (!path_text.empty()) {
        if (auto err = check_absolute_path(path_text, field + ".path");
            !err.empty())
          return err;
        ns.path = path_text;
      }
    }
    if (ns.type == "network")
      out.host_network = false;
    out.namespaces.push_back(std::move(ns));
  }
  return {};
}

std::string read_linux(const json& doc, oci_config& out) {
  // Not named `linux`: GCC predefines that macro in GNU modes.
  auto* section = member(doc, "linux");
  if (section == nullptr)
    return {};
  if (!section->is_object())
    return wrong_type("linux", "an object", *section);
  if (auto err = read_namespaces(*section, out); !err.empty())
    return err;
  if (auto* cgroups_path = member(*section, "cgroupsPath")) {
    if (!cgroups_path->is_string())
      return wrong_type("linux.cgroupsPath", "a string", *cgroups_path);
    auto& text = cgroups_path->get_ref<const std::string&>();
    if (text.size() > max_path_bytes)
      return "linux.cgroupsPath is " + std::to_string(text.size())
             + " bytes long (at most " + std::to_string(max_path_bytes) + ")";
    if (text.find('\0') != std::string::npos)
      return "linux.cgroupsPath contains a NUL byte";
    out.cgroups_path = text;
  }
  return {};
}

std::string read_hostname(const json& doc, oci_config& out) {
  auto* hostname = member(doc, "hostname");
  if (hostname == nullptr)
    return {};
  if (!hostname->is_string())
    return wrong_type("hostname", "a string", *hostname);
  auto& text = hostname->get_ref<const std::string&>();
  if (text.size() > max_hostname_bytes)
    return "hostname is " + std::to_string(text.size())
           + " bytes long (the kernel allows "
           + std::to_string(max_hostname_bytes) + ")";
  out.hostname = text;
  return {};
}

const std::string& get(const std::map<std::string, std::string>& xs,
                       const char* key) {
  static const std::string none;
  auto it = xs.find(key);
  return it != xs.end() ? it->second : none;
}

bool has(const std::map<std::string, std::string>& xs, const char* key) {
  return xs.count(key) != 0;
}

} // namespace

parse_result<oci_config> parse_oci_config(std::string_view json_text) try {
  if (json_text.size() > max_config_bytes)
    return parse_error{"config.json is " + std::to_string(json_text.size())
                       + " bytes (at most " + std::to_string(max_config_bytes)
                       + ")"};
  if (auto err = check_depth(json_text); !err.empty())
    return parse_error{std::move(err)};
  json doc;
  try {
    doc = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    // The message quotes the last token read; quote_input() bounds and
    // escapes it (the "config" may be any file a hostile -f pointed at).
    return parse_error{"config.json is not valid JSON: "
                       + quote_input(e.what(), 160)};
  }
  if (!doc.is_object())
    return parse_error{wrong_type("config.json top level", "an object", doc)};
  oci_config out;
  for (auto* read : {read_annotations, read_hostname, read_process}) {
    if (auto err = read(doc, out); !err.empty())
      return parse_error{std::move(err)};
  }
  if (auto err = read_linux(doc, out); !err.empty())
    return parse_error{std::move(err)};
  return parse_result<oci_config>{std::move(out)};
} catch (const std::exception& e) {
  // Only std::bad_alloc can get here; an actor must not die of it.
  return parse_error{std::string{"config.json parser failed: "} + e.what()};
}

k8s_fields extract_k8s(const std::map<std::string, std::string>& annotations) {
  k8s_fields out;
  const auto& crio_type = get(annotations, "io.kubernetes.cri-o.ContainerType");
  if (get(annotations, "io.container.manager") == "libpod") {
    // Podman marks a pod's infra container like CRI-O does; nothing else
    // it writes is Kubernetes identity.
    out.manager = "podman";
    out.sandbox = crio_type == "sandbox";
    out.sandbox_id = get(annotations, "io.kubernetes.cri-o.SandboxID");
    return out;
  }
  if (has(annotations, "io.kubernetes.cri.container-type")) {
    out.manager = "containerd-cri";
    out.sandbox
      = get(annotations, "io.kubernetes.cri.container-type") == "sandbox";
    out.namespace_ = get(annotations, "io.kubernetes.cri.sandbox-namespace");
    out.pod = get(annotations, "io.kubernetes.cri.sandbox-name");
    out.container = get(annotations, "io.kubernetes.cri.container-name");
    out.pod_uid = get(annotations, "io.kubernetes.cri.sandbox-uid");
    out.sandbox_id = get(annotations, "io.kubernetes.cri.sandbox-id");
    return out;
  }
  if (get(annotations, "io.container.manager") == "cri-o"
      || has(annotations, "io.kubernetes.cri-o.ContainerType")) {
    out.manager = "cri-o";
    out.sandbox = crio_type == "sandbox";
    out.namespace_ = get(annotations, "io.kubernetes.pod.namespace");
    out.pod = get(annotations, "io.kubernetes.pod.name");
    out.container = get(annotations, "io.kubernetes.container.name");
    out.pod_uid = get(annotations, "io.kubernetes.pod.uid");
    out.sandbox_id = get(annotations, "io.kubernetes.cri-o.SandboxID");
    out.name_hint = get(annotations, "io.kubernetes.cri-o.ContainerName");
  }
  return out;
}

std::string container_display_name(const k8s_fields& k8s,
                                   std::string_view manager_name,
                                   std::string_view id) {
  if (!k8s.container.empty())
    return k8s.container;
  if (!manager_name.empty())
    return std::string{manager_name};
  if (!k8s.name_hint.empty())
    return k8s.name_hint;
  return std::string{id};
}

std::vector<std::string> config_json_paths(std::string_view bundle) {
  std::vector<std::string> result;
  if (bundle.empty())
    return result;
  while (!bundle.empty() && bundle.back() == '/')
    bundle.remove_suffix(1);
  // An all-slashes bundle is "/" and leaves an empty base: "/config.json".
  std::string base{bundle};
  result.push_back(base + "/config.json");
  auto last = bundle.substr(bundle.rfind('/') + 1); // npos + 1 == 0
  if (last != "userdata")
    result.push_back(base + "/userdata/config.json");
  return result;
}

} // namespace nw
