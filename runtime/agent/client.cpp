// The controller side of `ps`, `events`, `net` and `traceloop`: talk to an
// agent's facade.
#include <arpa/inet.h>

#include <optional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

constexpr auto request_timeout = std::chrono::seconds{10};
/// `traceloop show`: the agent reads and decodes a whole ring before it
/// answers (~800 syscalls per CPU; 60000 syscalls, ~19 MB, take ~0.25 s
/// over loopback: traceloop_client_test).
constexpr auto show_timeout = std::chrono::seconds{60};

void configure(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  add_nodewatch_types(cfg);
}

caf::expected<node_actor> connect(caf::actor_system& sys,
                                  const endpoint& node) {
  auto h = caf::io::remote_actor<node_actor>(sys, node.host, node.port);
  if (!h)
    log::error("cannot reach the agent; is `nodewatch agent` running there?",
               {{"node", node.host + ":" + std::to_string(node.port)},
                {"error", render(h.error())}});
  return h;
}

bool parse_select(const std::string& text, selector& sel) {
  std::string error;
  if (parse_selector(text, sel, error))
    return true;
  log::error("bad --select", {{"error", error}});
  return false;
}

} // namespace

bool parse_endpoint(const std::string& text, endpoint& out, std::string& error,
                    bool allow_any_port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = "'" + text + "' is not HOST:PORT";
    return false;
  }
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = text.substr(colon + 1);
  if (port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos) {
    error = "'" + port_text + "' is not a port number";
    return false;
  }
  auto port = std::stoul(port_text);
  if ((port == 0 && !allow_any_port) || port > 65535) {
    error = "port " + port_text + " is out of range (1-65535)";
    return false;
  }
  out.host = host;
  out.port = static_cast<uint16_t>(port);
  return true;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1
         && IN6_IS_ADDR_LOOPBACK(&v6);
}

namespace {

/// Connects to the node, then runs `f(sys, facade)`; returns the exit code
/// (1 if unreachable).
template <class F>
int with_facade(const endpoint& node, F f) {
  caf::actor_system_config cfg;
  configure(cfg);
  caf::actor_system sys{cfg};
  auto facade = connect(sys, node);
  if (!facade)
    return 1;
  return f(sys, *facade);
}

/// Parses the selector and connects to the node, then runs `f(sys, facade,
/// sel)`; returns the exit code (2 for a bad selector, 1 if unreachable).
template <class F>
int with_node(const endpoint& node, const std::string& select, F f) {
  selector sel;
  if (!parse_select(select, sel))
    return 2;
  return with_facade(node, [&](caf::actor_system& sys, node_actor& facade) {
    return f(sys, facade, sel);
  });
}

/// Asks the node's facade one traceloop question (`xs...`, after
/// traceloop_atom) and hands the answer, a `T`, to `done`. 0 when answered;
/// 1 with the facade's error (unknown or ambiguous container, an agent
/// without traceloop) logged as "traceloop WHAT failed", or if unreachable.
template <class T, class F, class... Ts>
int traceloop_request(const endpoint& node, const char* what,
                      std::chrono::seconds timeout, F done, Ts... xs) {
  return with_facade(node, [&](caf::actor_system& sys, node_actor& facade) {
    int rc = 1;
    caf::scoped_actor self{sys};
    self->request(facade, timeout, traceloop_atom::value, std::move(xs)...)
      .receive(
        [&](T& x) {
          done(x);
          rc = 0;
        },
        [&](caf::error& err) {
          log::error(std::string{"traceloop "} + what + " failed",
                     {{"error", render(err)}});
        });
    return rc;
  });
}

} // namespace

int run_ps(const endpoint& node, const std::string& select, bool all,
           output_format fmt) {
  return with_node(
    node, select,
    [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
      caf::scoped_actor self{sys};
      std::vector<container_event> xs;
      caf::error failed;
      self->request(facade, request_timeout, list_atom::value, sel, all)
        .receive([&](std::vector<container_event>& ys) { xs = std::move(ys); },
                 [&](caf::error& err) { failed = std::move(err); });
      if (failed) {
        log::error("ps failed", {{"error", render(failed)}});
        return 1;
      }
      // `-o wide` shows the network counters too, when the agent has them;
      // without them (an agent under --no-tc), "-" in their columns.
      std::optional<std::vector<net_stats>> net;
      if (fmt == output_format::wide)
        self->request(facade, request_timeout, net_atom::value, sel, all)
          .receive([&](std::vector<net_stats>& ys) { net = std::move(ys); },
                   [&](caf::error& err) {
                     // No TC is a choice of the agent's, not a failure.
                     if (err.category() != error_category
                         || err.code() != static_cast<uint8_t>(errc::bad_input))
                       log::warn("ps -o wide: no network counters",
                                 {{"error", render(err)}});
                   });
      write_stdout(format_ps(xs, fmt, net));
      return 0;
    });
}

