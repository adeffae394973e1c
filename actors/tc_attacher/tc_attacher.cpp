#include "actors/tc_attacher/tc_attacher.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/subscribe.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

/// The host's links changed (from the port, any thread).
using links_atom = caf::atom_constant<caf::atom("nw_links")>;
/// Look at the links again (to itself, after a burst of `links`).
using rescan_atom = caf::atom_constant<caf::atom("nw_rescan")>;

using attacher_impl = tc_attacher_actor::extend<caf::reacts_to<links_atom>,
                                                caf::reacts_to<rescan_atom>>;

/// Relays the port's change reports to the actor once it exists; a weak
/// address, so that the port (which the actor owns) keeps nothing alive.
struct link_relay {
  std::mutex mtx;
  caf::actor_addr target;

  void notify() {
    std::lock_guard<std::mutex> guard{mtx};
    if (auto h = caf::actor_cast<attacher_impl>(target))
      caf::anon_send(h, links_atom::value);
  }
};

/// One network namespace we hook interfaces for.
struct netns_entry {
  /// The containers in it: it stays hooked while any is live.
  std::set<std::string> users;
  /// Its hooked interfaces by host ifindex.
  std::map<int, tc_iface> ifaces;
  /// A host namespace (`--tc-iface`): interfaces are not veth host ends.
  bool host = false;
};

/// What `net` reports per container.
struct tracked {
  std::string name;
  uint64_t netns = 0;
  /// Why it is not counted ("" when it is).
  std::string note;
};

struct tc_attacher_state {
  registry_actor registry;
  std::unique_ptr<tc_port> port;
  std::shared_ptr<link_relay> relay;
  std::map<uint64_t, netns_entry> netns;
  std::map<std::string, tracked> containers;
  /// `--tc-iface` names, and those hooked so far.
  std::vector<std::string> host_ifaces;
  bool rescan_pending = false;
  counters ctr{
    {"tc_attached", 0},      {"tc_detached", 0},
    {"tc_attach_errors", 0}, {"tc_detach_errors", 0},
    {"tc_netns_errors", 0},  {"tc_host_network_skipped", 0},
    {"tc_interfaces", 0},    {"tc_netns", 0},
    {"tc_link_rescans", 0},  {"tc_rescan_errors", 0},
    {"tc_stale_removed", 0}, {"tc_interfaces_vanished", 0},
  };
  static inline const char* name = "nw.tc_attacher";

  ~tc_attacher_state() {
    // The port's destructor unhooks what is still hooked; closing the
    // namespaces first drops their counters.
    if (port)
      for (auto& [ns, entry] : netns)
        port->close_netns(ns);
  }
};

using attacher_ptr = attacher_impl::stateful_pointer<tc_attacher_state>;

void update_gauges(tc_attacher_state& st) {
  uint64_t n = 0;
  for (auto& [ns, entry] : st.netns)
    n += entry.ifaces.size();
  st.ctr["tc_interfaces"] = n;
  st.ctr["tc_netns"] = st.netns.size();
}

/// Hooks `iface` for `ns`; errors go to the log, the counters and the
/// namespace's containers' notes.
bool hook(tc_attacher_state& st, uint64_t ns, netns_entry& entry,
          const tc_iface& iface) {
  std::string error;
  if (!st.port->attach(iface, ns, !entry.host, error)) {
    ++st.ctr["tc_attach_errors"];
    log::error("TC: cannot hook an interface", {{"netns", std::to_string(ns)},
                                                {"interface", iface.name},
                                                {"error", error}});
    for (auto& id : entry.users)
      if (auto i = st.containers.find(id); i != st.containers.end())
        i->second.note = "attach " + iface.name + " failed: " + error;
    return false;
  }
  ++st.ctr["tc_attached"];
  entry.ifaces[iface.ifindex] = iface;
  log::debug("TC: hooked",
             {{"netns", std::to_string(ns)}, {"interface", iface.name}});
  return true;
}

