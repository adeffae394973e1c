#include "actors/traceloop/traceloop.hpp"

#include <algorithm>
#include <map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/subscribe.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

/// A ring and what it is for.
struct ring_entry {
  uint64_t ring = 0;
  traceloop_ring_info info;
  /// Its container's syscalls go there now.
  bool routed = false;
  /// When its container went (an increasing count; 0 while live): the
  /// budget evicts the smallest first.
  uint64_t gone_at = 0;
};

struct traceloop_state {
  registry_actor registry;
  std::unique_ptr<traceloop_port> port;
  std::optional<selector> select;
  uint64_t budget = 0;
  uint64_t used = 0;
  /// By container id.
  std::map<std::string, ring_entry> rings;
  /// Live containers, for `start`.
  std::map<std::string, container_info> live;
  uint64_t next_ring = 1;
  uint64_t gone_clock = 0;
  counters ctr{
    {"traceloop_rings_created", 0}, {"traceloop_rings_evicted", 0},
    {"traceloop_rings_deleted", 0}, {"traceloop_budget_refused", 0},
    {"traceloop_ring_errors", 0},   {"traceloop_route_errors", 0},
    {"traceloop_reads", 0},         {"traceloop_rings", 0},
    {"traceloop_bytes", 0},         {"traceloop_overwritten_read", 0},
    {"traceloop_lost_read", 0},
  };
  static inline const char* name = "nw.traceloop";
};

using traceloop_ptr = traceloop_actor::stateful_pointer<traceloop_state>;

void gauges(traceloop_state& st) {
  st.ctr["traceloop_rings"] = st.rings.size();
  st.ctr["traceloop_bytes"] = st.used;
}

void free_ring(traceloop_state& st,
               std::map<std::string, ring_entry>::iterator i) {
  std::string error;
  if (i->second.routed && !st.port->unroute(i->second.info.mntns, error))
    log::warn("traceloop: cannot unroute a ring",
              {{"id", i->first}, {"error", error}});
  st.port->destroy(i->second.ring);
  st.used -= std::min(st.used, i->second.info.bytes);
  st.rings.erase(i);
  gauges(st);
}

/// Makes room for one more ring: evicts gone containers' rings, least
/// recently gone first. False if only live rings are left.
bool make_room(traceloop_state& st, uint64_t bytes) {
  while (st.used + bytes > st.budget) {
    auto victim = st.rings.end();
    for (auto i = st.rings.begin(); i != st.rings.end(); ++i)
      if (i->second.gone_at != 0
          && (victim == st.rings.end()
              || i->second.gone_at < victim->second.gone_at))
        victim = i;
    if (victim == st.rings.end())
      return false;
    log::info("traceloop: a gone container's ring evicted (memory budget)",
              {{"id", victim->first}});
    ++st.ctr["traceloop_rings_evicted"];
    free_ring(st, victim);
  }
  return true;
}

/// Routes `c` to its ring, creating one if it has none.
bool trace(traceloop_state& st, const container_info& c) {
  std::string error;
  auto i = st.rings.find(c.id);
  if (i == st.rings.end()) {
    auto bytes = st.port->ring_bytes();
    if (!make_room(st, bytes)) {
      ++st.ctr["traceloop_budget_refused"];
      log::warn("traceloop: not traced, the memory budget is taken by live "
                "containers' rings",
                {{"id", c.id}, {"budget", std::to_string(st.budget)}});
      return false;
    }
    auto ring = st.next_ring++;
    if (!st.port->create(ring, error)) {
      ++st.ctr["traceloop_ring_errors"];
      log::error("traceloop: cannot create a ring",
                 {{"id", c.id}, {"error", error}});
      return false;
    }
    ++st.ctr["traceloop_rings_created"];
    st.used += bytes;
    ring_entry e;
    e.ring = ring;
    e.info = {c.id, c.name, c.mntns, true, bytes};
    i = st.rings.emplace(c.id, std::move(e)).first;
    gauges(st);
  }
  auto& e = i->second;
  if (e.routed)
    return true;
  if (!st.port->route(c.mntns, e.ring, error)) {
    ++st.ctr["traceloop_route_errors"];
    log::error("traceloop: cannot route a container to its ring",
               {{"id", c.id}, {"error", error}});
    return false;
  }
  e.routed = true;
  return true;
}

void untrace(traceloop_state& st, ring_entry& e) {
  if (!e.routed)
    return;
  std::string error;
  if (!st.port->unroute(e.info.mntns, error)) {
    ++st.ctr["traceloop_route_errors"];
    log::warn("traceloop: cannot unroute a container",
              {{"id", e.info.id}, {"error", error}});
  }
  e.routed = false;
}

bool selected(const traceloop_state& st, const container_info& c) {
  return st.select && !c.sandbox && c.mntns != 0 && matches(*st.select, c);
}

void added(traceloop_state& st, const container_info& c) {
  st.live[c.id] = c;
  if (selected(st, c))
    trace(st, c);
}

void removed(traceloop_state& st, const container_info& c) {
  st.live.erase(c.id);
  auto i = st.rings.find(c.id);
  if (i == st.rings.end())
    return;
  untrace(st, i->second);
  i->second.info.live = false;
  i->second.gone_at = ++st.gone_clock;
}

