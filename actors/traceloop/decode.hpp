// Decoding one traceloop syscall_record into what `traceloop show` prints:
// a table line (TIME CPU PID COMM SYSCALL PARAMS RET) or a JSON line
// (CONTRACTS.md, "traceloop lines"), and the summary that ends every read.
// Plain C++: no CAF, no libbpf.
//
// Values, as strace users read them:
// - params are name=value in argument order, separated by ", " in the
//   table; a syscall without a (valid) format shows arg0..arg5 raw in hex;
// - integers in decimal, cut or sign-extended from the C type's width;
//   modes (umode_t) in octal (0644); a *dfd / *dirfd argument of -100 as
//   AT_FDCWD;
// - pointers in hex (0x7ffd...), NULL for 0;
// - captured strings and buffers quoted and escaped like strace
//   (quote_bytes): "hello\n", other non-printables as \xNN, `...` after a
//   truncated one; a failed capture shows the pointer.
//
// A syscall whose enter was not recorded (it began before the ring was
// routed, or a fork child's first return) has no params.
//
// Return values:
// - a value in -4095..-1 is an error: JSON `"ret": -1, "errno": "ENOENT"`,
//   table `= -1 ENOENT (No such file or directory)`. Names come from glibc
//   (strerrorname_np), plus the kernel-internal restart codes the exit
//   tracepoint sees before signal handling (ERESTARTSYS...); an unknown one
//   is ERRNO_N as strace writes it.
// - otherwise JSON `"ret": <raw value>, "errno": null`, table `= <value>`.
// - no exit seen (record.unfinished, or !record.has_exit): JSON
//   `"ret": 0, "errno": null, "unfinished": true` (ret stays a number, as
//   CONTRACTS.md has it; readers look at unfinished first), table
//   `= ? <unfinished>`.
// TIME in the table is the realtime ts_ns as HH:MM:SS.micro, UTC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/traceloop/syscall_record.hpp"
#include "messages/traceloop.hpp"

namespace nw::traceloop {

class format_table;
class syscall_table;

/// One parameter, ready to print: the message type, so that what the node
/// decodes crosses to controllers as it is (messages/traceloop.hpp).
using decoded_param = nw::syscall_param;

/// One syscall, ready to print (messages/traceloop.hpp).
using decoded_syscall = nw::syscall_line;

/// Decodes a record with the names and formats given (usually
/// syscall_table::native() and format_table::native()). Never fails: an
/// unknown number or a syscall without a format decodes raw.
decoded_syscall decode(const syscall_record& record, const syscall_table& names,
                       const format_table& formats);

/// The table's header line (with its '\n').
std::string table_header();

/// One table line (with its '\n'): TIME CPU PID COMM SYSCALL PARAMS RET.
/// COMM is escaped like a string's content, so a thread name cannot forge
/// lines.
std::string table_line(const decoded_syscall& x);

/// One JSON line (with its '\n'), keys in CONTRACTS.md's order: ts_ns, cpu,
/// pid, tid, comm, syscall, params[{name, value}], ret, errno, unfinished.
/// Invalid UTF-8 in comm is replaced (U+FFFD).
std::string json_line(const decoded_syscall& x);

/// The table's last line (with its '\n'): how many records the ring
/// overwrote and how many it lost since it was created.
std::string table_footer(uint64_t overwritten, uint64_t lost);

/// The last JSON line (with its '\n'):
/// {"type":"summary","overwritten":N,"lost":M}.
std::string json_summary(uint64_t overwritten, uint64_t lost);

// -- building blocks, public for tests ----------------------------------------

/// Bytes quoted and escaped like strace: `"` and `\` escaped, \n \t \r \v
/// \f, everything else outside printable ASCII as \xNN; "..." after the
/// closing quote when `truncated`.
std::string quote_bytes(std::string_view bytes, bool truncated);

/// Realtime nanoseconds as HH:MM:SS.uuuuuu, UTC.
std::string format_time(uint64_t ts_ns);

/// The name of a positive errno value (ENOENT), or ERRNO_N.
std::string errno_name(int err);

/// The description of a positive errno value, or "Unknown error N".
std::string errno_text(int err);

} // namespace nw::traceloop
