// Output formatting for results and events: tables for people, JSON lines
// for scripts (CONTRACTS.md). Everything here writes to stdout only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "messages/container_event.hpp"
#include "messages/net_stats.hpp"
#include "messages/status.hpp"
#include "messages/traceloop.hpp"

namespace nw {

/// Output formats of `-o`.
enum class output_format { table, json, wide };

/// Renders `ps` results. With `wide`, the network counters of `net` are
/// joined by id (RX_PKTS RX_BYTES TX_PKTS TX_BYTES before BUNDLE); a
/// container without counters there (no `net`: the agent runs without TC;
/// not in it; or not counted, its `note` set) shows "-" in those columns.
std::string format_ps(const std::vector<container_event>& xs, output_format fmt,
                      const std::optional<std::vector<net_stats>>& net
                      = std::nullopt);

/// Renders `net` results: a table (ID NAME RX_PKTS RX_BYTES TX_PKTS TX_BYTES
/// INTERFACES/NOTE; "-" for the counters of a container not counted), or
/// one JSON line per container with exactly the keys `id, name, rx_packets,
/// rx_bytes, tx_packets, tx_bytes` (CONTRACTS.md), in that order.
std::string format_net(const std::vector<net_stats>& xs, output_format fmt);

/// Renders `traceloop list` results: a table (ID NAME LIVE BYTES MNTNS;
/// LIVE is "yes" for a running container's ring, "no" for a gone one's
/// kept for post-mortem reads), or one JSON line per ring with exactly the
/// keys `id, name, mntns, live, bytes`, in that order.
std::string format_traceloop_list(const std::vector<traceloop_ring_info>& xs,
                                  output_format fmt);

/// Formats of `traceloop show -o`.
enum class dump_format { table, json, msgpack };

/// Renders one read of a ring (`traceloop show`): the table (decode.hpp's
/// header, a line per syscall, the overwritten/lost footer), JSON lines
/// (a line per syscall, then the summary line), or the whole dump as one
/// msgpack map (messages/msgpack_adaptors.hpp: field names as keys).
std::string format_traceloop_dump(const traceloop_dump& x, dump_format fmt);

/// What `traceloop delete` prints: the ring deleted (one line).
std::string format_traceloop_deleted(const traceloop_ring_info& x);

/// Renders `status`: a table (VERSION, KERNEL, FEATURES as NAME=on|off,
/// then a COUNTER VALUE line per counter, sorted by name), or exactly one
/// JSON object with the keys `version, kernel, features{name: bool},
/// counters{name: value}` (CONTRACTS.md), in that order.
std::string format_status(const node_status& x, output_format fmt);

/// The table header of event lines.
std::string event_table_header();

/// Renders one event line (newline-terminated).
std::string format_event(const container_event& ev, output_format fmt);

/// Writes `text` to stdout at once (no buffering across lines), so that a
/// reader sees each event as it happens.
void write_stdout(const std::string& text);

} // namespace nw
