// The subcommands of the `nodewatch` binary. Each returns the process exit
// code: 0 success, 1 a runtime failure, 2 usage or bad input (CONTRACTS.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

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

/// Whether `host` is a loopback address (`--insecure-loopback` is allowed
/// only there).
bool is_loopback(const std::string& host);

/// The transport between agents and clients (CONTRACTS.md "Remote access";
/// docs/tls.md): always TLS over caf::openssl, never plain TCP.
struct transport_options {
  /// `--tls-dir`: ca.crt, node.crt/node.key (the agent presents them),
  /// client.crt/client.key (clients present them). Mutual TLS: both sides
  /// verify the other against ca.crt.
  std::string tls_dir;
  /// `--insecure-loopback`: anonymous TLS (encrypted, unauthenticated), on
  /// a loopback address only; `tls_dir` is not used.
  bool insecure_loopback = false;
};

/// How a client reaches agents: the global options.
struct client_options {
  /// `--node`: the agents. The single-node commands below use the first
  /// (main.cpp passes exactly one until multi-node merging exists).
  std::vector<endpoint> nodes{endpoint{}};
  transport_options transport;
};

/// Usage checks of a client's transport before anything connects: with
/// `--insecure-loopback` every node must be a loopback address. False with
/// `error` set (a usage error: exit 2).
bool check_client_transport(const client_options& c, std::string& error);

/// Sets up `cfg`, before its actor_system is made, for a client's
/// transport: loads the middleman, then the OpenSSL manager; with mutual
/// TLS, checks `t.tls_dir` (check_tls_dir) and sets openssl_certificate,
/// openssl_key and openssl_cafile to client.crt, client.key and ca.crt.
/// False with `error` naming the problem and `nodewatch certs init`.
/// Connect with caf::openssl::remote_actor (or, from an actor, the
/// openssl manager's actor_handle()).
/// runtime/agent/openssl_error_queue.cpp: clears OpenSSL's error queue
/// before caf::openssl's session calls (a CAF 0.17.6 bug: one peer's failure
/// dropped another's connection). Referenced where TLS is set up, so that
/// the object is linked; always true.
bool openssl_error_queue_fix();

bool configure_client_transport(caf::actor_system_config& cfg,
                                const transport_options& t, std::string& error);

/// What a failed connection means, for a person: a refused TLS handshake
/// (different CAs, or one side --insecure-loopback and the other not), or
/// no agent listening there.
std::string explain_connect_error(const caf::error& err);

/// Options of `nodewatch agent`.
struct agent_options {
  output_format fmt = output_format::table;
  endpoint listen;
  /// How the facade is published on `listen`: mutual TLS with the node
  /// certificate of `transport.tls_dir` (nothing is published if that
  /// directory fails check_tls_dir), or anonymous TLS with
  /// `--insecure-loopback` (a non-loopback `listen` is then refused, exit 2).
  transport_options transport;
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
int run_ps(const client_options& c, const std::string& select, bool all,
           output_format fmt);
int run_events(const client_options& c, const std::string& select, bool all,
               output_format fmt);
/// `net`: the network counters of the matching containers; 1 if the agent
/// has none (it runs with --no-tc) or cannot be reached.
int run_net(const client_options& c, const std::string& select, bool all,
            output_format fmt);
/// `status`: the agent's version, kernel, features and counters.
int run_status(const client_options& c, output_format fmt);

/// `traceloop list`: the rings the agent holds (live and gone), in id order.
int run_traceloop_list(const client_options& c, output_format fmt);
/// `traceloop show C`: one read of container C's ring (id, unique id
/// prefix or name; gone containers too).
int run_traceloop_show(const client_options& c, const std::string& container,
                       dump_format fmt);
/// `traceloop delete C`: frees C's ring (a running C is no longer traced).
int run_traceloop_delete(const client_options& c, const std::string& container);
/// `traceloop start [SELECTOR]`: traces the running containers that match
/// (all when empty or `all`) and new ones that do; prints how many are
/// traced now. A bad selector exits 2.
int run_traceloop_start(const client_options& c, const std::string& select);
/// `traceloop stop`: stops tracing (rings stay for reading).
int run_traceloop_stop(const client_options& c);

/// `certs init [--dir DIR] [--force]`: a new CA and node and client
/// certificates in `dir` (init_certs); prints the files written and where
/// to copy them. 1 if refused (files exist without `force`, a bad
/// directory).
int run_certs_init(const std::string& dir, bool force);

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
