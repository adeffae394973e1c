#include "actors/termination/termination.hpp"

#include <map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

struct termination_state {
  registry_actor registry;
  kernel_edge_actor edge;
  /// Watched init processes: (pid, start time) → container id.
  std::map<std::pair<uint32_t, uint64_t>, std::string> watched;
  static inline const char* name = "nw.termination";
};

using termination_ptr = termination_actor::stateful_pointer<termination_state>;

void watch(termination_ptr self, const container_info& info) {
  auto& st = self->state;
  if (info.pid == 0)
    return;
  st.watched[{info.pid, info.start_time}] = info.id;
  self->send(st.edge, watch_atom::value, info.pid, info.start_time,
             caf::actor_cast<exit_watcher_actor>(self));
}

termination_actor::behavior_type termination(termination_ptr self,
                                             registry_actor registry,
                                             kernel_edge_actor edge) {
  self->state.registry = registry;
  self->state.edge = std::move(edge);
  self
    ->request(registry, caf::infinite, subscribe_atom::value, selector{},
              caf::actor_cast<subscriber_actor>(self))
    .then(
      [self](const std::vector<container_event>& snapshot) {
        for (auto& ev : snapshot)
          watch(self, *ev.info);
      },
      [self](caf::error& err) {
        log::error("termination cannot subscribe to the registry",
                   {{"error", to_string(err)}});
        self->quit(err);
      });
  return {
    [self](event_atom, const container_event& ev) {
      // The watch request is on its way to the edge before the ack, so the
      // watch exists before the hold on the container's start is released.
      if (ev.kind == event_kind::added)
        watch(self, *ev.info);
      else if (ev.kind == event_kind::removed)
        self->state.watched.erase({ev.info->pid, ev.info->start_time});
      return ack_atom::value;
    },
    [self](const process_exited& ex) {
      auto& st = self->state;
      auto i = st.watched.find({ex.pid, ex.start_time});
      if (i == st.watched.end())
        return;
      auto id = i->second;
      st.watched.erase(i);
      self->request(st.registry, caf::infinite, remove_atom::value, id)
        .then([](bool) {},
              [id](caf::error& err) {
                log::warn("removal failed",
                          {{"id", id}, {"error", to_string(err)}});
              });
    },
  };
}

} // namespace

termination_actor spawn_termination(caf::actor_system& sys,
                                    registry_actor registry,
                                    kernel_edge_actor edge) {
  return sys.spawn(termination, std::move(registry), std::move(edge));
}

} // namespace nw
