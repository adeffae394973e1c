// Syscall parameter formats from the kernel's tracefs
// (`events/syscalls/sys_enter_NAME/format`): each syscall's parameter names
// in order, their C types, which are pointers and which are strings, and the
// capture spec the BPF side follows (bpf/traceloop.h). Loaded once per
// process. Plain C++: no CAF, no libbpf.
//
// The format text is kernel-made but parsed as untrusted input: bounded,
// validated line by line; a malformed or missing format degrades that one
// syscall to raw values (arg0..arg5), never the whole table.
//
// The capture rules (derive_capture_spec), from what the formats say:
// - A *buffer* is a single pointer to char or void immediately followed by a
//   length argument (named count, len, size, bufsiz, msg_len, optlen or
//   plen): write(fd, buf, count), recvfrom(fd, ubuf, size, ...).
//   - buffer_in when the pointee is const (the kernel only reads it):
//     write, pwrite64, setxattr's value, mq_timedsend; and for the few
//     syscalls declared without const although the kernel only reads:
//     sendto, setsockopt, sethostname, setdomainname.
//   - buffer_out otherwise (the kernel fills it; the length is the return
//     value): read, pread64, recvfrom, getxattr's value, readlink, getcwd,
//     getrandom, listxattr, mq_timedreceive.
//   - syslog is excluded: its return value is not a byte count for every
//     action.
// - A *string* is a single pointer to char (tracefs prints `char __user *`
//   as `char *`, so const or not) that is not a buffer and whose name says
//   path or name: filename, pathname, path, name, oldname, newname,
//   from_pathname, to_pathname, new_root, put_old, special, specialfile,
//   dev_name, dir_name, type, uname, u_name, _type, _description,
//   _callout_info, _fs_name, _key. (`const char *const *` argv/envp are
//   not strings: arrays of pointers.)
// - At most NW_TRACELOOP_CAPTURE_RULES per syscall, in argument order.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/traceloop.h"

namespace nw::traceloop {

class syscall_table;

/// Where tracefs is mounted on a modern kernel.
inline constexpr std::string_view default_tracefs = "/sys/kernel/tracing";

/// Largest format file read; this kernel's largest is ~1 KiB.
inline constexpr size_t max_format_bytes = 16 * 1024;

/// Most `sys_enter_*` directories read from one tracefs (~370 on x86_64).
inline constexpr size_t max_format_files = 4096;

/// Syscalls take at most six arguments.
inline constexpr size_t max_params = 6;

/// How a parameter's value is shown.
enum class value_kind : uint8_t {
  /// Decimal, sign-extended from the C type's width (int, pid_t, long...).
  signed_int,
  /// Decimal, cut to the C type's width (unsigned int, size_t, uid_t...).
  unsigned_int,
  /// Octal with a leading 0, as strace shows modes (umode_t).
  octal,
  /// Hex (0x...), NULL for 0.
  pointer,
};

/// What the BPF side captures behind a parameter (bpf/traceloop.h's
/// NW_TRACELOOP_CAPTURE_*).
enum class capture_kind : uint8_t {
  none = NW_TRACELOOP_CAPTURE_NONE,
  string = NW_TRACELOOP_CAPTURE_STRING,
  buffer_in = NW_TRACELOOP_CAPTURE_BUFFER_IN,
  buffer_out = NW_TRACELOOP_CAPTURE_BUFFER_OUT,
};

/// One syscall parameter as tracefs describes it.
struct syscall_param {
  /// The parameter's name in the kernel's SYSCALL_DEFINE (e.g. "filename").
  std::string name;
  /// Its C type as tracefs prints it, spaces normalised (e.g.
  /// "const char *"; `__user` does not show).
  std::string type;
  /// How its value is shown.
  value_kind kind = value_kind::signed_int;
  /// Bytes of the C type for integers (2, 4 or 8; the value is cut or
  /// sign-extended from it: the argument register's upper bits are not
  /// the caller's); 8 for pointers.
  uint8_t width = 8;
  /// Whether the BPF side could capture what it points to (even if the
  /// syscall's spec has no room left for it).
  capture_kind capture = capture_kind::none;
  /// For a buffer: the argument index holding its length.
  uint8_t len_arg = NW_TRACELOOP_NO_ARG;

  /// A NUL-terminated user string.
  bool is_string() const noexcept {
    return capture == capture_kind::string;
  }

