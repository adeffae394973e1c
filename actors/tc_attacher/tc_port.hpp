// The kernel as the TC attacher sees it: namespaces, the host ends of their
// veths, the shared dispatcher's filters and the per-namespace counters.
// linux_tc_port.hpp is the real one (libbpf, rtnetlink); tests give the
// very same actor a scripted one. Plain C++ (no CAF). Every call is bounded
// and made from the attacher's thread only, except `on_links_changed`,
// which the port calls from wherever it learns of a change.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nw {

/// An interface in the host's network namespace.
struct tc_iface {
  int ifindex = 0;
  std::string name;

  bool operator==(const tc_iface& o) const {
    return ifindex == o.ifindex && name == o.name;
  }
};

/// Packets and bytes of one network namespace, from its point of view.
struct tc_counts {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
};

class tc_port {
public:
  virtual ~tc_port() = default;

  /// Loads what the attacher needs, removes the filters of ours a crashed
  /// agent left on host interfaces (and nobody else's), and from then on
  /// calls `on_links_changed` whenever the host's links change. False with
  /// the reason: the attacher cannot run.
  virtual bool start(std::function<void()> on_links_changed, std::string& error)
    = 0;

  /// How many stale filters start() removed.
  virtual uint64_t stale_removed() const = 0;

  /// The host's own network namespace inode.
  virtual uint64_t host_netns() const = 0;

  /// Opens the network namespace `netns` through process `pid` (whose
  /// netns it must be; 0: this process, for the host's own) and keeps it open
  /// until close_netns(); starts its counters at zero. False with the reason
  /// (the process is gone, its netns is another one).
  virtual bool open_netns(uint64_t netns, uint32_t pid, std::string& error) = 0;

  /// Closes it and drops its counters (unknown: nothing happens).
  virtual void close_netns(uint64_t netns) = 0;

  /// For every open namespace that has any, the host ends of the veths
  /// whose other end is in it (one listing of the host's links).
  virtual bool peers(std::map<uint64_t, std::vector<tc_iface>>& out,
                     std::string& error)
    = 0;

  /// The host interface called `name`.
  virtual bool host_iface(const std::string& name, tc_iface& out,
                          std::string& error)
    = 0;

  /// Hooks both directions of `iface`, counting for `netns`: as the host
  /// end of a veth (`peer`: directions inverted) or as an interface of the
  /// namespace itself. All or nothing: on failure nothing stays attached.
  virtual bool attach(const tc_iface& iface, uint64_t netns, bool peer,
                      std::string& error)
    = 0;

  /// Unhooks `iface`, exactly our filters. An interface gone meanwhile
  /// took its filters with it: true.
  virtual bool detach(const tc_iface& iface, std::string& error) = 0;

  /// The counts of an open namespace; false with the reason (no counters:
  /// a user program replaced them).
  virtual bool read(uint64_t netns, tc_counts& out, std::string& error) = 0;
};

} // namespace nw
