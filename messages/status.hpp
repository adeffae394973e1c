// What `nodewatch status` shows of one agent: what it is, what runs, and
// every counter of everything dropped, overwritten, late or failed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "messages/fields.hpp"

namespace nw {

struct node_status {
  /// nodewatch's version.
  std::string version;
  /// The kernel release (uname -r).
  std::string kernel;
  /// What runs on this agent: kernel_edge, pidfd, containers_map, tc,
  /// traceloop, ... (true) or not (false).
  std::map<std::string, bool> features;
  /// Every actor's counters, by name (their prefix says whose); a source
  /// that did not answer in time is counted in `status_sources_missing`.
  std::map<std::string, uint64_t> counters;
};

/// @relates node_status
inline auto fields(node_status& x) {
  return std::make_tuple(field("version", x.version), field("kernel", x.kernel),
                         field("features", x.features),
                         field("counters", x.counters));
}

/// @relates node_status
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return inspect_fields(f, "nw::node_status", x);
}

inline bool operator==(const node_status& a, const node_status& b) {
  return fields_equal(a, b);
}

} // namespace nw
