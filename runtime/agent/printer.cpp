#include "runtime/agent/printer.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace nw {

namespace {

subscriber_actor::behavior_type printer(subscriber_actor::pointer self,
                                        registry_actor registry,
                                        output_format fmt, line_sink out) {
  if (fmt == output_format::table)
    out(event_table_header());
  auto print
    = [fmt, out](const container_event& ev) { out(format_event(ev, fmt)); };
  self
    ->request(registry, caf::infinite, subscribe_atom::value, selector{},
              caf::actor_cast<subscriber_actor>(self))
    .then([print](const std::vector<container_event>& snapshot) {
      for (auto& ev : snapshot)
        print(ev);
    });
  return {
    [print](event_atom, const container_event& ev) {
      print(ev);
      return ack_atom::value;
    },
  };
}

} // namespace

subscriber_actor spawn_printer(caf::actor_system& sys, registry_actor registry,
                               output_format fmt, line_sink out) {
  return sys.spawn(printer, std::move(registry), fmt, std::move(out));
}

} // namespace nw
