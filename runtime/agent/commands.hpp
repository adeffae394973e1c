// The subcommands of the `nodewatch` binary. Each returns the process exit
// code: 0 success, 1 a runtime failure, 2 usage or bad input (CONTRACTS.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "messages/selector.hpp"
#include "runtime/agent/output.hpp"
#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"

namespace nw {

/// HOST:PORT of an agent's facade.
struct endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 7415;
};

/// Parses `HOST:PORT` or `[V6]:PORT`; false with `error` set if malformed.
/// Port 0 ("any free port", for listening) only if `allow_any_port`.
bool parse_endpoint(const std::string& text, endpoint& out, std::string& error,
                    bool allow_any_port = false);

/// Whether `host` is a loopback address (plain TCP is allowed only there).
bool is_loopback(const std::string& host);

/// Options of `nodewatch agent`.
struct agent_options {
  output_format fmt = output_format::table;
  endpoint listen;
  std::string scenario;
  std::chrono::milliseconds hold_deadline{2000};
  std::chrono::milliseconds poll_interval{1000};
  /// A pidfd per container's init (`--no-pidfd`: false).
  bool use_pidfd = true;
  std::string host_root;
  std::vector<std::string> runtime_paths;
  /// `--pin-path DIR`: where the containers map is pinned (DIR/containers);
  /// empty: no map.
  std::string pin_path = "/sys/fs/bpf/nodewatch";
  /// `--tc` (the default) / `--no-tc`: hook every container's host-side
  /// veths with the shared TC dispatcher.
  bool tc = true;
  /// `--tc-iface NAME` (repeatable): host interfaces hooked too.
  std::vector<std::string> tc_ifaces;
  /// `--tc-program FILE.o:SECTION`: the program in the dispatcher's slot;
  /// empty: the per-container counters.
  std::string tc_program;
  /// `--traceloop all|none|SELECTOR`: the containers (never sandboxes)
  /// given a syscall ring from the start; nullopt (none): no traceloop.
  std::optional<selector> traceloop = selector{};
  /// `--traceloop-memory MIB`, in bytes: what the rings may pin.
  uint64_t traceloop_budget = uint64_t{256} << 20;
  /// The runtimes' state roots scanned at start (empty: no scan).
  std::vector<std::string> state_roots;
  /// `--record FILE`: write what the kernel answered as a scenario.
  std::string record;
  /// The record file's size cap, in bytes.
  uint64_t record_max_bytes = uint64_t{64} << 20;
};

int run_agent(const agent_options& opts);
int run_simulate(const std::string& path, output_format fmt);
/// What `simulate` prints for `script` (every event, in `fmt`); with
/// `record`, also what the scripted kernel answered, re-recorded there.
std::string simulate_output(std::shared_ptr<const scenario> script,
                            output_format fmt,
                            std::shared_ptr<record_writer> record = nullptr);
int run_ps(const endpoint& node, const std::string& select, bool all,
           output_format fmt);
int run_events(const endpoint& node, const std::string& select, bool all,
               output_format fmt);
/// `net`: the network counters of the matching containers; 1 if the agent
/// has none (it runs with --no-tc) or cannot be reached.
int run_net(const endpoint& node, const std::string& select, bool all,
            output_format fmt);

/// `traceloop list`: the rings the agent holds (live and gone), in id order.
int run_traceloop_list(const endpoint& node, output_format fmt);
/// `traceloop show C`: one read of container C's ring (id, unique id
/// prefix or name; gone containers too).
int run_traceloop_show(const endpoint& node, const std::string& container,
                       dump_format fmt);
/// `traceloop delete C`: frees C's ring (a running C is no longer traced).
int run_traceloop_delete(const endpoint& node, const std::string& container);
/// `traceloop start [SELECTOR]`: traces the running containers that match
/// (all when empty or `all`) and new ones that do; prints how many are
/// traced now. A bad selector exits 2.
int run_traceloop_start(const endpoint& node, const std::string& select);
/// `traceloop stop`: stops tracing (rings stay for reading).
int run_traceloop_stop(const endpoint& node);

/// Parses `agent --traceloop`: `all` (every non-sandbox container), `none`
/// (nullopt) or a SELECTOR. False with `error` set (an empty text, or the
/// selector parser's message).
bool parse_traceloop_flag(const std::string& text, std::optional<selector>& out,
                          std::string& error);

/// Checks `agent --tc-program`: `FILE.o:SECTION`, both parts non-empty,
/// FILE a readable regular file. False with `error` saying what is wrong.
bool check_tc_program(const std::string& text, std::string& error);

/// Checks `agent --tc-iface`: a Linux interface name (1-15 bytes, no '/',
/// no whitespace, not "." or ".."). False with `error` set.
bool check_iface_name(const std::string& name, std::string& error);

} // namespace nw
