// libFuzzer target for parse_oci_config and what consumes its result
// (extract_k8s, container_display_name, config_json_paths). Seed it with
// real config.json files for depth: `oci_config_fuzz CORPUS_DIR`.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/pidfile_watcher/oci_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto res = nw::parse_oci_config(text);
  if (!res.ok()) {
    if (res.error().empty() || res.error().find('\n') != std::string::npos
        || res.error().size() > 1024)
      __builtin_trap();
    return 0;
  }
  const auto& cfg = res.value();
  if (cfg.annotations.size() > nw::max_annotations
      || cfg.process_args.size() > nw::max_process_args
      || cfg.namespaces.size() > 8
      || cfg.hostname.size() > nw::max_hostname_bytes
      || cfg.cgroups_path.size() > nw::max_path_bytes)
    __builtin_trap();
  for (auto& [key, value] : cfg.annotations)
    if (key.size() > nw::max_annotation_key_bytes
        || value.size() > nw::max_annotation_value_bytes)
      __builtin_trap();
  for (auto& arg : cfg.process_args)
    if (arg.size() > nw::max_process_arg_bytes)
      __builtin_trap();
  auto has_network = false;
  for (auto& ns : cfg.namespaces) {
    has_network = has_network || ns.type == "network";
    if (!ns.path.empty() && !nw::check_absolute_path(ns.path, "p").empty())
      __builtin_trap();
    nw::config_json_paths(ns.path);
  }
  if (has_network == cfg.host_network)
    __builtin_trap();
  auto k8s = nw::extract_k8s(cfg.annotations);
  auto name = nw::container_display_name(k8s, cfg.hostname, "id");
  if (name.empty())
    __builtin_trap();
  return 0;
}
