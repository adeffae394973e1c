#include "actors/traceloop/formats.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <system_error>
#include <unistd.h>

#include "actors/runtime_watcher/parse_result.hpp"
#include "actors/traceloop/syscalls.hpp"

namespace nw::traceloop {

namespace {

// -- small text helpers -------------------------------------------------------

/// Untrusted bytes for an error line: the parsers' own quoting
/// (parse_result.hpp), cut at 48 bytes.
std::string quote(std::string_view in) {
  return quote_input(in, 48);
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_ident_char(char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

/// Longest identifier accepted (names and type words).
constexpr size_t max_ident = 64;

/// Longest C type accepted (the longest here is 38 bytes).
constexpr size_t max_type = 128;

/// Lines in a format file (this kernel's have at most 15).
constexpr size_t max_lines = 64;

bool is_ident(std::string_view s) {
  if (s.empty() || s.size() > max_ident || !is_ident_start(s[0]))
    return false;
  return std::all_of(s.begin(), s.end(), is_ident_char);
}

/// A decimal number of at most 9 digits (offsets and sizes are small).
bool parse_small_uint(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 9)
    return false;
  uint32_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + static_cast<uint32_t>(c - '0');
  }
  out = x;
  return true;
}

// -- field lines --------------------------------------------------------------

struct field {
  std::string type; // normalised: words and '*' separated by one space
  std::string name;
  uint32_t offset = 0;
  uint32_t size = 0;
  bool array = false;
};

/// Checks a C type against a small grammar (identifiers, '*', array bounds
/// "[]" / "[16]", spaces) and collapses its whitespace runs to one space,
/// keeping tracefs' spelling ("const char *const *"). Empty when a
/// character is outside the grammar or a word is too long.
std::string normalise_type(std::string_view t) {
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    char c = t[i];
    if (is_space(c)) {
      while (i < t.size() && is_space(t[i]))
        ++i;
      out += ' ';
      continue;
    }
    if (c == '*') {
      out += c;
      ++i;
    } else if (c == '[') {
      auto j = i + 1;
      while (j < t.size() && j - i <= 10 && t[j] >= '0' && t[j] <= '9')
        ++j;
      if (j >= t.size() || t[j] != ']')
        return {};
      out.append(t.substr(i, j + 1 - i));
      i = j + 1;
    } else if (is_ident_char(c)) {
      auto j = i;
      while (j < t.size() && is_ident_char(t[j]))
        ++j;
      if (j - i > max_ident)
        return {};
      out.append(t.substr(i, j - i));
      i = j;
    } else {
      return {};
    }
  }
  return std::string{trim(out)};
}

/// Parses `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` (after the
/// leading whitespace). Returns a reason, or "" on success.
std::string parse_field(std::string_view line, field& out) {
  line.remove_prefix(std::strlen("field:"));
  std::array<std::string_view, 4> parts;
  for (size_t k = 0; k < parts.size(); ++k) {
    auto semi = line.find(';');
    if (semi == std::string_view::npos)
      return "field " + quote(line) + " lacks ';'";
    parts[k] = trim(line.substr(0, semi));
    line.remove_prefix(semi + 1);
  }
  if (!trim(line).empty())
    return "trailing text after a field: " + quote(line);
  // The declaration: TYPE NAME, NAME possibly followed by [N] (arrays are
  // kept only to be rejected or skipped by the caller).
  auto decl = parts[0];
  if (!decl.empty() && decl.back() == ']') {
    auto open = decl.rfind('[');
    if (open == std::string_view::npos)
      return "bad array declaration " + quote(decl);
    out.array = true;
    decl = trim(decl.substr(0, open));
  }
  size_t end = decl.size();
  size_t begin = end;
  while (begin > 0 && is_ident_char(decl[begin - 1]))
    --begin;
  auto name = decl.substr(begin, end - begin);
  if (!is_ident(name))
    return "bad field name in " + quote(parts[0]);
  auto type_text = trim(decl.substr(0, begin));
  if (type_text.empty() || type_text.size() > max_type)
    return "bad type in " + quote(parts[0]);
  out.type = normalise_type(type_text);
  if (out.type.empty())
    return "bad type in " + quote(parts[0]);
  out.name = std::string{name};
  if (out.type.find('[') != std::string::npos)
    out.array = true;
  struct {
    std::string_view key;
    uint32_t* value;
  } attrs[] = {{"offset:", &out.offset}, {"size:", &out.size}};
  for (size_t k = 0; k < 2; ++k) {
    auto part = parts[k + 1];
    if (!starts_with(part, attrs[k].key)
        || !parse_small_uint(part.substr(attrs[k].key.size()), *attrs[k].value))
      return "bad " + std::string{attrs[k].key} + " in field " + out.name;
  }
  if (parts[3] != "signed:0" && parts[3] != "signed:1")
    return "bad signed: in field " + out.name;
  return {};
}

// -- types
// ----------------------------------------------------------------------

/// Kernel typedefs that are pointers (include/uapi/linux/capability.h).
bool is_pointer_typedef(std::string_view word) {
  return word == "cap_user_header_t" || word == "cap_user_data_t";
}

/// The type's words without qualifiers, and its '*' count.
struct type_shape {
  std::string base; // e.g. "unsigned long", "char"
  size_t stars = 0;
  bool const_pointee = false; // const before the first '*'
};

type_shape shape_of(std::string_view type) {
  type_shape out;
  bool seen_star = false;
  size_t i = 0;
  while (i < type.size()) {
    char c = type[i];
    if (c == '*') {
      ++out.stars;
      seen_star = true;
      ++i;
      continue;
    }
    if (!is_ident_char(c)) {
      ++i; // spaces, array bounds
      continue;
    }
    auto j = i;
    while (j < type.size() && is_ident_char(type[j]))
      ++j;
    auto word = type.substr(i, j - i);
    i = j;
    if (word == "const" || word == "volatile" || word == "__user") {
      if (word == "const" && !seen_star)
        out.const_pointee = true;
    } else if (!seen_star) {
      if (!out.base.empty())
        out.base += ' ';
      out.base += word;
    }
  }
  return out;
}

/// Fills kind and width from the type: known kernel integer typedefs by
/// width and sign; an unknown name as a signed 64-bit value (what the
/// argument register holds).
void classify(syscall_param& p) {
  auto shape = shape_of(p.type);
  if (shape.stars > 0 || is_pointer_typedef(shape.base)) {
    p.kind = value_kind::pointer;
    p.width = 8;
    return;
  }
  static constexpr std::string_view s32[]
    = {"int",   "signed int", "pid_t", "key_serial_t", "clockid_t", "timer_t",
       "mqd_t", "rwf_t",      "key_t", "__s32",        "s32"};
  static constexpr std::string_view u32[]
    = {"unsigned int", "unsigned", "u32", "__u32", "uid_t", "gid_t", "qid_t"};
  static constexpr std::string_view u64[] = {
    "unsigned long", "unsigned long int", "unsigned long long", "size_t", "u64",
    "__u64",         "aio_context_t"};
  auto in = [&](auto& list) {
    return std::find(std::begin(list), std::end(list), shape.base)
           != std::end(list);
  };
  if (shape.base == "umode_t") {
    p.kind = value_kind::octal;
    p.width = 2;
  } else if (in(s32) || starts_with(shape.base, "enum ")) {
    p.kind = value_kind::signed_int;
    p.width = 4;
  } else if (in(u32)) {
    p.kind = value_kind::unsigned_int;
    p.width = 4;
  } else if (in(u64)) {
    p.kind = value_kind::unsigned_int;
    p.width = 8;
  } else {
    // long, loff_t, off_t, and any name not listed: what the register
    // holds, signed.
    p.kind = value_kind::signed_int;
    p.width = 8;
  }
}

// -- capture rules ------------------------------------------------------------

bool is_length_name(std::string_view n) {
  static constexpr std::string_view names[]
    = {"count", "len", "size", "bufsiz", "msg_len", "optlen", "plen"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

bool is_string_name(std::string_view n) {
  static constexpr std::string_view names[] = {
    "filename", "pathname",      "path",        "name",         "oldname",
    "newname",  "from_pathname", "to_pathname", "new_root",     "put_old",
    "special",  "specialfile",   "dev_name",    "dir_name",     "type",
    "uname",    "u_name",        "_type",       "_description", "_callout_info",
    "_fs_name", "_key"};
  return std::find(std::begin(names), std::end(names), n) != std::end(names);
}

/// Syscalls whose buffer the kernel only reads although its declaration
/// lacks const (net/socket.c's sendto and setsockopt, kernel/sys.c's
/// sethostname and setdomainname).
bool kernel_reads(std::string_view syscall) {
  return syscall == "sendto" || syscall == "setsockopt"
         || syscall == "sethostname" || syscall == "setdomainname";
}

/// Syscalls whose buffer is not captured: syslog returns a size or a count
/// for some actions, not the bytes it wrote.
bool no_buffer(std::string_view syscall) {
  return syscall == "syslog";
}

} // namespace

void derive_capture_spec(syscall_format& f) {
  f.capture = {};
  size_t used = 0;
  for (size_t i = 0; i < f.params.size() && i < max_params; ++i) {
    auto& p = f.params[i];
    p.capture = capture_kind::none;
    p.len_arg = NW_TRACELOOP_NO_ARG;
    auto shape = shape_of(p.type);
    bool one_ptr = shape.stars == 1;
    bool char_ptr = one_ptr && shape.base == "char";
    bool void_ptr = one_ptr && shape.base == "void";
    bool length_next = i + 1 < f.params.size() && !f.params[i + 1].is_pointer()
                       && is_length_name(f.params[i + 1].name);
    if ((char_ptr || void_ptr) && length_next && !no_buffer(f.name)) {
      p.capture = shape.const_pointee || kernel_reads(f.name)
                    ? capture_kind::buffer_in
                    : capture_kind::buffer_out;
      p.len_arg = static_cast<uint8_t>(i + 1);
    } else if (char_ptr && is_string_name(p.name)) {
      p.capture = capture_kind::string;
    }
    if (p.capture != capture_kind::none && used < NW_TRACELOOP_CAPTURE_RULES) {
      auto& rule = f.capture.rules[used++];
      rule.kind = static_cast<__u8>(p.capture);
      rule.arg = static_cast<__u8>(i);
      rule.len_arg = p.len_arg;
    }
  }
}

parsed_format parse_format(std::string_view text,
                           std::string_view expected_name) {
  parsed_format out;
  auto fail = [&](std::string why) {
    out.format = {};
    out.error = std::move(why);
    return out;
  };
  if (text.size() > max_format_bytes)
    return fail("format is " + std::to_string(text.size()) + " bytes (at most "
                + std::to_string(max_format_bytes) + ")");
  if (text.find('\0') != std::string_view::npos)
    return fail("format contains a NUL byte");
  enum { header, fields, done } state = header;
  bool have_name = false;
  bool have_nr = false;
  size_t lines = 0;
  uint32_t last_offset = 0;
  while (!text.empty() && state != done) {
    auto nl = text.find('\n');
    auto raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (++lines > max_lines)
      return fail("more than " + std::to_string(max_lines) + " lines");
    auto line = trim(raw);
    if (line.empty())
      continue;
    if (starts_with(line, "print fmt:")) {
      // The rest is a C expression we have no use for.
      state = done;
    } else if (state == header && starts_with(line, "name:")) {
      if (have_name)
        return fail("two name: lines");
      auto name = trim(line.substr(5));
      if (!starts_with(name, "sys_enter_"))
        return fail("name " + quote(name) + " is not sys_enter_*");
      name.remove_prefix(std::strlen("sys_enter_"));
      if (!is_ident(name))
        return fail("bad syscall name " + quote(name));
      if (!expected_name.empty() && name != expected_name)
        return fail("name " + quote(name) + " in the format of "
                    + quote(expected_name));
      out.format.name = std::string{name};
      have_name = true;
    } else if (state == header && starts_with(line, "ID:")) {
      uint32_t id = 0;
      if (!parse_small_uint(trim(line.substr(3)), id))
        return fail("bad ID " + quote(line));
    } else if (state == header && line == "format:") {
      if (!have_name)
        return fail("format: before name:");
      state = fields;
    } else if (state == fields && starts_with(line, "field:")) {
      field fl;
      auto why = parse_field(line, fl);
      if (!why.empty())
        return fail(why);
      if (!have_nr) {
        if (fl.name == "__syscall_nr") {
          have_nr = true;
        } else if (!starts_with(fl.name, "common_")) {
          return fail("field " + fl.name + " before __syscall_nr");
        }
        last_offset = fl.offset;
        continue;
      }
      // Kernel-added data after the arguments (a __data_loc string, say)
      // is not an argument.
      if (starts_with(fl.name, "__"))
        continue;
      if (fl.array)
        return fail("parameter " + fl.name + " is an array");
      if (fl.size != 4 && fl.size != 8)
        return fail("parameter " + fl.name + " has size "
                    + std::to_string(fl.size));
      if (fl.offset <= last_offset)
        return fail("parameter " + fl.name + " does not follow the last field");
      last_offset = fl.offset;
      if (out.format.params.size() == max_params)
        return fail("more than " + std::to_string(max_params) + " parameters");
      for (auto& p : out.format.params)
        if (p.name == fl.name)
          return fail("parameter " + fl.name + " twice");
      syscall_param p;
      p.name = std::move(fl.name);
      p.type = std::move(fl.type);
      classify(p);
      out.format.params.push_back(std::move(p));
    } else {
      return fail("unexpected line " + std::to_string(lines) + ": "
                  + quote(line));
    }
  }
  if (!have_name)
    return fail("no name: line");
  if (state == header)
    return fail("no format: line");
  if (!have_nr)
    return fail("no __syscall_nr field");
  derive_capture_spec(out.format);
  return out;
}

// -- the table ----------------------------------------------------------------

namespace {

/// Reads at most `max_format_bytes + 1` bytes (tracefs files have no size
/// in stat). Returns a reason, or "" on success.
std::string read_bounded(const std::filesystem::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::strerror(errno);
  out.clear();
  char buf[4096];
  std::string why;
  while (out.size() <= max_format_bytes) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      why = std::strerror(errno);
      break;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return why;
}

/// The kernel's SYSCALL_DEFINE name -> libseccomp's, for events whose name
/// is not the syscall's: fs/stat.c's newstat/newlstat/newfstat and
/// kernel/sys.c's newuname (the "new" prefix), fs/read_write.c's
/// sendfile64 (x86_64's sendfile) and fs/namespace.c's umount (x86_64's
/// umount2).
std::optional<int32_t> alias_number(std::string_view event,
                                    const syscall_table& names) {
  if (starts_with(event, "new"))
    if (auto nr = names.number(event.substr(3)))
      return nr;
  if (event == "sendfile64")
    return names.number("sendfile");
  if (event == "umount")
    return names.number("umount2");
  return std::nullopt;
}

} // namespace

format_table format_table::load(const std::filesystem::path& tracefs,
                                const syscall_table& names) {
  auto t0 = std::chrono::steady_clock::now();
  format_table out;
  auto dir = tracefs / "events" / "syscalls";
  std::error_code ec;
  std::vector<std::string> events;
  std::filesystem::directory_iterator it{dir, ec};
  for (; !ec && it != std::filesystem::directory_iterator{}; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!starts_with(name, "sys_enter_"))
      continue;
    if (events.size() == max_format_files) {
      out.problems_.push_back("more than " + std::to_string(max_format_files)
                              + " sys_enter_* directories: the rest ignored");
      break;
    }
    events.push_back(std::move(name));
  }
  if (ec) {
    out.error_ = "cannot read " + dir.string() + ": " + ec.message();
    out.load_time_ = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - t0);
    return out;
  }
  std::sort(events.begin(), events.end());
  // Exact names first, so an alias never takes a number that has its own
  // format.
  std::vector<std::pair<std::string, int32_t>> mapped;
  std::vector<std::string> later;
  for (auto& ev : events) {
    auto syscall = std::string_view{ev}.substr(std::strlen("sys_enter_"));
    if (auto nr = names.number(syscall))
      mapped.emplace_back(ev, *nr);
    else
      later.push_back(ev);
  }
  for (auto& ev : later) {
    auto syscall = std::string_view{ev}.substr(std::strlen("sys_enter_"));
    auto nr = alias_number(syscall, names);
    if (!nr || std::any_of(mapped.begin(), mapped.end(), [&](auto& m) {
          return m.second == *nr;
        }))
      out.unmapped_.push_back(ev);
    else
      mapped.emplace_back(ev, *nr);
  }
  std::string text;
  for (auto& [ev, nr] : mapped) {
    auto syscall = std::string_view{ev}.substr(std::strlen("sys_enter_"));
    auto why = read_bounded(dir / ev / "format", text);
    if (!why.empty()) {
      out.problems_.push_back(ev + ": " + why);
      continue;
    }
    auto parsed = parse_format(text, syscall);
    if (!parsed.ok()) {
      out.problems_.push_back(ev + ": " + parsed.error);
      continue;
    }
    if (out.by_nr_.size() <= static_cast<size_t>(nr)) {
      out.by_nr_.resize(nr + 1);
      out.present_.resize(nr + 1);
    }
    out.by_nr_[nr] = std::move(parsed.format);
    out.present_[nr] = true;
    ++out.count_;
  }
  out.load_time_ = std::chrono::duration_cast<std::chrono::microseconds>(
    std::chrono::steady_clock::now() - t0);
  return out;
}