int run_net(const endpoint& node, const std::string& select, bool all,
            output_format fmt) {
  return with_node(
    node, select,
    [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
      int rc = 1;
      caf::scoped_actor self{sys};
      self->request(facade, request_timeout, net_atom::value, sel, all)
        .receive(
          [&](std::vector<net_stats>& xs) {
            write_stdout(format_net(xs, fmt));
            rc = 0;
          },
          [&](caf::error& err) {
            log::error("net failed", {{"error", render(err)}});
          });
      return rc;
    });
}

int run_traceloop_list(const endpoint& node, output_format fmt) {
  return traceloop_request<std::vector<traceloop_ring_info>>(
    node, "list", request_timeout,
    [&](const std::vector<traceloop_ring_info>& xs) {
      write_stdout(format_traceloop_list(xs, fmt));
    },
    list_atom::value);
}

int run_traceloop_show(const endpoint& node, const std::string& container,
                       dump_format fmt) {
  return traceloop_request<traceloop_dump>(
    node, "show", show_timeout,
    [&](const traceloop_dump& x) {
      write_stdout(format_traceloop_dump(x, fmt));
    },
    get_atom::value, container);
}

int run_traceloop_delete(const endpoint& node, const std::string& container) {
  return traceloop_request<traceloop_ring_info>(
    node, "delete", request_timeout,
    [&](const traceloop_ring_info& x) {
      write_stdout(format_traceloop_deleted(x));
    },
    remove_atom::value, container);
}

int run_traceloop_start(const endpoint& node, const std::string& select) {
  selector sel;
  std::string error;
  // `all` as for `agent --traceloop`; nothing at all means the same.
  if (select != "all" && !parse_selector(select, sel, error)) {
    log::error("bad traceloop start SELECTOR", {{"error", error}});
    return 2;
  }
  return traceloop_request<uint64_t>(
    node, "start", request_timeout,
    [&](uint64_t n) {
      write_stdout("tracing " + std::to_string(n) + " running container"
                   + (n == 1 ? "" : "s") + "; "
                   + (sel.clauses.empty()
                        ? std::string{"every new container (sandboxes "
                                      "never) is traced from its start"}
                        : "new containers matching '" + to_string(sel)
                            + "' are traced from their start")
                   + "\n");
    },
    start_atom::value, sel);
}

int run_traceloop_stop(const endpoint& node) {
  return traceloop_request<uint64_t>(
    node, "stop", request_timeout,
    [&](uint64_t n) {
      write_stdout("stopped tracing " + std::to_string(n) + " container"
                   + (n == 1 ? "" : "s")
                   + "; their rings stay for `traceloop show` until deleted or "
                     "evicted\n");
    },
    stop_atom::value);
}

int run_events(const endpoint& node, const std::string& select, bool all,
               output_format fmt) {
  return with_node(
    node, select,
    [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
      if (fmt == output_format::table)
        write_stdout(event_table_header());
      auto sink = sys.spawn(
        [fmt](event_sink_actor::pointer) -> event_sink_actor::behavior_type {
          return {
            [fmt](event_atom, const container_event& ev) {
              write_stdout(format_event(ev, fmt));
            },
          };
        });
      int rc = 1;
      caf::scoped_actor self{sys};
      self->monitor(facade);
      self
        ->request(facade, request_timeout, subscribe_atom::value, sel, all,
                  sink)
        .receive([&](uint64_t) { rc = 0; },
                 [&](caf::error& err) {
                   log::error("events failed", {{"error", render(err)}});
                 });
      if (rc == 0) {
        // Stream until the agent goes away (or we are interrupted).
        self->receive([&](const caf::down_msg&) {
          log::error("the agent went away");
          rc = 1;
        });
      }
      caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
      return rc;
    });
}

} // namespace nw
