#include "actors/registry/registry.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

using clock_type = caf::actor_clock::clock_type;

struct entry {
  /// The `added` event, kept so snapshots carry the original seq and ts.
  container_event added;
  bool removed = false;
  clock_type::time_point removed_at;
};

/// One event on its way to every matching subscriber. It has one deadline
/// (one timer per fan-out, not one per request: bench/registry_bench shows
/// per-request timeouts cost a third of an add), and for an `added` event a
/// promise that answers the add once every delivery is settled. A delivery
/// is settled once: by its ack, by an error response, by the deadline or by
/// the subscriber's death.
struct fanout {
  std::optional<caf::typed_response_promise<add_result>> promise;
  add_result result;
  /// Per delivery: settled yet? (Indexes, not one allocation per delivery:
  /// an add fans out to every subscriber.)
  std::vector<bool> settled;
  /// Deliveries not settled yet, plus one while requests are going out.
  size_t pending = 1;

  /// Settles delivery `i`; false if it was settled already.
  bool settle(size_t i, bool acked) {
    if (settled[i])
      return false;
    settled[i] = true;
    ++(acked ? result.acked : result.late);
    done_one();
    return true;
  }

  void done_one() {
    if (--pending == 0 && promise)
      promise->deliver(result);
  }
};

/// One delivery of a fan-out.
struct delivery {
  std::shared_ptr<fanout> fo;
  size_t index;

  bool settle(bool acked) const {
    return fo->settle(index, acked);
  }

  bool settled() const {
    return fo->settled[index];
  }
};

/// A subscriber that leaves more events unanswered than this is dropped:
/// its requests have no timeout of their own, so an actor that never
/// answers would otherwise pin their handlers forever.
constexpr size_t max_unanswered = 1024;

struct subscription {
  subscriber_actor handle;
  selector sel;
  /// Deliveries sent and not yet settled (for the subscriber's death).
  std::vector<delivery> in_flight;
  /// Requests without any response yet, settled or not.
  std::shared_ptr<size_t> unanswered = std::make_shared<size_t>(0);
};

struct registry_state {
  registry_config cfg;
  std::map<std::string, entry> by_id; // ordered: listings come in id order
  std::unordered_multimap<uint64_t, std::string> by_mntns;
  std::unordered_multimap<uint64_t, std::string> by_netns;
  std::vector<subscription> subs;
  /// Fan-outs whose deadline has not fired yet, by id.
  std::unordered_map<uint64_t, std::shared_ptr<fanout>> fanouts;
  uint64_t next_fanout = 0;
  uint64_t seq = 0;
  counters stats{{"registry_added", 0},
                 {"registry_removed", 0},
                 {"registry_duplicates", 0},
                 {"registry_mntns_conflicts", 0},
                 {"registry_detection_failed", 0},
                 {"registry_late_acks", 0},
                 {"registry_subscriber_deaths", 0},
                 {"registry_subscribers_dropped", 0}};

  static inline const char* name = "nw.registry";

