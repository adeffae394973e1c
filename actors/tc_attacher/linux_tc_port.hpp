// The TC attacher's real kernel: the shared dispatcher (runtime/kernel/
// tc_hook), the counters program or a user's (tc_programs), rtnetlink for
// links and nsids (netlink.hpp), and a libuv loop thread of its own that
// watches the link-change socket. Everything it hooked is unhooked when it
// is destroyed.
#pragma once

#include <memory>
#include <string>

#include "actors/tc_attacher/tc_port.hpp"

namespace nw {

struct linux_tc_port_config {
  /// `--host-root`: /proc is read under it ("" = /).
  std::string host_root;
  /// `--tc-program FILE.o:SECTION`; empty: the per-container counters.
  std::string program;
};

/// The real port; start() does the loading, so construction cannot fail.
std::unique_ptr<tc_port> make_linux_tc_port(linux_tc_port_config cfg);

/// Splits `FILE.o:SECTION` at its last colon; false with the reason.
bool parse_tc_program(const std::string& text, std::string& file,
                      std::string& section, std::string& error);

} // namespace nw
