// The kernel as the traceloop actor sees it: rings it can create, route a
// mount namespace to, read and free, and the node's decoding of what they
// hold. linux_traceloop_port.hpp is the real one (bpf/traceloop.bpf.c,
// tracefs formats); tests give the very same actor a scripted one. Plain
// C++ (no CAF). Every call is bounded and made from the actor's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "actors/traceloop/ring.hpp"
#include "messages/traceloop.hpp"

namespace nw {

class traceloop_port {
public:
  virtual ~traceloop_port() = default;

  /// Loads and attaches what records syscalls; false with the reason.
  virtual bool start(std::string& error) = 0;

  /// Bytes of memory one ring pins (the budget counts them).
  virtual uint64_t ring_bytes() const = 0;

  /// A new empty ring named `ring`; false with the reason.
  virtual bool create(uint64_t ring, std::string& error) = 0;

  /// Sends the syscalls of mount namespace `mntns` to `ring` from now on.
  virtual bool route(uint64_t mntns, uint64_t ring, std::string& error) = 0;

  /// Stops sending `mntns` anywhere (unknown: fine).
  virtual bool unroute(uint64_t mntns, std::string& error) = 0;

  /// Copies a ring (it keeps recording) and pairs its records, oldest
  /// first: bounded (a copy of the ring), on the actor's thread.
  virtual void read(uint64_t ring, traceloop::ring_read& out) = 0;

  /// Turns records into lines with the node's names and formats.
  /// Thread-safe and independent of the port's lifetime: the actor runs it
  /// on a worker, away from the acks that hold container starts.
  virtual std::function<syscall_line(const traceloop::syscall_record&)>
  decoder() const = 0;

  /// Frees a ring (unrouted first).
  virtual void destroy(uint64_t ring) = 0;
};

} // namespace nw