  uint64_t now_ns() const {
    if (cfg.realtime_ns)
      return cfg.realtime_ns();
    return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch())
        .count());
  }

  container_event make_event(event_kind kind, container_info info,
                             std::string reason = {}) {
    return container_event{kind, ++seq, now_ns(), std::move(info),
                           std::move(reason)};
  }

  void unindex(const std::string& id, const container_info& info) {
    auto drop = [&](auto& index, uint64_t key) {
      auto [first, last] = index.equal_range(key);
      for (auto i = first; i != last; ++i)
        if (i->second == id) {
          index.erase(i);
          return;
        }
    };
    drop(by_mntns, info.mntns);
    drop(by_netns, info.netns);
  }

  void forget(std::map<std::string, entry>::iterator i) {
    unindex(i->first, *i->second.added.info);
    by_id.erase(i);
  }

  /// Resolves a full id, then a name, then a unique id prefix; live
  /// containers first, then removed ones still in their grace period.
  caf::result<container_info> resolve(const std::string& query) {
    if (auto i = by_id.find(query); i != by_id.end())
      return *i->second.added.info;
    for (bool removed : {false, true}) {
      std::vector<const container_info*> hits;
      for (auto& [id, e] : by_id)
        if (e.removed == removed && e.added.info->name == query)
          hits.push_back(&*e.added.info);
      if (hits.empty())
        for (auto i = by_id.lower_bound(query);
             i != by_id.end() && i->first.compare(0, query.size(), query) == 0;
             ++i)
          if (i->second.removed == removed && !query.empty())
            hits.push_back(&*i->second.added.info);
      if (hits.size() == 1)
        return *hits.front();
      if (hits.size() > 1) {
        std::string names;
        for (size_t n = 0; n < hits.size() && n < 10; ++n)
          names += (n ? ", " : "") + hits[n]->id + " (" + hits[n]->name + ")";
        if (hits.size() > 10)
          names += ", ...";
        return make_error(errc::ambiguous_container,
                          "'" + query + "' matches " + names);
      }
    }
    return make_error(errc::unknown_container, "no container '" + query + "'");
  }

  const entry*
  find_by_ns(const std::unordered_multimap<uint64_t, std::string>& index,
             uint64_t key) const {
    const entry* found = nullptr;
    auto [first, last] = index.equal_range(key);
    for (auto i = first; i != last; ++i) {
      auto& e = by_id.at(i->second);
      // Live first; then the newest: two live records can share an inode
      // only when the older one's namespace is gone and its inode reused
      // (their mntns_id64 differ, see conflicting_owner).
      if (!found || (found->removed && !e.removed)
          || (found->removed == e.removed && e.added.seq > found->added.seq))
        found = &e;
    }
    return found;
  }

  /// The live container, other than `info.id`, whose mount namespace is
  /// `info`'s; nullptr if none. Namespace inodes are unique only among
  /// namespaces that exist: once a container's namespace is gone its inode
  /// may be given to a new one before termination removed its record (the
  /// poller's interval; the edge's held namespace fds prevent it only with
  /// a pidfd). Where both records have the 64-bit id, which is never
  /// reused, differing ids prove two namespaces, and that is no conflict.
  const container_info* conflicting_owner(const container_info& info) const {
    if (info.mntns == 0)
      return nullptr;
    auto [first, last] = by_mntns.equal_range(info.mntns);
    for (auto i = first; i != last; ++i) {
      auto& e = by_id.at(i->second);
      auto& other = *e.added.info;
      if (e.removed || other.id == info.id)
        continue;
      if (info.mntns_id64 != 0 && other.mntns_id64 != 0
          && info.mntns_id64 != other.mntns_id64)
        continue;
      return &other;
    }
    return nullptr;
  }
};

using purge_atom = caf::atom_constant<caf::atom("nw_purge")>;
using deadline_atom = caf::atom_constant<caf::atom("nw_deadln")>;

/// The registry's own messages beside its public interface.
using registry_impl_actor
  = registry_actor::extend<caf::reacts_to<purge_atom>,
                           caf::reacts_to<deadline_atom, uint64_t>>;

using registry_impl = registry_impl_actor::stateful_pointer<registry_state>;

/// Sends `ev` to every matching subscriber; returns the fan-out, whose
/// promise (if it has one) answers once each subscriber acked or missed the
/// deadline.
std::shared_ptr<fanout>
publish(registry_impl self, const container_event& ev,
        std::optional<caf::typed_response_promise<add_result>> promise) {
  auto& st = self->state;
  auto fo = std::make_shared<fanout>();
  fo->promise = std::move(promise);
  fo->result.seq = ev.seq;
  auto msg = caf::make_message(event_atom::value, ev);
  for (auto& sub : st.subs) {
    if (!matches(sub.sel, *ev.info))
      continue;
    delivery d{fo, fo->settled.size()};
    fo->settled.push_back(false);
    ++fo->pending;
    auto& in_flight = sub.in_flight;
    in_flight.erase(std::remove_if(in_flight.begin(), in_flight.end(),
                                   [](auto& x) { return x.settled(); }),
                    in_flight.end());
    in_flight.push_back(d);
    ++*sub.unanswered;
    // One message for all subscribers (ref-counted), not a copy each.
    self->request(caf::actor_cast<caf::actor>(sub.handle), caf::infinite, msg)
      .then(
        [d, unanswered = sub.unanswered](ack_atom) {
          --*unanswered;
          d.settle(true);
        },
        [self, d, unanswered = sub.unanswered](caf::error&) {
          --*unanswered;
          if (d.settle(false))
            ++self->state.stats["registry_late_acks"];
        });
  }
  if (!fo->settled.empty()) {
    auto id = st.next_fanout++;
    st.fanouts.emplace(id, fo);
    self->delayed_send(self, st.cfg.fanout_deadline, deadline_atom::value, id);
  }
  fo->done_one(); // every request is out
  return fo;
}

