#include "actors/traceloop/decode.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/syscalls.hpp"

namespace nw::traceloop {

namespace {

/// The highest errno a syscall returns (include/linux/err.h's MAX_ERRNO).
constexpr int64_t max_errno = 4095;

/// -100 (include/uapi/linux/fcntl.h).
constexpr int64_t at_fdcwd = -100;

std::string hex(uint64_t x) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(x));
  return buf;
}

std::string octal(uint64_t x) {
  if (x == 0)
    return "0";
  char buf[28];
  std::snprintf(buf, sizeof(buf), "0%llo", static_cast<unsigned long long>(x));
  return buf;
}

uint64_t cut(uint64_t x, uint8_t width) {
  return width >= 8 ? x : x & ((uint64_t{1} << (8 * width)) - 1);
}

int64_t sign_extend(uint64_t x, uint8_t width) {
  if (width >= 8)
    return static_cast<int64_t>(x);
  auto bits = 8 * width;
  auto v = cut(x, width);
  auto sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.substr(s.size() - suffix.size()) == suffix;
}

/// A directory fd argument: dfd, olddfd, newdfd, from_dfd, to_dfd,
/// mountdirfd.
bool is_dirfd_name(std::string_view n) {
  return ends_with(n, "dfd") || ends_with(n, "dirfd");
}

std::string value_of(uint64_t raw, const syscall_param& p) {
  switch (p.kind) {
    case value_kind::pointer:
      return raw == 0 ? "NULL" : hex(raw);
    case value_kind::octal:
      return octal(cut(raw, p.width));
    case value_kind::unsigned_int:
      return std::to_string(cut(raw, p.width));
    case value_kind::signed_int:
      break;
  }
  auto v = sign_extend(raw, p.width);
  if (v == at_fdcwd && is_dirfd_name(p.name))
    return "AT_FDCWD";
  return std::to_string(v);
}

/// What was captured behind an argument, if anything usable.
const capture* captured(const syscall_record& r, size_t i) {
  auto& c = r.captures[i];
  return c && !c->failed ? &*c : nullptr;
}

/// Escapes like quote_bytes' content, without the quotes.
void escape_into(std::string& out, std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          out += "\\x";
          out += digits[c >> 4];
          out += digits[c & 0x0f];
        }
    }
  }
}

/// Left-aligns `text` in a column of `width`; a longer one is never cut and
/// gets one space.
std::string col(std::string text, size_t width) {
  text.resize(std::max(width, text.size() + 1), ' ');
  return text;
}

/// The kernel-internal codes (include/linux/errno.h) a syscall's exit
/// tracepoint can see: an interrupted syscall returns one, and the signal
/// code turns it into EINTR or a restart only after the tracepoint.
const char* kernel_errno_name(int err) {
  switch (err) {
    case 512:
      return "ERESTARTSYS";
    case 513:
      return "ERESTARTNOINTR";
    case 514:
      return "ERESTARTNOHAND";
    case 515:
      return "ENOIOCTLCMD";
    case 516:
      return "ERESTART_RESTARTBLOCK";
    default:
      return nullptr;
  }
}

/// strace's descriptions of the same.
const char* kernel_errno_text(int err) {
  switch (err) {
    case 512:
      return "To be restarted if SA_RESTART is set";
    case 513:
      return "To be restarted";
    case 514:
      return "To be restarted if no handler";
    case 515:
      return "No ioctl command";
    case 516:
      return "Interrupted by signal";
    default:
      return nullptr;
  }
}

} // namespace

std::string quote_bytes(std::string_view bytes, bool truncated) {
  std::string out;
  out.reserve(bytes.size() + 8);
  out += '"';
  escape_into(out, bytes);
  out += '"';
  if (truncated)
    out += "...";
  return out;
}

std::string format_time(uint64_t ts_ns) {
  auto secs = static_cast<time_t>(ts_ns / 1000000000);
  auto micros = static_cast<unsigned>((ts_ns % 1000000000) / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min,
                tm.tm_sec, micros);
  return buf;
}

std::string errno_name(int err) {
  if (auto* name = kernel_errno_name(err))
    return name;
  if (auto* name = strerrorname_np(err))
    return name;
  return "ERRNO_" + std::to_string(err);
}

