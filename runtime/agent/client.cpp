// The controller side of `ps`, `events`, `net`, `status` and `traceloop`:
// talk to an agent's facade over TLS (caf::openssl; CONTRACTS.md "Remote
// access").
#include <arpa/inet.h>

#include <map>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/certs.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/agent/controller.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

constexpr auto request_timeout = std::chrono::seconds{10};
/// `traceloop show`: the agent reads and decodes a whole ring before it
/// answers (~800 syscalls per CPU; 60000 syscalls, ~19 MB, take ~0.25 s
/// over loopback: traceloop_client_test).
constexpr auto show_timeout = std::chrono::seconds{60};

std::string to_string(const endpoint& x) {
  return (x.host.find(':') != std::string::npos ? "[" + x.host + "]" : x.host)
         + ":" + std::to_string(x.port);
}

caf::expected<node_actor> connect(caf::actor_system& sys,
                                  const endpoint& node) {
  auto h = caf::openssl::remote_actor<node_actor>(sys, node.host, node.port);
  if (!h)
    log::error(explain_connect_error(h.error()),
               {{"node", to_string(node)}, {"error", render(h.error())}});
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

bool check_client_transport(const client_options& c, std::string& error) {
  if (c.nodes.empty()) {
    error = "no --node given";
    return false;
  }
  if (c.transport.insecure_loopback)
    for (auto& node : c.nodes)
      if (!is_loopback(node.host)) {
        error = "--insecure-loopback connects to loopback addresses only (it "
                "is unauthenticated); "
                + to_string(node)
                + " needs mutual TLS: drop --insecure-loopback and use "
                  "--tls-dir";
        return false;
      }
  return true;
}

bool configure_client_transport(caf::actor_system_config& cfg,
                                const transport_options& t,
                                std::string& error) {
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  add_nodewatch_types(cfg);
  openssl_error_queue_fix();
  // Anonymous TLS: no openssl_* field may be set (any one of them turns on
  // mutual authentication).
  if (t.insecure_loopback)
    return true;
  if (!check_tls_dir(t.tls_dir, error)) {
    auto advice = error.find("nodewatch certs init") == std::string::npos
                    ? "; make them with `nodewatch certs init` and copy them "
                      "here, or pass --tls-dir (docs/tls.md)"
                    : " (or pass --tls-dir; docs/tls.md)";
    error
      = "no usable client certificate in " + t.tls_dir + ": " + error + advice;
    return false;
  }
  auto files = tls_paths(t.tls_dir);
  cfg.openssl_certificate = files.client_cert;
  cfg.openssl_key = files.client_key;
  cfg.openssl_cafile = files.ca_cert;
  return true;
}

std::string explain_connect_error(const caf::error& err) {
  if (err == caf::sec::disconnect_during_handshake)
    return "TLS handshake failed: check that both sides use certificates "
           "from the same CA, or both --insecure-loopback";
  return "cannot reach the agent; is `nodewatch agent` running there, "
         "publishing its facade? (an agent without certificates publishes "
         "nothing: see its log)";
}

namespace {

/// The node a single-node command talks to. (Several nodes, merged: the
/// controller.)
const endpoint& single_node(const client_options& c) {
  return c.nodes.front();
}

/// Connects to the node over the configured transport, then runs `f(sys,
/// facade)`; returns the exit code (1 if the TLS directory is unusable or
/// the node unreachable).
template <class F>
int with_facade(const client_options& c, F f) {
  caf::actor_system_config cfg;
  std::string error;
  if (!configure_client_transport(cfg, c.transport, error)) {
    log::error("cannot connect", {{"error", error}});
    return 1;
  }
  caf::actor_system sys{cfg};
  auto facade = connect(sys, single_node(c));
  if (!facade)
    return 1;
  return f(sys, *facade);
}

/// Parses the selector and connects to the node, then runs `f(sys, facade,
/// sel)`; returns the exit code (2 for a bad selector, 1 if unreachable).
template <class F>
int with_node(const client_options& c, const std::string& select, F f) {
  selector sel;
  if (!parse_select(select, sel))
    return 2;
  return with_facade(c, [&](caf::actor_system& sys, node_actor& facade) {
    return f(sys, facade, sel);
  });
}

/// Asks the node's facade one traceloop question (`xs...`, after
/// traceloop_atom) and hands the answer, a `T`, to `done`. 0 when answered;
/// 1 with the facade's error (unknown or ambiguous container, an agent
/// without traceloop) logged as "traceloop WHAT failed", or if unreachable.
template <class T, class F, class... Ts>
int traceloop_request(const client_options& c, const char* what,
                      std::chrono::seconds timeout, F done, Ts... xs) {
  return with_facade(c, [&](caf::actor_system& sys, node_actor& facade) {
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

// -- several nodes (the controller, runtime/agent/controller.hpp) ---------

bool merged(const client_options& c) {
  return c.nodes.size() > 1;
}

/// Runs `f(sys)` in an actor system set up for the configured transport;
/// 1 if the TLS directory is unusable.
template <class F>
int with_system(const client_options& c, F f) {
  caf::actor_system_config cfg;
  std::string error;
  if (!configure_client_transport(cfg, c.transport, error)) {
    log::error("cannot connect", {{"error", error}});
    return 1;
  }
  caf::actor_system sys{cfg};
  return f(sys);
}

/// Asks every node at once (`xs...` to each facade), each with `timeout`.
template <class T, class... Ts>
std::vector<node_result<T>> ask_all(caf::actor_system& sys,
                                    const client_options& c,
                                    caf::timespan timeout, Ts... xs) {
  auto conn = spawn_connector(sys, sys.openssl_manager().actor_handle());
  auto rs = fan_out_wait<T>(sys, conn, c.nodes, timeout, std::move(xs)...);
  caf::anon_send_exit(conn, caf::exit_reason::user_shutdown);
  return rs;
}

/// Prints the nodes' answers merged: JSON lines tagged with `node`, tables
/// with a NODE column; a node without an answer is logged (`what failed`,
/// with the node and why) and makes the exit code 1, the others print.
template <class T, class Format>
int print_merged(const client_options& c, std::vector<node_result<T>>& rs,
                 output_format fmt, const char* what, Format format) {
  int rc = 0;
  std::string json;
  std::vector<std::pair<std::string, std::string>> tables;
  for (auto& r : rs) {
    if (!r.value) {
      log::error(std::string{what} + " failed",
                 {{"node", r.node}, {"error", render(r.value.error())}});
      rc = 1;
      continue;
    }
    auto text = format(r.node, *r.value);
    if (fmt == output_format::json)
      json += tag_json_lines(r.node, text);
    else
      tables.emplace_back(r.node, std::move(text));
  }
  write_stdout(fmt == output_format::json
                 ? json
                 : merge_tables(tables, node_column_width(c.nodes)));
  return rc;
}

/// A fan-out command over several nodes: parses nothing, asks, prints.
template <class T, class Format, class... Ts>
int run_merged(const client_options& c, output_format fmt, const char* what,
               caf::timespan timeout, Format format, Ts... xs) {
  return with_system(c, [&](caf::actor_system& sys) {
    auto rs = ask_all<T>(sys, c, timeout, xs...);
    return print_merged(c, rs, fmt, what, format);
  });
}

} // namespace

int run_ps(const client_options& c, const std::string& select, bool all,
           output_format fmt) {
  if (merged(c)) {
    selector sel;
    if (!parse_select(select, sel))
      return 2;
    return with_system(c, [&](caf::actor_system& sys) {
      auto rs = ask_all<std::vector<container_event>>(
        sys, c, request_timeout, list_atom::value, sel, all);
      // -o wide: each node's counters too ("-" where a node has none).
      std::vector<node_result<std::vector<net_stats>>> nets;
      if (fmt == output_format::wide)
        nets = ask_all<std::vector<net_stats>>(sys, c, request_timeout,
                                               net_atom::value, sel, all);
      std::map<std::string, std::vector<net_stats>> net_of;
      for (auto& n : nets)
        if (n.value)
          net_of[n.node] = std::move(*n.value);
      return print_merged(
        c, rs, fmt, "ps",
        [&](const std::string& node, const std::vector<container_event>& xs) {
          std::optional<std::vector<net_stats>> net;
          if (auto i = net_of.find(node); i != net_of.end())
            net = i->second;
          return format_ps(xs, fmt, net);
        });
    });
  }
  return with_node(
    c, select, [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
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

int run_net(const client_options& c, const std::string& select, bool all,
            output_format fmt) {
  if (merged(c)) {
    selector sel;
    if (!parse_select(select, sel))
      return 2;
    return run_merged<std::vector<net_stats>>(
      c, fmt, "net", request_timeout,
      [&](const std::string&, const std::vector<net_stats>& xs) {
        return format_net(xs, fmt);
      },
      net_atom::value, sel, all);
  }
  return with_node(
    c, select, [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
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

/// Each node's answer as `NODE: text` lines (`start`, `stop`, the status
/// table), a node without one logged; 1 if any node failed.
template <class T, class Format>
int print_per_node(std::vector<node_result<T>>& rs, const char* what,
                   Format format) {
  int rc = 0;
  for (auto& r : rs) {
    if (!r.value) {
      log::error(std::string{what} + " failed",
                 {{"node", r.node}, {"error", render(r.value.error())}});
      rc = 1;
      continue;
    }
    write_stdout(format(r.node, *r.value));
  }
  return rc;
}

int run_status(const client_options& c, output_format fmt) {
  if (merged(c))
    return with_system(c, [&](caf::actor_system& sys) {
      auto rs
        = ask_all<node_status>(sys, c, request_timeout, status_atom::value);
      return print_per_node(
        rs, "status", [&](const std::string& node, const node_status& x) {
          auto text = format_status(x, fmt);
          return fmt == output_format::json
                   ? tag_json_lines(node, text)
                   : "NODE      " + node + "\n" + text + "\n";
        });
    });
  return with_facade(c, [&](caf::actor_system& sys, node_actor& facade) {
    int rc = 1;
    caf::scoped_actor self{sys};
    self->request(facade, request_timeout, status_atom::value)
      .receive(
        [&](node_status& x) {
          write_stdout(format_status(x, fmt));
          rc = 0;
        },
        [&](caf::error& err) {
          log::error("status failed", {{"error", render(err)}});
        });
    return rc;
  });
}

int run_certs_init(const std::string& dir, bool force) {
  std::string error;
  std::vector<std::string> written;
  if (!init_certs(dir, force, error, &written)) {
    log::error("certs init refused", {{"error", error}});
    return 1;
  }
  std::string text = "wrote a new CA and a node and a client certificate:\n";
  for (auto& path : written)
    text += "  " + path + "\n";
  auto files = tls_paths(dir);
  text += "copy " + files.ca_cert + ", " + files.node_cert + ", "
          + files.node_key + ", " + files.client_cert + " and "
          + files.client_key
          + " to every node and controller (their --tls-dir, default "
            "/var/lib/nodewatch/tls or $NODEWATCH_TLS_DIR; directory 0700, "
            "keys 0600);\nkeep "
          + files.ca_key
          + " only here: whoever holds it can let anything into the cluster "
            "(docs/tls.md)\n";
  if (force)
    text += "this is a new CA: certificates of the old one no longer work\n";
  write_stdout(text);
  return 0;
}

int run_traceloop_list(const client_options& c, output_format fmt) {
  if (merged(c))
    return run_merged<std::vector<traceloop_ring_info>>(
      c, fmt, "traceloop list", request_timeout,
      [&](const std::string&, const std::vector<traceloop_ring_info>& xs) {
        return format_traceloop_list(xs, fmt);
      },
      traceloop_atom::value, list_atom::value);
  return traceloop_request<std::vector<traceloop_ring_info>>(
    c, "list", request_timeout,
    [&](const std::vector<traceloop_ring_info>& xs) {
      write_stdout(format_traceloop_list(xs, fmt));
    },
    list_atom::value);
}

int run_traceloop_show(const client_options& c, const std::string& container,
                       dump_format fmt) {
  return traceloop_request<traceloop_dump>(
    c, "show", show_timeout,
    [&](const traceloop_dump& x) {
      write_stdout(format_traceloop_dump(x, fmt));
    },
    get_atom::value, container);
}

int run_traceloop_delete(const client_options& c,
                         const std::string& container) {
  return traceloop_request<traceloop_ring_info>(
    c, "delete", request_timeout,
    [&](const traceloop_ring_info& x) {
      write_stdout(format_traceloop_deleted(x));
    },
    remove_atom::value, container);
}

int run_traceloop_start(const client_options& c, const std::string& select) {
  selector sel;
  std::string error;
  // `all` as for `agent --traceloop`; nothing at all means the same.
  if (select != "all" && !parse_selector(select, sel, error)) {
    log::error("bad traceloop start SELECTOR", {{"error", error}});
    return 2;
  }
  if (merged(c))
    return with_system(c, [&](caf::actor_system& sys) {
      auto rs = ask_all<uint64_t>(
        sys, c, request_timeout, traceloop_atom::value, start_atom::value, sel);
      return print_per_node(
        rs, "traceloop start", [](const std::string& node, uint64_t n) {
          return node + ": tracing " + std::to_string(n) + " running container"
                 + (n == 1 ? "" : "s") + "\n";
        });
    });
  return traceloop_request<uint64_t>(
    c, "start", request_timeout,
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

int run_traceloop_stop(const client_options& c) {
  if (merged(c))
    return with_system(c, [&](caf::actor_system& sys) {
      auto rs = ask_all<uint64_t>(sys, c, request_timeout,
                                  traceloop_atom::value, stop_atom::value);
      return print_per_node(
        rs, "traceloop stop", [](const std::string& node, uint64_t n) {
          return node + ": stopped tracing " + std::to_string(n) + " container"
                 + (n == 1 ? "" : "s") + "\n";
        });
    });
  return traceloop_request<uint64_t>(
    c, "stop", request_timeout,
    [&](uint64_t n) {
      write_stdout("stopped tracing " + std::to_string(n) + " container"
                   + (n == 1 ? "" : "s")
                   + "; their rings stay for `traceloop show` until deleted or "
                     "evicted\n");
    },
    stop_atom::value);
}

int run_events(const client_options& c, const std::string& select, bool all,
               output_format fmt) {
  if (merged(c)) {
    selector sel;
    if (!parse_select(select, sel))
      return 2;
    return with_system(c, [&](caf::actor_system& sys) {
      auto width = node_column_width(c.nodes);
      if (fmt == output_format::table)
        write_stdout(with_node_column("NODE", width, event_table_header()));
      auto sink = sys.spawn([fmt, width](merged_sink_actor::pointer)
                              -> merged_sink_actor::behavior_type {
        return {
          [fmt, width](event_atom, const std::string& node,
                       const container_event& ev) {
            auto line = format_event(ev, fmt);
            write_stdout(fmt == output_format::json
                           ? tag_json_lines(node, line)
                           : with_node_column(node, width, line));
          },
          [](notice_atom, const node_notice& n) {
            if (n.kind == notice_kind::subscribed && !n.again)
              return;
            log::warn(to_string(n), {{"node", n.node}});
          },
        };
      });
      auto conn = spawn_connector(sys, sys.openssl_manager().actor_handle());
      stream_options sopts;
      sopts.sel = std::move(sel);
      sopts.all = all;
      spawn_merged_stream(sys, conn, c.nodes, std::move(sopts), sink);
      // Streams, reconnecting lost nodes, until interrupted.
      sys.await_all_actors_done();
      return 0;
    });
  }
  return with_node(
    c, select, [&](caf::actor_system& sys, node_actor& facade, selector& sel) {
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