/// The deadline of fan-out `id`: whoever has not answered is late, counted
/// and reported, and never waited on again. A subscriber that keeps not
/// answering is dropped.
void on_deadline(registry_impl self, uint64_t id) {
  auto& st = self->state;
  auto i = st.fanouts.find(id);
  if (i == st.fanouts.end())
    return;
  auto fo = std::move(i->second);
  st.fanouts.erase(i);
  uint32_t late = 0;
  for (size_t i = 0; i < fo->settled.size(); ++i)
    if (fo->settle(i, false))
      ++late;
  if (late == 0)
    return;
  st.stats["registry_late_acks"] += late;
  log::warn(
    "subscribers missed the fan-out deadline",
    {{"seq", std::to_string(fo->result.seq)}, {"late", std::to_string(late)}});
  for (auto s = st.subs.begin(); s != st.subs.end();) {
    if (*s->unanswered <= max_unanswered) {
      ++s;
      continue;
    }
    ++st.stats["registry_subscribers_dropped"];
    log::error("dropping a subscriber that leaves events unanswered",
               {{"unanswered", std::to_string(*s->unanswered)}});
    self->demonitor(s->handle.address());
    // Its mailbox's requests bounce with an error once it is gone.
    self->send_exit(s->handle, caf::exit_reason::kill);
    s = st.subs.erase(s);
  }
}