/// The ring a query names: full id, unique id prefix, or unique name.
caf::expected<std::map<std::string, ring_entry>::iterator>
resolve(traceloop_state& st, const std::string& query) {
  if (query.empty())
    return make_error(errc::unknown_container, "an empty container name");
  if (auto i = st.rings.find(query); i != st.rings.end())
    return i;
  std::vector<std::map<std::string, ring_entry>::iterator> hits;
  for (auto i = st.rings.begin(); i != st.rings.end(); ++i)
    if (i->first.compare(0, query.size(), query) == 0)
      hits.push_back(i);
  if (hits.empty())
    for (auto i = st.rings.begin(); i != st.rings.end(); ++i)
      if (i->second.info.name == query)
        hits.push_back(i);
  auto list = [](auto& xs) {
    std::string out;
    size_t n = 0;
    for (auto& i : xs) {
      if (n++ == 10) {
        out += ", ...";
        break;
      }
      // Full ids: a prefix of 12 says nothing when the query was longer.
      out += (out.empty() ? "" : ", ") + i->first + " (" + i->second.info.name
             + ")";
    }
    return out;
  };
  if (hits.size() == 1)
    return hits.front();
  if (hits.size() > 1)
    return make_error(errc::ambiguous_container,
                      "'" + query + "' matches " + list(hits));
  std::vector<std::map<std::string, ring_entry>::iterator> all;
  for (auto i = st.rings.begin(); i != st.rings.end(); ++i)
    all.push_back(i);
  return make_error(errc::unknown_container,
                    "no traceloop ring for '" + query + "'"
                      + (all.empty() ? std::string{" (there are none)"}
                                     : "; rings: " + list(all)));
}

/// Decodes one read and delivers it, then quits.
void decode_worker(
  caf::event_based_actor*, traceloop::ring_read raw,
  std::function<syscall_line(const traceloop::syscall_record&)> decode,
  traceloop_ring_info info,
  caf::typed_response_promise<traceloop_dump> promise) {
  traceloop_dump dump;
  dump.ring = std::move(info);
  dump.lines.reserve(raw.records.size());
  for (auto& r : raw.records)
    dump.lines.push_back(decode(r));
  dump.overwritten = raw.overwritten;
  dump.lost = raw.lost;
  promise.deliver(std::move(dump));
}

traceloop_actor::behavior_type traceloop_behavior(traceloop_ptr self,
                                                  traceloop_config cfg) {
  auto& st = self->state;
  st.registry = std::move(cfg.registry);
  st.port = std::move(cfg.port);
  st.select = std::move(cfg.select);
  st.budget = cfg.budget;
  if (st.budget < st.port->ring_bytes())
    log::warn("traceloop: the memory budget is smaller than one ring; "
              "nothing will be traced",
              {{"budget", std::to_string(st.budget)},
               {"ring_bytes", std::to_string(st.port->ring_bytes())}});
  subscribe_to_all(
    self, st.registry,
    [self](const container_info& c) { added(self->state, c); },
    [](const caf::error& err) {
      log::error("traceloop cannot subscribe to the registry",
                 {{"error", render(err)}});
    });
  return {
    [self](event_atom, const container_event& ev) {
      // A map create and update on this thread, before the ack: the
      // container's first syscalls are recorded.
      if (ev.kind == event_kind::added)
        added(self->state, *ev.info);
      else if (ev.kind == event_kind::removed)
        removed(self->state, *ev.info);
      return ack_atom::value;
    },
    [self](traceloop_atom, list_atom) {
      std::vector<traceloop_ring_info> out;
      for (auto& [id, e] : self->state.rings)
        out.push_back(e.info);
      return out;
    },
    [self](traceloop_atom, get_atom,
           const std::string& query) -> caf::result<traceloop_dump> {
      auto& st = self->state;
      auto i = resolve(st, query);
      if (!i)
        return std::move(i.error());
      // Copy and pair here (bounded); decode on a worker: a full ring is
      // tens of thousands of lines, and this actor's acks hold starts.
      traceloop::ring_read raw;
      st.port->read((*i)->second.ring, raw);
      ++st.ctr["traceloop_reads"];
      st.ctr["traceloop_overwritten_read"] += raw.overwritten;
      st.ctr["traceloop_lost_read"] += raw.lost;
      auto promise = self->make_response_promise<traceloop_dump>();
      self->spawn(decode_worker, std::move(raw), st.port->decoder(),
                  (*i)->second.info, promise);
      return promise;
    },
    [self](traceloop_atom, remove_atom,
           const std::string& query) -> caf::result<traceloop_ring_info> {
      auto& st = self->state;
      auto i = resolve(st, query);
      if (!i)
        return std::move(i.error());
      auto info = (*i)->second.info;
      free_ring(st, *i);
      ++st.ctr["traceloop_rings_deleted"];
      return info;
    },
    [self](traceloop_atom, start_atom, selector& sel) {
      // The new selection replaces the old one: live containers that no
      // longer match stop being traced (their rings stay).
      auto& st = self->state;
      st.select = std::move(sel);
      uint64_t n = 0;
      for (auto& [id, c] : st.live) {
        if (selected(st, c)) {
          n += trace(st, c) ? 1 : 0;
        } else if (auto i = st.rings.find(id); i != st.rings.end()) {
          untrace(st, i->second);
        }
      }
      return n;
    },
    [self](traceloop_atom, stop_atom) {
      auto& st = self->state;
      st.select.reset();
      uint64_t n = 0;
      for (auto& [id, e] : st.rings)
        if (e.routed) {
          untrace(st, e);
          ++n;
        }
      return n;
    },
    [self](get_atom, counters_atom) { return self->state.ctr; },
  };
}

} // namespace

traceloop_actor spawn_traceloop(caf::actor_system& sys, traceloop_config cfg) {
  return sys.spawn(traceloop_behavior, std::move(cfg));
}

} // namespace nw
