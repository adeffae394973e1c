// The controller side of many nodes (issue 8, item 3): asking every node at
// once and merging the answers, and one event stream merged from every node
// that survives nodes going away. Transport-agnostic: a connector actor turns
// an endpoint into a node facade handle (the middleman's or the OpenSSL
// manager's `connect` in production, local stand-ins in tests).
//
// Nothing here blocks an actor thread: connections and requests are made
// asynchronously from actors, each with a deadline. `fan_out_wait` is the
// one blocking call, for a CLI's main thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/interfaces.hpp"
#include "messages/selector.hpp"
#include "runtime/agent/commands.hpp"

namespace nw {

// -- the node list ------------------------------------------------------------

/// The name of a node in merged output (the `node` field, the NODE column):
/// `HOST:PORT`, `[V6]:PORT` for an IPv6 address.
std::string node_name(const endpoint& x);

/// Parses `HOST:PORT[,HOST:PORT...]` (each as parse_endpoint does). False
/// with `error` set for an empty list, an empty entry (`a:1,,b:2`, a
/// trailing comma), a malformed entry, or the same node twice.
bool parse_node_list(const std::string& text, std::vector<endpoint>& out,
                     std::string& error);

/// The nodes a client talks to: `--node` if given (non-empty `flag`), else
/// the environment's `NODEWATCH_NODES` if set (`env`, null if unset; set but
/// empty is an error), else the local agent (one default endpoint). False
/// with `error` saying which of them is wrong and why.
bool resolve_nodes(const std::string& flag, const char* env,
                   std::vector<endpoint>& out, std::string& error);

// -- connecting ---------------------------------------------------------------

/// Turns `(host, port)` into a node facade handle, asynchronously; an error
/// if the node cannot be reached or publishes something else there.
using connector_actor = caf::typed_actor<
  caf::replies_to<caf::connect_atom, std::string, uint16_t>::with<node_actor>>;

/// A connector over a CAF middleman actor: `sys.middleman().actor_handle()`
/// (plain TCP) or `sys.openssl_manager().actor_handle()` (TLS). Checks that
/// the actor published there is a node facade. Gives up on a connection
/// after `timeout` (the requester's own deadline usually comes first).
connector_actor
spawn_connector(caf::actor_system& sys, caf::io::middleman_actor manager,
                caf::timespan timeout = std::chrono::seconds{60});

// -- fan-out requests ---------------------------------------------------------

/// One node's answer to a fan-out request.
template <class T>
struct node_result {
  /// node_name() of the node.
  std::string node;
  /// The node's answer, or why there is none: unreachable (the connector's
  /// error), no answer before the deadline (`request_timeout`), or the
  /// node's own error (e.g. `bad_input` from an agent without traceloop).
  /// The error's text (render()) names the node and what happened.
  caf::expected<T> value;
};

/// Called once with every node's result, in the order of the nodes.
template <class T>
using fan_out_handler = std::function<void(std::vector<node_result<T>>)>;

namespace detail {

/// The error of a node that did not connect: says which node and why.
caf::error connect_failed(const std::string& node, const caf::error& err,
                          caf::timespan deadline);

/// The error of a connected node that did not answer (or refused).
caf::error request_failed(const std::string& node, const caf::error& err,
                          caf::timespan deadline);

} // namespace detail

/// Asks every node at once, from `self`: connects through `conn`, then sends
/// `xs...` to the facade, which answers with a `T`. Each node has
/// `deadline` for both (virtual time on the test coordinator): a node that
/// is down, refuses or is late gets its error and does not hold up the
/// others. `done` runs in `self` once all are in. `self` must keep a
/// behavior until then.
template <class T, class Self, class... Ts>
void fan_out(Self* self, const connector_actor& conn,
             const std::vector<endpoint>& nodes, caf::timespan deadline,
             fan_out_handler<T> done, Ts... xs) {
  struct gather {
    std::vector<node_result<T>> results;
    size_t pending = 0;
    fan_out_handler<T> done;
  };
  auto g = std::make_shared<gather>();
  g->pending = nodes.size();
  g->done = std::move(done);
  for (auto& x : nodes)
    g->results.push_back(node_result<T>{
      node_name(x), caf::expected<T>{caf::sec::request_timeout}});
  if (nodes.empty()) {
    g->done({});
    return;
  }
  auto finish = [g](size_t i, caf::expected<T> value) {
    g->results[i].value = std::move(value);
    if (--g->pending == 0)
      g->done(std::move(g->results));
  };
  auto start = self->clock().now();
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto name = g->results[i].node;
    self
      ->request(conn, deadline, caf::connect_atom::value, nodes[i].host,
                nodes[i].port)
      .then(
        [=](node_actor& facade) {
          auto left = deadline - (self->clock().now() - start);
          if (left <= caf::timespan{0}) {
            finish(
              i, detail::request_failed(
                   name, caf::make_error(caf::sec::request_timeout), deadline));
            return;
          }
          self->request(facade, left, xs...)
            .then([=](T& x) { finish(i, std::move(x)); },
                  [=](caf::error& err) {
                    finish(i, detail::request_failed(name, err, deadline));
                  });
        },
        [=](caf::error& err) {
          finish(i, detail::connect_failed(name, err, deadline));
        });
  }
}