registry_impl_actor::behavior_type registry(registry_impl self,
                                            registry_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = std::find_if(
      st.subs.begin(), st.subs.end(),
      [&](const subscription& s) { return s.handle.address() == dm.source; });
    if (i == st.subs.end())
      return;
    ++st.stats["registry_subscriber_deaths"];
    // Nothing will answer what it took and did not ack: settle it now
    // rather than at the deadline.
    for (auto& d : i->in_flight)
      if (d.settle(false))
        ++st.stats["registry_late_acks"];
    st.subs.erase(i);
  });
  return {
    [self](add_atom, container_info& info) -> caf::result<add_result> {
      auto& st = self->state;
      if (info.id.empty())
        return make_error(errc::bad_input, "container without an id");
      auto i = st.by_id.find(info.id);
      if (i != st.by_id.end() && !i->second.removed) {
        ++st.stats["registry_duplicates"];
        return add_result{i->second.added.seq, true, 0, 0};
      }
      // One mount namespace, one container: a second id for a live
      // container's namespace is a state file or pidfile naming another
      // container's init (bad input, or a runtime's stale state), and
      // would mislabel everything looked up by that namespace.
      if (auto other = st.conflicting_owner(info)) {
        ++st.stats["registry_mntns_conflicts"];
        auto mntns = std::to_string(info.mntns);
        log::warn("refused a container whose mount namespace belongs to "
                  "another live container",
                  {{"id", info.id},
                   {"pid", std::to_string(info.pid)},
                   {"mntns", mntns},
                   {"owner", other->id},
                   {"owner_pid", std::to_string(other->pid)}});
        return make_error(errc::mntns_in_use,
                          "mount namespace " + mntns + " of pid "
                            + std::to_string(info.pid)
                            + " belongs to the live container '" + other->id
                            + "' (pid " + std::to_string(other->pid) + ")");
      }
      if (i != st.by_id.end()) // the id is back within the grace period
        st.forget(i);
      auto ev = st.make_event(event_kind::added, std::move(info));
      st.by_mntns.emplace(ev.info->mntns, ev.info->id);
      st.by_netns.emplace(ev.info->netns, ev.info->id);
      st.by_id.emplace(ev.info->id, entry{ev, false, {}});
      ++st.stats["registry_added"];
      auto promise = self->make_response_promise<add_result>();
      publish(self, ev, promise);
      return promise;
    },
    [self](remove_atom, const std::string& id) -> bool {
      auto& st = self->state;
      auto i = st.by_id.find(id);
      if (i == st.by_id.end() || i->second.removed)
        return false;
      // Publish before forgetting: a subscriber that looks the container up
      // while handling `removed` still finds it.
      publish(self, st.make_event(event_kind::removed, *i->second.added.info),
              std::nullopt);
      i->second.removed = true;
      i->second.removed_at = self->clock().now();
      ++st.stats["registry_removed"];
      self->delayed_send(self, st.cfg.removed_grace, purge_atom::value);
      return true;
    },
    [self](failed_atom, container_info& info, std::string& reason) {
      auto& st = self->state;
      auto ev = st.make_event(event_kind::detection_failed, std::move(info),
                              std::move(reason));
      ++st.stats["registry_detection_failed"];
      publish(self, ev, std::nullopt);
      return ev.seq;
    },
    [self](get_atom, const std::string& query) {
      return self->state.resolve(query);
    },
    [self](get_atom, mntns_atom,
           uint64_t mntns) -> caf::result<container_info> {
      if (auto e = self->state.find_by_ns(self->state.by_mntns, mntns))
        return *e->added.info;
      return make_error(errc::unknown_container,
                        "no container in mount namespace "
                          + std::to_string(mntns));
    },
    [self](get_atom, netns_atom, uint64_t netns) {
      std::vector<container_info> result;
      auto& st = self->state;
      auto [first, last] = st.by_netns.equal_range(netns);
      for (auto i = first; i != last; ++i)
        if (auto& e = st.by_id.at(i->second); !e.removed)
          result.push_back(*e.added.info);
      std::sort(result.begin(), result.end(),
                [](auto& a, auto& b) { return a.id < b.id; });
      return result;
    },
    [self](list_atom, const selector& sel) {
      std::vector<container_event> result;
      for (auto& [id, e] : self->state.by_id)
        if (!e.removed && matches(sel, *e.added.info))
          result.push_back(e.added);
      return result;
    },
    [self](subscribe_atom, selector& sel, subscriber_actor& sub) {
      auto& st = self->state;
      std::vector<container_event> snapshot;
      if (!sub)
        return snapshot;
      for (auto& [id, e] : st.by_id)
        if (!e.removed && matches(sel, *e.added.info))
          snapshot.push_back(e.added);
      auto i = std::find_if(st.subs.begin(), st.subs.end(),
                            [&](auto& s) { return s.handle == sub; });
      if (i != st.subs.end()) {
        i->sel = std::move(sel);
      } else {
        self->monitor(sub);
        st.subs.push_back(subscription{std::move(sub), std::move(sel), {}});
      }
      return snapshot;
    },
    [self](unsubscribe_atom, const subscriber_actor& sub) {
      auto& subs = self->state.subs;
      auto i = std::find_if(subs.begin(), subs.end(),
                            [&](auto& s) { return s.handle == sub; });
      if (i != subs.end()) {
        self->demonitor(sub.address());
        subs.erase(i);
      }
    },
    [self](get_atom, counters_atom) { return self->state.stats; },
    [self](deadline_atom, uint64_t id) { on_deadline(self, id); },
    [self](purge_atom) {
      auto& st = self->state;
      auto now = self->clock().now();
      for (auto i = st.by_id.begin(); i != st.by_id.end();) {
        auto next = std::next(i);
        if (i->second.removed
            && i->second.removed_at + st.cfg.removed_grace <= now)
          st.forget(i);
        i = next;
      }
    },
  };
}

} // namespace

registry_actor spawn_registry(caf::actor_system& sys, registry_config cfg) {
  return caf::actor_cast<registry_actor>(sys.spawn(registry, std::move(cfg)));
}

} // namespace nw