void unhook(tc_attacher_state& st, uint64_t ns, const tc_iface& iface) {
  std::string error;
  if (st.port->detach(iface, error)) {
    ++st.ctr["tc_detached"];
    return;
  }
  ++st.ctr["tc_detach_errors"];
  log::error("TC: cannot unhook an interface", {{"netns", std::to_string(ns)},
                                                {"interface", iface.name},
                                                {"error", error}});
}

/// Brings the hooks of `only` (0: every namespace) in line with the host's
/// links: new veth host ends hooked, vanished ones forgotten.
void sync(tc_attacher_state& st, uint64_t only) {
  std::map<uint64_t, std::vector<tc_iface>> peers;
  std::string error;
  if (!st.port->peers(peers, error)) {
    ++st.ctr["tc_rescan_errors"];
    log::error("TC: cannot list the host's links", {{"error", error}});
    return;
  }
  for (auto& [ns, entry] : st.netns) {
    if (entry.host || (only != 0 && ns != only))
      continue;
    auto& now = peers[ns];
    // Gone, or its ifindex reused by another interface: its filters went
    // with the interface.
    for (auto i = entry.ifaces.begin(); i != entry.ifaces.end();) {
      auto still = std::find(now.begin(), now.end(), i->second);
      if (still == now.end()) {
        ++st.ctr["tc_interfaces_vanished"];
        unhook(st, ns, i->second); // an interface gone is fine
        i = entry.ifaces.erase(i);
      } else {
        ++i;
      }
    }
    bool all_hooked = true;
    for (auto& iface : now)
      if (entry.ifaces.count(iface.ifindex) == 0)
        all_hooked = hook(st, ns, entry, iface) && all_hooked;
    if (all_hooked) // an earlier attach error is history now
      for (auto& id : entry.users)
        if (auto i = st.containers.find(id);
            i != st.containers.end() && i->second.note.rfind("attach ", 0) == 0)
          i->second.note.clear();
  }
  update_gauges(st);
}

/// Hooks the `--tc-iface` interfaces not hooked yet (those that do not
/// exist yet are tried again on the next link change).
void hook_host_ifaces(tc_attacher_state& st) {
  if (st.host_ifaces.empty())
    return;
  auto ns = st.port->host_netns();
  auto& entry = st.netns[ns];
  if (!entry.host) {
    entry.host = true;
    std::string error;
    if (!st.port->open_netns(ns, 0, error))
      log::warn("TC: no counters for the host interfaces", {{"error", error}});
  }
  for (auto& name : st.host_ifaces) {
    bool have = false;
    for (auto& [ifindex, iface] : entry.ifaces)
      have = have || iface.name == name;
    if (have)
      continue;
    tc_iface iface;
    std::string error;
    if (!st.port->host_iface(name, iface, error)) {
      log::warn("TC: --tc-iface interface not there (yet)",
                {{"interface", name}, {"error", error}});
      continue;
    }
    hook(st, ns, entry, iface);
  }
  update_gauges(st);
}

void added(tc_attacher_state& st, const container_info& c) {
  auto& row = st.containers[c.id];
  row.name = c.name;
  row.netns = c.netns;
  if (c.host_network) {
    ++st.ctr["tc_host_network_skipped"];
    row.note = "host network";
    return;
  }
  if (c.netns == 0) {
    row.note = "no network namespace known";
    return;
  }
  auto [it, fresh] = st.netns.try_emplace(c.netns);
  auto& entry = it->second;
  if (!fresh && entry.host) {
    row.note = "host network";
    return;
  }
  entry.users.insert(c.id);
  if (!fresh)
    return; // its namespace is hooked already (a pod)
  std::string error;
  if (!st.port->open_netns(c.netns, c.pid, error)) {
    ++st.ctr["tc_netns_errors"];
    log::error(
      "TC: cannot open a container's network namespace",
      {{"id", c.id}, {"netns", std::to_string(c.netns)}, {"error", error}});
    row.note = "netns: " + error;
    st.netns.erase(it);
    return;
  }
  sync(st, c.netns);
}

