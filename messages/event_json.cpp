#include "messages/event_json.hpp"

#include <nlohmann/json.hpp>

namespace nw {

std::string to_json_line(const container_event& ev, json_shape shape,
                         const std::string& node) {
  nlohmann::ordered_json j;
  auto& c = *ev.info;
  if (shape == json_shape::event)
    j["type"] = to_string(ev.kind);
  j["seq"] = ev.seq;
  j["ts_ns"] = ev.ts_ns;
  j["id"] = c.id;
  j["name"] = c.name;
  j["pid"] = c.pid;
  j["runtime"] = c.runtime;
  j["mntns"] = c.mntns;
  j["mntns_id64"] = c.mntns_id64;
  j["netns"] = c.netns;
  j["bundle"] = c.bundle;
  j["initial"] = c.initial;
  j["held"] = c.held;
  j["sandbox"] = c.sandbox;
  j["k8s"] = nlohmann::ordered_json{{"namespace", c.k8s.namespace_},
                                    {"pod", c.k8s.pod},
                                    {"container", c.k8s.container},
                                    {"pod_uid", c.k8s.pod_uid}};
  if (shape == json_shape::event && ev.kind == event_kind::detection_failed)
    j["reason"] = ev.reason;
  if (!node.empty())
    j["node"] = node;
  // Replace invalid UTF-8 rather than throw: ids and names come from
  // runtimes, which we do not trust to send valid text.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace nw