std::string errno_text(int err) {
  if (auto* text = kernel_errno_text(err))
    return text;
  if (auto* text = strerrordesc_np(err))
    return text;
  return "Unknown error " + std::to_string(err);
}

decoded_syscall decode(const syscall_record& r, const syscall_table& names,
                       const format_table& formats) {
  decoded_syscall out;
  out.ts_ns = r.ts_ns;
  out.cpu = r.cpu;
  out.pid = r.pid;
  out.tid = r.tid;
  out.comm = r.comm.substr(0, r.comm.find('\0'));
  out.syscall = names.name(r.nr);
  if (!r.has_enter) {
    // Nothing of the arguments was recorded: none are shown.
  } else if (auto* f = formats.find(r.nr)) {
    out.params.reserve(f->params.size());
    for (size_t i = 0; i < f->params.size() && i < r.args.size(); ++i) {
      auto& p = f->params[i];
      auto* c = captured(r, i);
      out.params.push_back({p.name, c != nullptr
                                      ? quote_bytes(c->bytes, c->truncated)
                                      : value_of(r.args[i], p)});
    }
  } else {
    out.raw = true;
    out.params.reserve(r.args.size());
    for (size_t i = 0; i < r.args.size(); ++i) {
      auto* c = captured(r, i);
      out.params.push_back({"arg" + std::to_string(i),
                            c != nullptr
                              ? quote_bytes(c->bytes, c->truncated)
                              : (r.args[i] == 0 ? "0" : hex(r.args[i]))});
    }
  }
  if (r.unfinished || !r.has_exit) {
    out.unfinished = true;
    out.ret = 0;
  } else if (r.ret < 0 && r.ret >= -max_errno) {
    auto err = static_cast<int>(-r.ret);
    out.ret = -1;
    out.errno_name = errno_name(err);
    out.errno_text = errno_text(err);
  } else {
    out.ret = r.ret;
  }
  return out;
}

std::string table_header() {
  return col("TIME", 16) + col("CPU", 4) + col("PID", 8) + col("COMM", 17)
         + col("SYSCALL", 17) + "PARAMS  RET\n";
}

std::string table_line(const decoded_syscall& x) {
  std::string comm;
  escape_into(comm, x.comm);
  std::string line = col(format_time(x.ts_ns), 16)
                     + col(std::to_string(x.cpu), 4)
                     + col(std::to_string(x.pid), 8) + col(std::move(comm), 17)
                     + col(x.syscall, 17);
  for (size_t i = 0; i < x.params.size(); ++i) {
    if (i > 0)
      line += ", ";
    line += x.params[i].name;
    line += '=';
    line += x.params[i].value;
  }
  line += "  = ";
  if (x.unfinished)
    line += "? <unfinished>";
  else if (!x.errno_name.empty())
    line += "-1 " + x.errno_name + " (" + x.errno_text + ")";
  else
    line += std::to_string(x.ret);
  line += '\n';
  return line;
}

std::string json_line(const decoded_syscall& x) {
  nlohmann::ordered_json j;
  j["ts_ns"] = x.ts_ns;
  j["cpu"] = x.cpu;
  j["pid"] = x.pid;
  j["tid"] = x.tid;
  j["comm"] = x.comm;
  j["syscall"] = x.syscall;
  auto params = nlohmann::ordered_json::array();
  for (auto& p : x.params) {
    nlohmann::ordered_json pj;
    pj["name"] = p.name;
    pj["value"] = p.value;
    params.push_back(std::move(pj));
  }
  j["params"] = std::move(params);
  j["ret"] = x.ret;
  if (x.errno_name.empty())
    j["errno"] = nullptr;
  else
    j["errno"] = x.errno_name;
  j["unfinished"] = x.unfinished;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
         + "\n";
}

std::string table_footer(uint64_t overwritten, uint64_t lost) {
  return "-- overwritten: " + std::to_string(overwritten)
         + ", lost: " + std::to_string(lost) + "\n";
}

std::string json_summary(uint64_t overwritten, uint64_t lost) {
  nlohmann::ordered_json j;
  j["type"] = "summary";
  j["overwritten"] = overwritten;
  j["lost"] = lost;
  return j.dump() + "\n";
}

} // namespace nw::traceloop
