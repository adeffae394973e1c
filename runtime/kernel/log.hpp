// Logs: one line per record on stderr, `level=... msg=... key=value` or one
// JSON object (--log-format json). stdout carries results and events only.
// Each line goes out in a single write(2), so lines from several threads
// never interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace nw::log {

enum class level { debug, info, warn, error };
enum class format { text, json };

/// Sets the process-wide format and the lowest level written.
void configure(format fmt, level min_level = level::info);

/// A key and its already-rendered value.
using kv = std::pair<std::string_view, std::string>;

/// Writes one record.
void write(level lvl, std::string_view msg, std::initializer_list<kv> kvs = {});

inline void debug(std::string_view msg, std::initializer_list<kv> kvs = {}) {
  write(level::debug, msg, kvs);
}
inline void info(std::string_view msg, std::initializer_list<kv> kvs = {}) {
  write(level::info, msg, kvs);
}
inline void warn(std::string_view msg, std::initializer_list<kv> kvs = {}) {
  write(level::warn, msg, kvs);
}
inline void error(std::string_view msg, std::initializer_list<kv> kvs = {}) {
  write(level::error, msg, kvs);
}

} // namespace nw::log
