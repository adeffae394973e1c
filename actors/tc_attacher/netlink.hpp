// rtnetlink, as the TC attacher needs it: the host's links with their
// peers' namespaces, a namespace's nsid, and a socket that says when links
// change. Plain C++ (no CAF): the attacher's Linux port uses it, and so do
// tests and bench/. Every call is a bounded round trip on a NETLINK_ROUTE
// socket in the caller's network namespace (the host's, for the agent).
//
//   std::string error;
//   auto rt = nw::netlink::route::open(error);       // null + error
//   int nsid = rt->ensure_nsid(netns_fd, error);      // assigns one if none
//   std::vector<nw::netlink::link> links;
//   rt->links(links, error);                          // every link, one dump
//   for (auto& l : links)
//     if (l.kind == "veth" && l.peer_nsid == nsid) ... // a host-side peer
//
//   auto mon = nw::netlink::monitor::open(error);     // RTNLGRP_LINK + NSID
//   loop.watch_fd(mon->fd(), readable, [&](int, int) { mon->drain(); ... });
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nw::netlink {

/// What `peer_nsid` holds for a link whose peer is in the same namespace
/// (or which has no peer).
inline constexpr int no_nsid = -1;

/// One link (network interface) of the socket's namespace.
struct link {
  int ifindex = 0;
  /// IFLA_IFNAME.
  std::string name;
  /// IFLA_INFO_KIND ("veth", "bridge", ...; "" for a physical device).
  std::string kind;
  /// IFLA_LINK_NETNSID: the nsid (in this namespace) of the namespace the
  /// peer lives in; `no_nsid` when absent.
  int peer_nsid = no_nsid;
  /// IFLA_LINK: the peer's ifindex (in the peer's namespace); 0 if absent.
  int peer_ifindex = 0;
  /// IFF_UP is set.
  bool up = false;
};

/// A NETLINK_ROUTE socket for requests. Not thread-safe: one owner.
class route {
public:
  /// Opens and binds the socket (SOCK_CLOEXEC), with NETLINK_EXT_ACK and
  /// NETLINK_GET_STRICT_CHK where the kernel has them; null and the reason
  /// in `error` on failure.
  static std::unique_ptr<route> open(std::string& error);
  ~route();
  route(const route&) = delete;
  route& operator=(const route&) = delete;

  /// Every link of the namespace (RTM_GETLINK dump). False with the reason
  /// in `error` (the kernel's extack message when it gave one); a dump
  /// interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried a few
  /// times, then reported.
  bool links(std::vector<link>& out, std::string& error);

  /// The link named `name`; false with `error` "no interface NAME" (or the
  /// netlink failure) when there is none.
  bool link_by_name(const std::string& name, link& out, std::string& error);

  /// The nsid this namespace has for the namespace `netns_fd` refers to
  /// (RTM_GETNSID with NETNSA_FD), assigning one (RTM_NEWNSID, NETNSA_NSID
  /// -1) when there is none yet, so that links whose peers move there
  /// later report it. -1 with the reason in `error` (a bad fd, a closed
  /// namespace, the kernel's refusal). The nsid of our own namespace is
  /// whatever the kernel says (it may refuse to assign one).
  int ensure_nsid(int netns_fd, std::string& error);

private:
  explicit route(int fd) : fd_(fd) {}
  int fd_;
  uint32_t seq_ = 0;
};

/// A NETLINK_ROUTE socket subscribed to link and nsid changes
/// (RTNLGRP_LINK, RTNLGRP_NSID), for the event loop to watch. The messages
/// are not parsed: a change means "list the links again", which also
/// covers what a full socket buffer (ENOBUFS) lost.
class monitor {
public:
  /// Opens, binds and subscribes the socket (non-blocking, SOCK_CLOEXEC,
  /// a 1 MiB receive buffer); null and the reason in `error` on failure.
  static std::unique_ptr<monitor> open(std::string& error);
  ~monitor();
  monitor(const monitor&) = delete;
  monitor& operator=(const monitor&) = delete;

  /// The fd to watch for readability.
  int fd() const {
    return fd_;
  }

  /// Reads every message queued, without blocking. True if anything was
  /// read or the kernel dropped messages (ENOBUFS): the links may have
  /// changed. False if nothing was queued.
  bool drain();

  /// How many times the kernel reported dropped messages (ENOBUFS).
  uint64_t overruns() const {
    return overruns_;
  }

private:
  explicit monitor(int fd) : fd_(fd) {}
  int fd_;
  uint64_t overruns_ = 0;
};

} // namespace nw::netlink