  /// A pointer (strings and buffers included).
  bool is_pointer() const noexcept {
    return kind == value_kind::pointer;
  }
};

/// One syscall's parameters.
struct syscall_format {
  /// The tracefs event's name without "sys_enter_": the kernel's
  /// SYSCALL_DEFINE name, which may differ from libseccomp's (newstat for
  /// stat, sendfile64 for sendfile, umount for umount2).
  std::string name;
  /// In argument order; at most max_params.
  std::vector<syscall_param> params;
  /// What the BPF side captures: the first capturable parameters in
  /// argument order, unused rules zeroed.
  nw_traceloop_capture_spec capture{};
};

/// The outcome of parse_format: a format, or why there is none.
struct parsed_format {
  /// Valid when error is empty.
  syscall_format format;
  /// Why the text was rejected: one line, input quoted safely.
  std::string error;

  bool ok() const noexcept {
    return error.empty();
  }
};

/// Parses one tracefs format file's text (at most max_format_bytes).
/// Fields before `__syscall_nr` must be `common_*`; the fields after it are
/// the parameters (at most six, 4 or 8 bytes each, increasing offsets,
/// unique names), except fields named `__*` (kernel-added data, skipped).
/// `expected_name`, when not empty, must equal the file's
/// `name: sys_enter_X`'s X. Fills each parameter's kind, width and capture
/// and the capture spec (derive_capture_spec).
parsed_format parse_format(std::string_view text,
                           std::string_view expected_name = {});

/// Classifies the parameters' captures and derives the spec per the rules
/// at the top of this header. Called by parse_format; public for tests and
/// for formats built by hand.
void derive_capture_spec(syscall_format& format);

/// The formats of every syscall the kernel traces, by native syscall
/// number.
class format_table {
public:
  // -- constructors -----------------------------------------------------------

  /// An empty table: every syscall decodes to raw values.
  format_table() = default;

  /// Loads `<tracefs>/events/syscalls/sys_enter_*/format` and maps each
  /// event to a syscall number through `names`: by its own name, else
  /// without a "new" prefix (newstat -> stat), else through the kernel's
  /// two other renames (sendfile64 -> sendfile, umount -> umount2). Never
  /// fails as a whole: an unreadable directory gives an empty table with
  /// error() set; a bad file is left out with a reason in problems().
  /// Does not mount anything (see ensure_tracefs).
  static format_table load(const std::filesystem::path& tracefs,
                           const syscall_table& names);

  /// The process-wide table: ensure_tracefs(default_tracefs), then
  /// load(default_tracefs, syscall_table::native()), once (thread-safe,
  /// immutable afterwards; ~370 files).
  static const format_table& native();

  // -- properties -------------------------------------------------------------

  /// The format of syscall `nr`, or nullptr (no format, a malformed one,
  /// or a number beyond the table): decode it raw.
  const syscall_format* find(int64_t nr) const;

  /// The capture spec of every syscall, indexed by number (0 up to the
  /// highest number with a format), for the BPF side's array; a syscall
  /// without a format has an all-NONE spec.
  std::vector<nw_traceloop_capture_spec> capture_specs() const;

  /// How many syscalls have a format.
  size_t size() const noexcept {
    return count_;
  }

  /// Why nothing could be loaded (tracefs missing or unreadable); empty
  /// otherwise.
  const std::string& error() const noexcept {
    return error_;
  }

  /// One line per format left out: "sys_enter_X: reason".
  const std::vector<std::string>& problems() const noexcept {
    return problems_;
  }

  /// Events whose syscall libseccomp does not know on this architecture
  /// (a kernel newer than libseccomp): they decode as "syscall_N", raw.
  const std::vector<std::string>& unmapped() const noexcept {
    return unmapped_;
  }

  /// How long load() took.
  std::chrono::microseconds load_time() const noexcept {
    return load_time_;
  }

private:
  std::vector<syscall_format> by_nr_;
  std::vector<bool> present_;
  size_t count_ = 0;
  std::string error_;
  std::vector<std::string> problems_;
  std::vector<std::string> unmapped_;
  std::chrono::microseconds load_time_{0};
};

/// Makes sure tracefs is mounted at `mountpoint`: nothing when it is;
/// mounts it (mount("tracefs", mountpoint, "tracefs", 0, nullptr)) when it
/// is not and we are root. Returns why tracefs is not there, or "" when it
/// is.
std::string ensure_tracefs(const std::filesystem::path& mountpoint);

} // namespace nw::traceloop
