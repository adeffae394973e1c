#include "runtime/kernel/log.hpp"

#include <atomic>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace nw::log {

namespace {

std::atomic<format> current_format{format::text};
std::atomic<level> current_level{level::info};

const char* name(level lvl) {
  switch (lvl) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      break;
  }
  return "error";
}

// Quotes a value when it would not read back as one token.
void append_text_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\'
        || static_cast<unsigned char>(c) < 0x20)
      plain = false;
  if (plain) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x";
      const char* hex = "0123456789abcdef";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

} // namespace

void configure(format fmt, level min_level) {
  current_format = fmt;
  current_level = min_level;
}

void write(level lvl, std::string_view msg, std::initializer_list<kv> kvs) {
  if (lvl < current_level.load())
    return;
  std::string line;
  if (current_format.load() == format::json) {
    nlohmann::ordered_json j;
    j["level"] = name(lvl);
    j["msg"] = msg;
    for (auto& [k, v] : kvs)
      j[std::string{k}] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = "level=";
    line += name(lvl);
    line += " msg=";
    append_text_value(line, msg);
    for (auto& [k, v] : kvs) {
      line += ' ';
      line += k;
      line += '=';
      append_text_value(line, v);
    }
  }
  line += '\n';
  // One write per line; a short write to stderr is not worth a retry loop
  // that could block an actor thread.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace nw::log
