// Per-container network counters, as the TC attacher reads them from the
// dispatcher's counters program and `nodewatch net` / `ps -o wide` show them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "messages/fields.hpp"

namespace nw {

/// One container's network counters, from the container's point of view
/// (rx: into the container; tx: out of it). Containers sharing a network
/// namespace (a pod) share its counters.
struct net_stats {
  std::string id;
  std::string name;
  uint64_t netns = 0;
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  /// The host-side interfaces hooked for it (names at attach time).
  std::vector<std::string> interfaces;
  /// Why it is not counted ("" when it is): host network, no netns, an
  /// attach error.
  std::string note;
};

/// @relates net_stats
inline auto fields(net_stats& x) {
  return std::make_tuple(
    field("id", x.id), field("name", x.name), field("netns", x.netns),
    field("rx_packets", x.rx_packets), field("rx_bytes", x.rx_bytes),
    field("tx_packets", x.tx_packets), field("tx_bytes", x.tx_bytes),
    field("interfaces", x.interfaces), field("note", x.note));
}

/// @relates net_stats
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, net_stats& x) {
  return inspect_fields(f, "nw::net_stats", x);
}

inline bool operator==(const net_stats& a, const net_stats& b) {
  return fields_equal(a, b);
}

} // namespace nw