void removed(tc_attacher_state& st, const container_info& c) {
  st.containers.erase(c.id);
  auto it = st.netns.find(c.netns);
  if (it == st.netns.end() || it->second.host
      || it->second.users.erase(c.id) == 0 || !it->second.users.empty())
    return;
  for (auto& [ifindex, iface] : it->second.ifaces)
    unhook(st, it->first, iface);
  st.port->close_netns(it->first);
  st.netns.erase(it);
  update_gauges(st);
}

std::vector<net_stats> report(tc_attacher_state& st) {
  std::vector<net_stats> out;
  for (auto& [id, c] : st.containers) {
    net_stats row;
    row.id = id;
    row.name = c.name;
    row.netns = c.netns;
    row.note = c.note;
    auto ns = st.netns.find(c.netns);
    if (ns != st.netns.end() && !ns->second.host) {
      for (auto& [ifindex, iface] : ns->second.ifaces)
        row.interfaces.push_back(iface.name);
      tc_counts counts;
      std::string error;
      if (st.port->read(c.netns, counts, error)) {
        row.rx_packets = counts.rx_packets;
        row.rx_bytes = counts.rx_bytes;
        row.tx_packets = counts.tx_packets;
        row.tx_bytes = counts.tx_bytes;
      } else if (row.note.empty()) {
        row.note = error;
      }
      if (row.interfaces.empty() && row.note.empty())
        row.note = "no veth yet";
    }
    out.push_back(std::move(row));
  }
  return out;
}

attacher_impl::behavior_type attacher(attacher_ptr self, tc_attacher_config cfg,
                                      std::shared_ptr<link_relay> relay) {
  auto& st = self->state;
  st.registry = std::move(cfg.registry);
  st.port = std::move(cfg.port);
  st.relay = std::move(relay);
  st.host_ifaces = std::move(cfg.host_ifaces);
  st.ctr["tc_stale_removed"] = st.port->stale_removed();
  hook_host_ifaces(st);
  subscribe_to_all(
    self, st.registry,
    [self](const container_info& c) { added(self->state, c); },
    [](const caf::error& err) {
      log::error("the TC attacher cannot subscribe to the registry",
                 {{"error", render(err)}});
    });
  return {
    [self](event_atom, const container_event& ev) {
      // Bounded netlink and map calls on this thread, done before the ack:
      // the hooks exist before the container's start is released.
      if (ev.kind == event_kind::added)
        added(self->state, *ev.info);
      else if (ev.kind == event_kind::removed)
        removed(self->state, *ev.info);
      return ack_atom::value;
    },
    [self](net_atom) { return report(self->state); },
    [self](get_atom, counters_atom) { return self->state.ctr; },
    [self](links_atom) {
      // A burst of changes (CNI's add, move, rename, up) is one rescan:
      // the rescan runs after whatever is queued now.
      if (self->state.rescan_pending)
        return;
      self->state.rescan_pending = true;
      self->send(self, rescan_atom::value);
    },
    [self](rescan_atom) {
      auto& st = self->state;
      st.rescan_pending = false;
      ++st.ctr["tc_link_rescans"];
      sync(st, 0);
      hook_host_ifaces(st);
    },
  };
}

} // namespace

caf::expected<tc_attacher_actor> spawn_tc_attacher(caf::actor_system& sys,
                                                   tc_attacher_config cfg) {
  if (!cfg.port)
    return make_error(errc::bad_input, "the TC attacher needs a port");
  auto relay = std::make_shared<link_relay>();
  std::string error;
  if (!cfg.port->start([relay] { relay->notify(); }, error))
    return make_error(errc::kernel_refused, "TC: " + error);
  auto h = sys.spawn(attacher, std::move(cfg), relay);
  {
    std::lock_guard<std::mutex> guard{relay->mtx};
    relay->target = h.address();
  }
  // Changes before the address was set are covered: the actor lists the
  // links for every namespace it opens.
  return caf::actor_cast<tc_attacher_actor>(h);
}

} // namespace nw
