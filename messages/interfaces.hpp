// The typed actor interfaces that several parts (and remote controllers)
// share. An actor's own private messages stay in its folder.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/container_event.hpp"
#include "messages/container_info.hpp"
#include "messages/net_stats.hpp"
#include "messages/selector.hpp"
#include "messages/status.hpp"
#include "messages/traceloop.hpp"

namespace nw {

/// Named counters (dropped, late, failed, ...), as `status` reports them.
using counters = std::map<std::string, uint64_t>;

/// Anything that reports named counters (the registry, the kernel edge,
/// the subscribers): what `status` gathers.
using counters_source_actor
  = caf::typed_actor<caf::replies_to<get_atom, counters_atom>::with<counters>>;

/// Receives the registry's lifecycle events and acknowledges each one. The
/// registry holds a container's start until the `added` acks are in (or the
/// fan-out deadline passed): acknowledge only once the event's effect exists.
using subscriber_actor = caf::typed_actor<
  caf::replies_to<event_atom, container_event>::with<ack_atom>>;

/// The container registry: the one owner of the container set.
using registry_actor = caf::typed_actor<
  // Registers a detected container and publishes `added`; the reply comes
  // once every subscriber acked or the fan-out deadline passed. Idempotent
  // by id: a second add publishes nothing and replies `duplicate`.
  caf::replies_to<add_atom, container_info>::with<add_result>,
  // Publishes `removed` (before forgetting) for the id; false if unknown.
  caf::replies_to<remove_atom, std::string>::with<bool>,
  // Publishes `detection_failed` for a create that never became a container.
  caf::replies_to<failed_atom, container_info, std::string>::with<uint64_t>,
  // Resolves a full id, a unique id prefix or a name (removed records too,
  // for their grace period); ambiguous or unknown -> error.
  caf::replies_to<get_atom, std::string>::with<container_info>,
  caf::replies_to<get_atom, mntns_atom, uint64_t>::with<container_info>,
  // Several containers may share a network namespace (a pod).
  caf::replies_to<get_atom, netns_atom,
                  uint64_t>::with<std::vector<container_info>>,
  // The `added` events of live containers matching a selector, in id order.
  caf::replies_to<list_atom, selector>::with<std::vector<container_event>>,
  // Adds a subscriber and replies with the current matching set as `added`
  // events (original seq), atomically: no gap, no duplicate. Events follow
  // in the subscriber's mailbox after the reply when requester and
  // subscriber are the same actor.
  caf::replies_to<subscribe_atom, selector,
                  subscriber_actor>::with<std::vector<container_event>>,
  caf::reacts_to<unsubscribe_atom, subscriber_actor>,
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

/// The TC attacher: a subscriber that hooks each container's interfaces and
/// counts its traffic.
using tc_attacher_actor = subscriber_actor::extend<
  // The counters of every container it tracks, in id order; containers it
  // does not count carry a `note` saying why.
  caf::replies_to<net_atom>::with<std::vector<net_stats>>,
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

/// The traceloop ring reader: a subscriber that gives every selected
/// container a syscall ring before it acks `added`, and keeps a gone
/// container's ring for post-mortem reads.
using traceloop_actor = subscriber_actor::extend<
  // The rings it holds, live and gone, in id order.
  caf::replies_to<traceloop_atom,
                  list_atom>::with<std::vector<traceloop_ring_info>>,
  // Reads a container's ring (id, unique id prefix or name; gone ones
  // too); ambiguous or unknown -> an error naming the candidates.
  caf::replies_to<traceloop_atom, get_atom, std::string>::with<traceloop_dump>,
  // Deletes a container's ring (a live one stops being traced).
  caf::replies_to<traceloop_atom, remove_atom,
                  std::string>::with<traceloop_ring_info>,
  // Traces the live containers matching the selector, and new ones that
  // match; replies with how many are traced now.
  caf::replies_to<traceloop_atom, start_atom, selector>::with<uint64_t>,
  // Stops tracing (rings stay for reading); replies with how many were
  // traced.
  caf::replies_to<traceloop_atom, stop_atom>::with<uint64_t>,
  caf::replies_to<get_atom, counters_atom>::with<counters>>;

/// A controller-side receiver of events streamed by a node facade.
using event_sink_actor
  = caf::typed_actor<caf::reacts_to<event_atom, container_event>>;

/// The node facade: the only actor an agent publishes.
using node_actor = caf::typed_actor<
  // The `added` events of live containers matching the selector; sandboxes
  // only if the bool is true.
  caf::replies_to<list_atom, selector,
                  bool>::with<std::vector<container_event>>,
  // Streams the matching set as `added` events, then live events, to the
  // sink, in order; replies with the size of the initial snapshot.
  caf::replies_to<subscribe_atom, selector, bool,
                  event_sink_actor>::with<uint64_t>,
  // Resolves a container as the registry does.
  caf::replies_to<get_atom, std::string>::with<container_info>,
  caf::replies_to<get_atom, counters_atom>::with<counters>,
  // The agent's version, kernel, features and every actor's counters.
  caf::replies_to<status_atom>::with<node_status>,
  // Network counters of the live containers matching the selector
  // (sandboxes only if the bool is true), in id order; an error when the
  // agent runs without TC (`--no-tc`).
  caf::replies_to<net_atom, selector, bool>::with<std::vector<net_stats>>,
  // traceloop, as the traceloop actor answers it; an error when the agent
  // runs without it.
  caf::replies_to<traceloop_atom,
                  list_atom>::with<std::vector<traceloop_ring_info>>,
  caf::replies_to<traceloop_atom, get_atom, std::string>::with<traceloop_dump>,
  caf::replies_to<traceloop_atom, remove_atom,
                  std::string>::with<traceloop_ring_info>,
  caf::replies_to<traceloop_atom, start_atom, selector>::with<uint64_t>,
  caf::replies_to<traceloop_atom, stop_atom>::with<uint64_t>>;

} // namespace nw