const format_table& format_table::native() {
  static const format_table table = [] {
    std::filesystem::path root{default_tracefs};
    auto why = ensure_tracefs(root);
    auto t = load(root, syscall_table::native());
    if (!why.empty() && !t.error_.empty())
      t.error_ = why + " (" + t.error_ + ")";
    return t;
  }();
  return table;
}

const syscall_format* format_table::find(int64_t nr) const {
  if (nr < 0 || static_cast<uint64_t>(nr) >= by_nr_.size() || !present_[nr])
    return nullptr;
  return &by_nr_[nr];
}

std::vector<nw_traceloop_capture_spec> format_table::capture_specs() const {
  std::vector<nw_traceloop_capture_spec> out(by_nr_.size());
  for (size_t nr = 0; nr < by_nr_.size(); ++nr)
    if (present_[nr])
      out[nr] = by_nr_[nr].capture;
  return out;
}

std::string ensure_tracefs(const std::filesystem::path& mountpoint) {
  // tracefs's superblock magic (include/uapi/linux/magic.h).
  constexpr long tracefs_magic = 0x74726163;
  struct statfs st {};
  if (::statfs(mountpoint.c_str(), &st) == 0
      && static_cast<long>(st.f_type) == tracefs_magic)
    return {};
  if (::geteuid() != 0)
    return "tracefs is not mounted at " + mountpoint.string()
           + " and mounting it needs root";
  if (::mount("tracefs", mountpoint.c_str(), "tracefs", 0, nullptr) != 0)
    return "mounting tracefs at " + mountpoint.string() + ": "
           + std::strerror(errno);
  return {};
}

} // namespace nw::traceloop
