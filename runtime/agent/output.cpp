#include "runtime/agent/output.hpp"

#include <cstdio>

#include "messages/event_json.hpp"

namespace nw {

namespace {

/// Left-aligns `text` in a column of `width` (cut to fit, never merged).
std::string col(std::string text, size_t width) {
  if (text.size() >= width)
    text = text.substr(0, width - 1);
  text.resize(width, ' ');
  return text;
}

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

std::string ps_header(output_format fmt) {
  auto line = col("ID", 14) + col("NAME", 24) + col("RUNTIME", 9)
              + col("PID", 9) + col("NAMESPACE", 16) + col("POD", 24);
  if (fmt == output_format::wide)
    line += col("MNTNS", 12) + col("NETNS", 12) + "BUNDLE";
  return line + "\n";
}

std::string ps_line(const container_event& ev, output_format fmt) {
  auto& c = *ev.info;
  auto line = col(short_id(c.id), 14) + col(c.name, 24) + col(c.runtime, 9)
              + col(std::to_string(c.pid), 9) + col(c.k8s.namespace_, 16)
              + col(c.k8s.pod, 24);
  if (fmt == output_format::wide)
    line += col(std::to_string(c.mntns), 12) + col(std::to_string(c.netns), 12)
            + c.bundle;
  return line + "\n";
}

} // namespace

std::string format_ps(const std::vector<container_event>& xs,
                      output_format fmt) {
  std::string out;
  if (fmt == output_format::json) {
    for (auto& ev : xs)
      out += to_json_line(ev, json_shape::container) + "\n";
    return out;
  }
  out = ps_header(fmt);
  for (auto& ev : xs)
    out += ps_line(ev, fmt);
  return out;
}

std::string event_table_header() {
  return col("TYPE", 18) + col("SEQ", 7) + col("ID", 14) + col("NAME", 24)
         + col("RUNTIME", 9) + col("PID", 9) + "DETAIL\n";
}

std::string format_event(const container_event& ev, output_format fmt) {
  if (fmt == output_format::json)
    return to_json_line(ev) + "\n";
  auto& c = *ev.info;
  std::string detail;
  if (ev.kind == event_kind::detection_failed) {
    detail = ev.reason;
  } else {
    detail = "mntns=" + std::to_string(c.mntns)
             + " netns=" + std::to_string(c.netns);
    if (!c.k8s.pod.empty())
      detail += " pod=" + c.k8s.namespace_ + "/" + c.k8s.pod;
    if (ev.kind == event_kind::added)
      detail += c.held ? " held" : c.initial ? " initial" : "";
  }
  return col(to_string(ev.kind), 18) + col(std::to_string(ev.seq), 7)
         + col(short_id(c.id), 14) + col(c.name, 24) + col(c.runtime, 9)
         + col(std::to_string(c.pid), 9) + detail + "\n";
}

void write_stdout(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

} // namespace nw
