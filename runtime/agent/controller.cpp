#include "runtime/agent/controller.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/make_message.hpp>
#include <caf/node_id.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "messages/errors.hpp"

namespace nw {

// -- the node list ------------------------------------------------------------

std::string node_name(const endpoint& x) {
  auto port = std::to_string(x.port);
  if (x.host.find(':') != std::string::npos)
    return "[" + x.host + "]:" + port;
  return x.host + ":" + port;
}

namespace {

std::string trim(const std::string& x) {
  auto first = x.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = x.find_last_not_of(" \t\r\n");
  return x.substr(first, last - first + 1);
}

} // namespace

bool parse_node_list(const std::string& text, std::vector<endpoint>& out,
                     std::string& error) {
  if (trim(text).empty()) {
    error = "no node given (expected HOST:PORT[,HOST:PORT...])";
    return false;
  }
  std::vector<endpoint> result;
  std::set<std::string> seen;
  size_t pos = 0;
  for (size_t n = 1;; ++n) {
    auto comma = text.find(',', pos);
    auto entry = trim(text.substr(
      pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (entry.empty()) {
      error = "entry " + std::to_string(n) + " of '" + text
              + "' is empty (expected HOST:PORT[,HOST:PORT...])";
      return false;
    }
    endpoint x;
    std::string why;
    if (!parse_endpoint(entry, x, why)) {
      error = "entry " + std::to_string(n) + " of '" + text + "': " + why;
      return false;
    }
    if (!seen.insert(node_name(x)).second) {
      error = "node " + node_name(x) + " is given twice in '" + text + "'";
      return false;
    }
    result.push_back(std::move(x));
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  out = std::move(result);
  return true;
}

bool resolve_nodes(const std::string& flag, const char* env,
                   std::vector<endpoint>& out, std::string& error) {
  std::string why;
  if (!flag.empty()) {
    if (parse_node_list(flag, out, why))
      return true;
    error = "bad --node: " + why;
    return false;
  }
  if (env != nullptr) {
    if (parse_node_list(env, out, why))
      return true;
    error = "bad NODEWATCH_NODES: " + why
            + " (unset it to talk to the local agent)";
    return false;
  }
  out = {endpoint{}};
  return true;
}

// -- connecting ---------------------------------------------------------------

namespace {

connector_actor::behavior_type connector(connector_actor::pointer self,
                                         caf::io::middleman_actor manager,
                                         caf::timespan timeout) {
  return {
    [=](caf::connect_atom, std::string& host,
        uint16_t port) -> caf::result<node_actor> {
      auto promise = self->make_response_promise<node_actor>();
      auto name = node_name(endpoint{host, port});
      self->request(manager, timeout, caf::connect_atom::value, host, port)
        .then(
          [=](caf::node_id&, caf::strong_actor_ptr& ptr,
              std::set<std::string>& ifs) mutable {
            if (!ptr) {
              promise.deliver(
                caf::make_error(caf::sec::no_actor_published_at_port,
                                "nothing is published at " + name));
            } else if (!self->system().assignable<node_actor>(ifs)) {
              promise.deliver(
                caf::make_error(caf::sec::unexpected_actor_messaging_interface,
                                "what " + name
                                  + " publishes is not a nodewatch agent "
                                    "(or another version of it)"));
            } else {
              promise.deliver(caf::actor_cast<node_actor>(std::move(ptr)));
            }
          },
          [=](caf::error& err) mutable { promise.deliver(std::move(err)); });
      return promise;
    },
  };
}

} // namespace

connector_actor spawn_connector(caf::actor_system& sys,
                                caf::io::middleman_actor manager,
                                caf::timespan timeout) {
  return sys.spawn(connector, std::move(manager), timeout);
}

// -- fan-out requests ---------------------------------------------------------

namespace {

/// "0.5 s", "2 s", "30 s".
std::string seconds_text(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g s",
                std::chrono::duration<double>(d).count());
  return buf;
}

std::string context_of(const caf::error& err) {
  if (err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return {};
}

bool is_timeout(const caf::error& err) {
  return err == caf::sec::request_timeout;
}

/// `err` with the same code and category, its context `text`.
caf::error reworded(const caf::error& err, std::string text) {
  if (!err)
    return caf::make_error(caf::sec::unexpected_response, std::move(text));
  return caf::error{err.code(), err.category(),
                    caf::make_message(std::move(text))};
}

} // namespace

namespace detail {

caf::error connect_failed(const std::string& node, const caf::error& err,
                          caf::timespan deadline) {
  if (is_timeout(err))
    return reworded(err, "no connection to node " + node + " within "
                           + seconds_text(deadline));
  auto ctx = context_of(err);
  return reworded(err, "cannot reach node " + node
                         + (ctx.empty() ? std::string{} : ": " + ctx));
}

caf::error request_failed(const std::string& node, const caf::error& err,
                          caf::timespan deadline) {
  if (is_timeout(err))
    return reworded(err, "node " + node + " did not answer within "
                           + seconds_text(deadline));
  auto ctx = context_of(err);
  return reworded(err,
                  "node " + node + (ctx.empty() ? std::string{} : ": " + ctx));
}

} // namespace detail

// -- merged output ------------------------------------------------------------

std::string tag_json_lines(const std::string& node, const std::string& lines) {
  auto key = "\"node\":" + nlohmann::json(node).dump() + ",";
  std::string out;
  out.reserve(lines.size() + key.size() * 4);
  size_t pos = 0;
  while (pos < lines.size()) {
    auto nl = lines.find('\n', pos);
    auto end = nl == std::string::npos ? lines.size() : nl + 1;
    if (lines[pos] == '{') {
      out += '{';
      // An empty object gets no trailing comma.
      if (pos + 1 < lines.size() && lines[pos + 1] == '}')
        out += key.substr(0, key.size() - 1);
      else
        out += key;
      out.append(lines, pos + 1, end - pos - 1);
    } else {
      out.append(lines, pos, end - pos);
    }
    pos = end;
  }
  return out;
}

size_t node_column_width(const std::vector<endpoint>& nodes) {
  size_t width = 4; // "NODE"
  for (auto& x : nodes)
    width = std::max(width, node_name(x).size());
  return width + 2;
}

std::string with_node_column(const std::string& cell, size_t width,
                             const std::string& lines) {
  auto prefix = cell;
  if (prefix.size() + 1 > width)
    prefix += ' ';
  else
    prefix.resize(width, ' ');
  std::string out;
  size_t pos = 0;
  while (pos < lines.size()) {
    auto nl = lines.find('\n', pos);
    auto end = nl == std::string::npos ? lines.size() : nl + 1;
    out += prefix;
    out.append(lines, pos, end - pos);
    pos = end;
  }
  return out;
}

std::string
merge_tables(const std::vector<std::pair<std::string, std::string>>& tables,
             size_t width) {
  std::string out;
  bool header = false;
  for (auto& [node, table] : tables) {
    auto nl = table.find('\n');
    if (nl == std::string::npos)
      continue;
    if (!header) {
      out += with_node_column("NODE", width, table.substr(0, nl + 1));
      header = true;
    }
    out += with_node_column(node, width, table.substr(nl + 1));
  }
  return out;
}

// -- merged event stream ------------------------------------------------------

std::string to_string(const node_notice& x) {
  std::string why;
  if (x.reason) {
    auto ctx = context_of(x.reason);
    why = " (" + (ctx.empty() ? render(x.reason) : ctx) + ")";
  }
  switch (x.kind) {
    case notice_kind::subscribed:
      if (x.again)
        return "node " + x.node
               + " is back; its current containers follow as added events; "
                 "events between may have been missed";
      return "node " + x.node + ": subscribed";
    case notice_kind::went_away:
      return "node " + x.node + " went away" + why
             + "; events may have been missed; reconnecting in "
             + seconds_text(x.retry_in);
    case notice_kind::unreachable:
      return "cannot subscribe to node " + x.node + why + "; retrying in "
             + seconds_text(x.retry_in);
  }
  return "node " + x.node;
}

caf::timespan backoff_delay(size_t failures, caf::timespan initial,
                            caf::timespan max) {
  auto d = initial;
  for (size_t i = 1; i < failures && d < max; ++i)
    d *= 2;
  return std::min(d, max);
}

namespace {

using retry_atom = caf::atom_constant<caf::atom("nw_retry")>;
using up_atom = caf::atom_constant<caf::atom("nw_up")>;
using lost_atom = caf::atom_constant<caf::atom("nw_lost")>;

/// The merged stream's own messages (from its node links and its timers).
using stream_actor
  = caf::typed_actor<caf::reacts_to<up_atom, size_t, uint64_t>,
                     caf::reacts_to<lost_atom, size_t, uint64_t, caf::error>,
                     caf::reacts_to<retry_atom, size_t, uint64_t>>;

struct link_state {
  /// The `subscribed` notice went out (before the node's first event).
  bool announced = false;
  static inline const char* name = "nw.node_link";
};

/// One node, one connection: subscribes to the facade with itself as the
/// sink (so the facade's reply and events come in its order), tags and
/// forwards the events to `out`, and tells the stream when the
/// subscription is up or lost (the facade's death comes after its last
/// event: same connection). Quits when lost.
event_sink_actor::behavior_type
node_link(event_sink_actor::stateful_pointer<link_state> self, stream_actor ctl,
          size_t index, uint64_t gen, std::string node, bool again,
          node_actor facade, stream_options opts, merged_sink_actor out) {
  self->monitor(facade);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source != facade.address())
      return;
    caf::error reason;
    if (dm.reason == caf::exit_reason::remote_link_unreachable)
      reason = reworded(dm.reason, "the connection was lost");
    else if (!dm.reason)
      reason = make_error(errc::shutting_down, "its agent stopped");
    else if (dm.reason.category() == caf::atom("exit"))
      reason = reworded(
        dm.reason,
        "its agent stopped ("
          + caf::to_string(static_cast<caf::exit_reason>(dm.reason.code()))
          + ")");
    else
      reason
        = reworded(dm.reason, "its agent stopped (" + render(dm.reason) + ")");
    self->send(ctl, lost_atom::value, index, gen, std::move(reason));
    self->quit();
  });
  auto announce = [=] {
    if (self->state.announced)
      return;
    self->state.announced = true;
    node_notice n;
    n.kind = notice_kind::subscribed;
    n.node = node;
    n.again = again;
    self->send(out, notice_atom::value, std::move(n));
  };
  self
    ->request(facade, opts.subscribe_timeout, subscribe_atom::value, opts.sel,
              opts.all, caf::actor_cast<event_sink_actor>(self))
    .then(
      [=](uint64_t) {
        announce();
        self->send(ctl, up_atom::value, index, gen);
      },
      [=](caf::error& err) {
        self->send(ctl, lost_atom::value, index, gen,
                   detail::request_failed(node, err, opts.subscribe_timeout));
        self->quit();
      });
  return {
    [=](event_atom, container_event& ev) {
      announce();
      self->send(out, event_atom::value, node, std::move(ev));
    },
  };
}

struct node_slot {
  endpoint at;
  std::string name;
  /// Bumped at each attempt: messages about older ones are stale.
  uint64_t gen = 0;
  /// Consecutive failed or lost attempts (0 once subscribed).
  size_t failures = 0;
  /// Subscribed now.
  bool up = false;
  /// Subscribed at some time: a later subscription may have missed events.
  bool ever_up = false;
};

struct stream_state {
  connector_actor conn;
  stream_options opts;
  merged_sink_actor out;
  std::vector<node_slot> nodes;
  static inline const char* name = "nw.merged_stream";
};

using stream_pointer = stream_actor::stateful_pointer<stream_state>;

void attempt(stream_pointer self, size_t i);

/// Attempt `gen` on node `i` failed or its subscription was lost: report,
/// back off, retry.
void lost(stream_pointer self, size_t i, uint64_t gen, caf::error reason) {
  auto& st = self->state;
  auto& slot = st.nodes[i];
  if (slot.gen != gen)
    return;
  ++slot.gen; // Anything more about this attempt is stale.
  node_notice n;
  n.kind = slot.up ? notice_kind::went_away : notice_kind::unreachable;
  n.node = slot.name;
  n.reason = std::move(reason);
  slot.up = false;
  ++slot.failures;
  n.retry_in = backoff_delay(slot.failures, st.opts.backoff_initial,
                             st.opts.backoff_max);
  self->delayed_send(self, n.retry_in, retry_atom::value, i, slot.gen);
  self->send(st.out, notice_atom::value, std::move(n));
}

void attempt(stream_pointer self, size_t i) {
  auto& st = self->state;
  auto& slot = st.nodes[i];
  auto gen = ++slot.gen;
  self
    ->request(st.conn, st.opts.connect_timeout, caf::connect_atom::value,
              slot.at.host, slot.at.port)
    .then(
      [=](node_actor& facade) {
        auto& slot = self->state.nodes[i];
        if (slot.gen != gen)
          return;
        self->spawn<caf::linked>(node_link, stream_actor{self}, i, gen,
                                 slot.name, slot.ever_up, std::move(facade),
                                 self->state.opts, self->state.out);
      },
      [=](caf::error& err) {
        lost(self, i, gen,
             detail::connect_failed(self->state.nodes[i].name, err,
                                    self->state.opts.connect_timeout));
      });
}

stream_actor::behavior_type merged_stream(stream_pointer self,
                                          connector_actor conn,
                                          std::vector<endpoint> nodes,
                                          stream_options opts,
                                          merged_sink_actor out) {
  auto& st = self->state;
  st.conn = std::move(conn);
  st.opts = std::move(opts);
  st.out = std::move(out);
  for (auto& x : nodes)
    st.nodes.push_back(node_slot{x, node_name(x)});
  for (size_t i = 0; i < st.nodes.size(); ++i)
    attempt(self, i);
  return {
    [=](up_atom, size_t i, uint64_t gen) {
      auto& slot = self->state.nodes[i];
      if (slot.gen != gen)
        return;
      slot.up = true;
      slot.ever_up = true;
      slot.failures = 0;
    },
    [=](lost_atom, size_t i, uint64_t gen, caf::error& reason) {
      lost(self, i, gen, std::move(reason));
    },
    [=](retry_atom, size_t i, uint64_t gen) {
      if (self->state.nodes[i].gen == gen)
        attempt(self, i);
    },
  };
}

} // namespace

caf::actor spawn_merged_stream(caf::actor_system& sys, connector_actor conn,
                               std::vector<endpoint> nodes, stream_options opts,
                               merged_sink_actor out) {
  return caf::actor_cast<caf::actor>(
    sys.spawn(merged_stream, std::move(conn), std::move(nodes), std::move(opts),
              std::move(out)));
}

} // namespace nw
