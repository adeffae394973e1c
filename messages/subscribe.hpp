// How a subscriber actor joins the registry: asks for every container,
// hands each one of the snapshot to `on_added` as if it had just been
// added, and gives up (quits) if the registry refuses. The containers map,
// the TC attacher and traceloop all start this way.
//
//   subscribe_to_all(self, registry,
//                    [self](const container_info& c) { added(self, c); },
//                    [](const caf::error& err) { log it; });
#pragma once

#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/interfaces.hpp"

namespace nw {

/// Subscribes `self` (a subscriber_actor or an extension of one) to every
/// container of `registry`. The registry's reply carries the current set
/// as `added` events; live events follow in `self`'s mailbox after it, in
/// order (registry_actor's subscribe contract).
template <class Self, class OnAdded, class OnError>
void subscribe_to_all(Self* self, const registry_actor& registry,
                      OnAdded on_added, OnError on_error) {
  self
    ->request(registry, caf::infinite, subscribe_atom::value, selector{},
              caf::actor_cast<subscriber_actor>(self))
    .then(
      [on_added](const std::vector<container_event>& snapshot) mutable {
        for (auto& ev : snapshot)
          on_added(*ev.info);
      },
      [self, on_error](caf::error& err) mutable {
        on_error(err);
        self->quit(err);
      });
}

} // namespace nw