/// Spawns an actor that runs one fan_out (see there), calls `done` (in the
/// actor) and quits.
template <class T, class... Ts>
caf::actor spawn_fan_out(caf::actor_system& sys, connector_actor conn,
                         std::vector<endpoint> nodes, caf::timespan deadline,
                         fan_out_handler<T> done, Ts... xs) {
  return sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    fan_out<T>(self, conn, nodes, deadline,
               fan_out_handler<T>{[self, done](std::vector<node_result<T>> rs) {
                 done(std::move(rs));
                 self->quit();
               }},
               xs...);
    // Kept until done: an actor without a behavior quits at once.
    return {[](caf::ok_atom) {}};
  });
}

/// fan_out from a thread that is not an actor's (a CLI's main thread):
/// blocks until every node answered or missed `deadline`. Never call it
/// from an actor.
template <class T, class... Ts>
std::vector<node_result<T>>
fan_out_wait(caf::actor_system& sys, connector_actor conn,
             std::vector<endpoint> nodes, caf::timespan deadline, Ts... xs) {
  auto p = std::make_shared<std::promise<std::vector<node_result<T>>>>();
  auto f = p->get_future();
  spawn_fan_out<T>(sys, std::move(conn), std::move(nodes), deadline,
                   fan_out_handler<T>{[p](std::vector<node_result<T>> rs) {
                     p->set_value(std::move(rs));
                   }},
                   std::move(xs)...);
  return f.get();
}

// -- merged output ------------------------------------------------------------

/// Adds `"node":"NAME"` as the first key of every JSON object line of
/// `lines` (event, ps, net and traceloop list lines as output.hpp renders
/// them); other lines stay as they are.
std::string tag_json_lines(const std::string& node, const std::string& lines);

/// The width of the NODE column for these nodes (the longest name + 2).
size_t node_column_width(const std::vector<endpoint>& nodes);

/// Prefixes every line of `lines` with `cell` left-aligned in `width`
/// columns: `with_node_column("NODE", w, header)`, then
/// `with_node_column(node, w, rows)`.
std::string with_node_column(const std::string& cell, size_t width,
                             const std::string& lines);

/// Merges tables of several nodes as output.hpp renders them (a header
/// line, then rows): the first node's header and every node's rows in node
/// order, with a NODE column first. `tables` are (node name, table), in node
/// order; nodes without an answer are left out by the caller.
std::string
merge_tables(const std::vector<std::pair<std::string, std::string>>& tables,
             size_t width);

// -- merged event stream
// -------------------------------------------------------

/// What a merged stream says about a node, besides its events.
enum class notice_kind : uint8_t {
  /// Subscribed; its current containers come as `added` events. `again`:
  /// after losing the node, so events between may have been missed.
  subscribed,
  /// The node went away (its facade or the connection died): events may
  /// have been missed; a reconnect follows in `retry_in`.
  went_away,
  /// Connecting or subscribing failed; the next attempt is in `retry_in`.
  unreachable,
};

/// A note about one node of a merged stream.
struct node_notice {
  notice_kind kind = notice_kind::subscribed;
  std::string node;
  /// subscribed: after a loss (or after failed attempts at the start,
  /// which cannot have missed anything: false then).
  bool again = false;
  /// went_away, unreachable: why.
  caf::error reason;
  /// went_away, unreachable: when the next attempt is made.
  caf::timespan retry_in{0};
};

/// @relates node_notice
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_notice& x) {
  return f(caf::meta::type_name("nw::node_notice"), x.kind, x.node, x.again,
           x.reason, x.retry_in);
}

/// One line for a person: "node X went away (...); events may have been
/// missed; reconnecting in 0.5 s", ...
std::string to_string(const node_notice& x);

/// Tags a merged stream's messages.
using notice_atom = caf::atom_constant<caf::atom("nw_notice")>;

/// Receives a merged stream: each node's events, tagged with node_name(),
/// in that node's order, and notices about the nodes (a node's notices in
/// order with its events: `went_away` after its last event).
using merged_sink_actor
  = caf::typed_actor<caf::reacts_to<event_atom, std::string, container_event>,
                     caf::reacts_to<notice_atom, node_notice>>;

/// Settings of a merged stream.
struct stream_options {
  selector sel;
  /// Sandboxes too.
  bool all = false;
  /// Deadlines for connecting and for the facade's subscribe reply.
  caf::timespan connect_timeout = std::chrono::seconds{5};
  caf::timespan subscribe_timeout = std::chrono::seconds{10};
  /// Back-off between attempts on one node: the first retry after
  /// `backoff_initial`, doubling up to `backoff_max`; reset once subscribed.
  caf::timespan backoff_initial = std::chrono::milliseconds{500};
  caf::timespan backoff_max = std::chrono::seconds{30};
};

/// The back-off after `failures` consecutive failed or lost attempts
/// (1: `initial`), doubling, capped at `max`.
caf::timespan backoff_delay(size_t failures, caf::timespan initial,
                            caf::timespan max);

/// Spawns a merged stream over `nodes`: subscribes to each through `conn`
/// (one local sink per node and connection, which tags and forwards to
/// `out`), and on losing a node reports it and reconnects with back-off
/// while the other nodes' streams go on. Runs until it is sent an exit
/// (`caf::anon_send_exit(h, caf::exit_reason::user_shutdown)`), which ends
/// its per-node sinks too (and so the nodes' forwarders); `out` is the
/// caller's.
caf::actor spawn_merged_stream(caf::actor_system& sys, connector_actor conn,
                               std::vector<endpoint> nodes, stream_options opts,
                               merged_sink_actor out);

} // namespace nw
