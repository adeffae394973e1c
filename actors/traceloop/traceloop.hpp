// The traceloop actor: a registry subscriber that gives every selected
// container a syscall ring (traceloop_port.hpp) and routes its mount
// namespace there before it acks `added` — so its first syscalls are
// recorded — and on `removed` unroutes it but keeps the ring for
// post-mortem reads until it is deleted or the memory budget evicts it.
//
// - Selection: `--traceloop all|none|SELECTOR` (all: every non-sandbox
//   container); `start [SELECTOR]` / `stop` change it at run time (stop
//   unroutes every live container; rings stay).
// - Budget: rings pin memory. A new ring that would go over the budget
//   first evicts gone containers' rings, least recently removed first;
//   when only live rings are left, the container is not traced (counted,
//   logged; CONTRACTS.md's "new rings shrink" is not built: rings have one
//   size).
// - `show` resolves a container among its rings (live and gone): full id,
//   unique id prefix or name; ambiguous or unknown: an error naming the
//   candidates.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <caf/fwd.hpp>

#include "actors/traceloop/traceloop_port.hpp"
#include "messages/interfaces.hpp"

namespace nw {

struct traceloop_config {
  registry_actor registry;
  /// The kernel, started already; the actor becomes its only owner.
  std::unique_ptr<traceloop_port> port;
  /// Which containers get a ring from the start (sandboxes never);
  /// nullopt: none until `start`.
  std::optional<selector> select = selector{};
  /// Memory the rings may pin, in bytes.
  uint64_t budget = uint64_t{256} << 20;
};

traceloop_actor spawn_traceloop(caf::actor_system& sys, traceloop_config cfg);

} // namespace nw
