// Output formatting for results and events: tables for people, JSON lines
// for scripts (CONTRACTS.md). Everything here writes to stdout only.
#pragma once

#include <string>
#include <vector>

#include "messages/container_event.hpp"

namespace nw {

/// Output formats of `-o`.
enum class output_format { table, json, wide };

/// Renders `ps` results.
std::string format_ps(const std::vector<container_event>& xs,
                      output_format fmt);

/// The table header of event lines.
std::string event_table_header();

/// Renders one event line (newline-terminated).
std::string format_event(const container_event& ev, output_format fmt);

/// Writes `text` to stdout at once (no buffering across lines), so that a
/// reader sees each event as it happens.
void write_stdout(const std::string& text);

} // namespace nw
