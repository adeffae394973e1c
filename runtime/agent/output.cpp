#include "runtime/agent/output.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "actors/traceloop/decode.hpp"
#include "messages/event_json.hpp"
#include "messages/msgpack_adaptors.hpp"

namespace nw {

namespace {

/// Left-aligns `text` in a column of `width` (cut to fit, never merged).
std::string col(std::string text, size_t width) {
  if (text.size() >= width)
    text = text.substr(0, width - 1);
  text.resize(width, ' ');
  return text;
}

/// A number in a column of `width`: never cut (a wider one gets one space).
std::string num(uint64_t x, size_t width) {
  auto text = std::to_string(x);
  text.resize(std::max(width, text.size() + 1), ' ');
  return text;
}

std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

/// The four counter columns' header.
std::string counters_header() {
  return col("RX_PKTS", 12) + col("RX_BYTES", 16) + col("TX_PKTS", 12)
         + col("TX_BYTES", 16);
}

/// The four counter columns; "-" in each without counters (`x` null, or
/// not counted: its note says why).
std::string counters_columns(const net_stats* x) {
  if (x == nullptr || !x->note.empty())
    return col("-", 12) + col("-", 16) + col("-", 12) + col("-", 16);
  return num(x->rx_packets, 12) + num(x->rx_bytes, 16) + num(x->tx_packets, 12)
         + num(x->tx_bytes, 16);
}

std::string ps_header(output_format fmt) {
  auto line = col("ID", 14) + col("NAME", 24) + col("RUNTIME", 9)
              + col("PID", 9) + col("NAMESPACE", 16) + col("POD", 24);
  if (fmt == output_format::wide)
    line += col("MNTNS", 12) + col("NETNS", 12) + counters_header() + "BUNDLE";
  return line + "\n";
}

std::string ps_line(const container_event& ev, output_format fmt,
                    const net_stats* net) {
  auto& c = *ev.info;
  auto line = col(short_id(c.id), 14) + col(c.name, 24) + col(c.runtime, 9)
              + col(std::to_string(c.pid), 9) + col(c.k8s.namespace_, 16)
              + col(c.k8s.pod, 24);
  if (fmt == output_format::wide)
    line += col(std::to_string(c.mntns), 12) + col(std::to_string(c.netns), 12)
            + counters_columns(net) + c.bundle;
  return line + "\n";
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += sep;
    out += x;
  }
  return out;
}

} // namespace

std::string format_ps(const std::vector<container_event>& xs, output_format fmt,
                      const std::optional<std::vector<net_stats>>& net) {
  std::string out;
  if (fmt == output_format::json) {
    for (auto& ev : xs)
      out += to_json_line(ev, json_shape::container) + "\n";
    return out;
  }
  std::map<std::string, const net_stats*> by_id;
  if (fmt == output_format::wide && net)
    for (auto& x : *net)
      by_id.emplace(x.id, &x);
  out = ps_header(fmt);
  for (auto& ev : xs) {
    auto i = by_id.find(ev.info->id);
    out += ps_line(ev, fmt, i == by_id.end() ? nullptr : i->second);
  }
  return out;
}

std::string format_net(const std::vector<net_stats>& xs, output_format fmt) {
  std::string out;
  if (fmt == output_format::json) {
    for (auto& x : xs) {
      nlohmann::ordered_json j;
      j["id"] = x.id;
      j["name"] = x.name;
      j["rx_packets"] = x.rx_packets;
      j["rx_bytes"] = x.rx_bytes;
      j["tx_packets"] = x.tx_packets;
      j["tx_bytes"] = x.tx_bytes;
      // As for event lines: invalid UTF-8 from a runtime is replaced.
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             + "\n";
    }
    return out;
  }
  out
    = col("ID", 14) + col("NAME", 24) + counters_header() + "INTERFACES/NOTE\n";
  for (auto& x : xs)
    out += col(short_id(x.id), 14) + col(x.name, 24) + counters_columns(&x)
           + (x.note.empty() ? join(x.interfaces, ",") : x.note) + "\n";
  return out;
}

std::string format_traceloop_list(const std::vector<traceloop_ring_info>& xs,
                                  output_format fmt) {
  std::string out;
  if (fmt == output_format::json) {
    for (auto& x : xs) {
      nlohmann::ordered_json j;
      j["id"] = x.id;
      j["name"] = x.name;
      j["mntns"] = x.mntns;
      j["live"] = x.live;
      j["bytes"] = x.bytes;
      out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
             + "\n";
    }
    return out;
  }
  out = col("ID", 14) + col("NAME", 24) + col("LIVE", 6) + col("BYTES", 12)
        + "MNTNS\n";
  for (auto& x : xs)
    out += col(short_id(x.id), 14) + col(x.name, 24)
           + col(x.live ? "yes" : "no", 6) + num(x.bytes, 12)
           + std::to_string(x.mntns) + "\n";
  return out;
}

std::string format_traceloop_dump(const traceloop_dump& x, dump_format fmt) {
  std::string out;
  switch (fmt) {
    case dump_format::msgpack:
      return to_msgpack(x);
    case dump_format::json:
      for (auto& line : x.lines)
        out += traceloop::json_line(line);
      out += traceloop::json_summary(x.overwritten, x.lost);
      return out;
    case dump_format::table:
      break;
  }
  out = traceloop::table_header();
  for (auto& line : x.lines)
    out += traceloop::table_line(line);
  out += traceloop::table_footer(x.overwritten, x.lost);
  return out;
}

std::string format_traceloop_deleted(const traceloop_ring_info& x) {
  return "deleted the traceloop ring of " + x.id + " (" + x.name + ", "
         + (x.live ? "running: no longer traced" : "gone") + "), "
         + std::to_string(x.bytes) + " bytes freed\n";
}

std::string format_status(const node_status& x, output_format fmt) {
  if (fmt == output_format::json) {
    // One object, keys in the contract's order (CONTRACTS.md).
    nlohmann::ordered_json features = nlohmann::ordered_json::object();
    for (auto& [name, on] : x.features)
      features[name] = on;
    nlohmann::ordered_json counters = nlohmann::ordered_json::object();
    for (auto& [name, value] : x.counters)
      counters[name] = value;
    nlohmann::ordered_json j;
    j["version"] = x.version;
    j["kernel"] = x.kernel;
    j["features"] = std::move(features);
    j["counters"] = std::move(counters);
    return j.dump() + "\n";
  }
  size_t width = 10;
  for (auto& kv : x.counters)
    width = std::max(width, kv.first.size() + 2);
  std::string out = col("VERSION", width) + x.version + "\n"
                    + col("KERNEL", width) + x.kernel + "\n"
                    + col("FEATURES", width);
  auto first = true;
  for (auto& [name, on] : x.features) {
    out += (first ? "" : " ") + name + (on ? "=on" : "=off");
    first = false;
  }
  out += "\n" + col("COUNTER", width) + "VALUE\n";
  // std::map: sorted by name.
  for (auto& [name, value] : x.counters)
    out += col(name, width) + std::to_string(value) + "\n";
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
