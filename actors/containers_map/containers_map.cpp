#include "actors/containers_map/containers_map.hpp"

#include <cerrno>
#include <map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/errors.hpp"
#include "messages/subscribe.hpp"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

struct containers_map_state {
  registry_actor registry;
  /// Destroyed with the state when the actor terminates: unpins the map.
  std::shared_ptr<kernel::containers_map> map;
  /// The entries we put: mntns → container id (the owner of the entry).
  std::map<uint64_t, std::string> owners;
  counters ctr{
    {"containers_map_puts", 0},       {"containers_map_deletes", 0},
    {"containers_map_put_errors", 0}, {"containers_map_delete_errors", 0},
    {"containers_map_full", 0},       {"containers_map_sandboxes_skipped", 0},
    {"containers_map_no_mntns", 0},   {"containers_map_entries", 0},
  };
  static inline const char* name = "nw.containers_map";
};

using containers_map_ptr
  = containers_map_actor::stateful_pointer<containers_map_state>;

void put(containers_map_ptr self, const container_info& info) {
  auto& st = self->state;
  if (info.sandbox) {
    ++st.ctr["containers_map_sandboxes_skipped"];
    return;
  }
  if (info.mntns == 0) {
    ++st.ctr["containers_map_no_mntns"];
    log::warn("containers map: a container without a mount namespace is "
              "not mapped",
              {{"id", info.id}});
    return;
  }
  kernel::containers_map_entry entry{info.id, info.k8s.namespace_, info.k8s.pod,
                                     info.name};
  auto err = st.map->put(info.mntns, entry);
  if (err == 0) {
    ++st.ctr["containers_map_puts"];
    auto& owner = st.owners[info.mntns];
    if (!owner.empty() && owner != info.id)
      log::warn("containers map: a mount namespace changed containers",
                {{"mntns", std::to_string(info.mntns)},
                 {"was", owner},
                 {"id", info.id}});
    owner = info.id;
    st.ctr["containers_map_entries"] = st.owners.size();
    return;
  }
  ++st.ctr["containers_map_put_errors"];
  if (err == E2BIG) {
    ++st.ctr["containers_map_full"];
    log::error("containers map full: a container is not mapped",
               {{"id", info.id},
                {"mntns", std::to_string(info.mntns)},
                {"max_entries", std::to_string(st.map->max_entries())}});
    return;
  }
  log::error("containers map: cannot put a container",
             {{"id", info.id},
              {"mntns", std::to_string(info.mntns)},
              {"error", kernel::errno_text(err)}});
}

void remove(containers_map_ptr self, const container_info& info) {
  auto& st = self->state;
  auto i = st.owners.find(info.mntns);
  // Nothing put for it (a sandbox, a failed put) or the entry is another
  // container's now: nothing to delete.
  if (i == st.owners.end() || i->second != info.id)
    return;
  st.owners.erase(i);
  st.ctr["containers_map_entries"] = st.owners.size();
  auto err = st.map->remove(info.mntns);
  if (err == 0) {
    ++st.ctr["containers_map_deletes"];
    return;
  }
  ++st.ctr["containers_map_delete_errors"];
  log::error("containers map: cannot delete a container",
             {{"id", info.id},
              {"mntns", std::to_string(info.mntns)},
              {"error", kernel::errno_text(err)}});
}

containers_map_actor::behavior_type
containers_map_behavior(containers_map_ptr self, containers_map_config cfg) {
  auto& st = self->state;
  st.registry = std::move(cfg.registry);
  st.map = std::move(cfg.map);
  subscribe_to_all(
    self, st.registry, [self](const container_info& c) { put(self, c); },
    [](const caf::error& err) {
      log::error("the containers map cannot subscribe to the registry",
                 {{"error", render(err)}});
    });
  return {
    [self](event_atom, const container_event& ev) {
      // A bounded map update on this thread, done before the ack: the
      // entry exists before the container's start is released.
      if (ev.kind == event_kind::added)
        put(self, *ev.info);
      else if (ev.kind == event_kind::removed)
        remove(self, *ev.info);
      return ack_atom::value;
    },
    [self](get_atom, counters_atom) { return self->state.ctr; },
  };
}

} // namespace

containers_map_actor spawn_containers_map(caf::actor_system& sys,
                                          containers_map_config cfg) {
  return sys.spawn(containers_map_behavior, std::move(cfg));
}

} // namespace nw
