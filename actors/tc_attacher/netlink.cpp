// rtnetlink by hand (no libmnl/libnl): a request is one datagram built in a
// fixed buffer, its answer is read datagram by datagram until the message
// that ends it (NLMSG_DONE for a dump, the reply or NLMSG_ERROR otherwise),
// every recv bounded by the socket's receive timeout. Every length the
// kernel sends is checked before it is used (NLMSG_OK, RTA_OK).
#include "actors/tc_attacher/netlink.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "runtime/kernel/unique_fd.hpp"

// linux/netlink.h's NLMSG_OK compares the header's __u32 length with the
// int it is given; clang warns on that inside the macro, g++ does not.
#ifdef __clang__
#  pragma clang diagnostic ignored "-Wsign-compare"
#endif

namespace nw::netlink {

namespace {

using nw::kernel::unique_fd;

/// How long one recv on the request socket waits for the kernel. The
/// kernel answers synchronously, so running into it means something is
/// badly wrong; it only keeps a caller from hanging forever.
constexpr int reply_timeout_seconds = 2;

/// A first receive buffer that holds what the kernel sends in one datagram
/// (a dump fills at most 32 KiB per datagram, see netlink_recvmsg), and the
/// most we grow it to for a single larger message.
constexpr size_t initial_buffer = 32 * 1024;
constexpr size_t max_buffer = 1024 * 1024;

/// How often a dump interrupted by a concurrent change (NLM_F_DUMP_INTR)
/// is tried in all.
constexpr int dump_attempts = 3;

/// How many messages one drain() reads at most: a storm of link changes
/// must not keep the event loop in one callback forever. The fd stays
/// readable, so the loop comes back for the rest.
constexpr int max_drain_messages = 4096;

/// The monitor's receive buffer: room for a burst (a few hundred link
/// messages) before the kernel drops some.
constexpr int monitor_rcvbuf = 1024 * 1024;

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err)
         + ")";
}

/// A request under construction: header, fixed part, attributes, in a
/// buffer large enough for every request this file sends.
class request {
public:
  request(uint16_t type, uint16_t flags) {
    hdr()->nlmsg_len = NLMSG_LENGTH(0);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  }

  nlmsghdr* hdr() {
    return reinterpret_cast<nlmsghdr*>(buf_);
  }

  /// Appends the fixed part (ifinfomsg, rtgenmsg, ...), aligned.
  template <class T>
  T* body() {
    return static_cast<T*>(append(sizeof(T)));
  }

  /// Appends an attribute; false if the buffer is too small (a bug).
  bool attr(uint16_t type, const void* data, size_t len) {
    auto total = RTA_LENGTH(len);
    if (NLMSG_ALIGN(hdr()->nlmsg_len) + RTA_ALIGN(total) > sizeof(buf_))
      return false;
    auto* rta = static_cast<rtattr*>(append(total));
    rta->rta_type = type;
    rta->rta_len = static_cast<uint16_t>(total);
    std::memcpy(RTA_DATA(rta), data, len);
    return true;
  }

private:
  /// Zeroed room for `len` bytes at the aligned end of the message.
  void* append(size_t len) {
    auto offset = NLMSG_ALIGN(hdr()->nlmsg_len);
    hdr()->nlmsg_len = static_cast<uint32_t>(offset + len);
    return buf_ + offset;
  }

  // Zero-initialised: the fixed parts must be zero where not set (the
  // kernel's strict checking rejects stray bytes).
  alignas(nlmsghdr) char buf_[512] = {};
};

/// The text of an NLMSG_ERROR (or of an NLMSG_DONE's error): the errno and,
/// when the kernel attached one (NETLINK_EXT_ACK), its extack message,
/// from the attributes at `attrs_offset` in the message's data.
std::string kernel_error(const std::string& what, int err, const nlmsghdr& msg,
                         size_t attrs_offset) {
  std::string out = what + ": " + errno_text(err);
  if (!(msg.nlmsg_flags & NLM_F_ACK_TLVS))
    return out;
  if (NLMSG_ALIGN(attrs_offset) >= NLMSG_PAYLOAD(&msg, 0))
    return out;
  auto len
    = static_cast<int>(NLMSG_PAYLOAD(&msg, 0) - NLMSG_ALIGN(attrs_offset));
  auto* rta = reinterpret_cast<const rtattr*>(
    static_cast<const char*>(NLMSG_DATA(&msg)) + NLMSG_ALIGN(attrs_offset));
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
    if (rta->rta_type != NLMSGERR_ATTR_MSG)
      continue;
    auto* text = static_cast<const char*>(RTA_DATA(rta));
    std::string message{text, ::strnlen(text, RTA_PAYLOAD(rta))};
    if (!message.empty())
      out += ": " + message;
  }
  return out;
}

/// Decodes an NLMSG_ERROR: 0 for an ACK, else the errno (EPROTO for a
/// malformed one) with `error` set.
int error_message(const std::string& what, const nlmsghdr& msg,
                  std::string& error) {
  if (msg.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
    error = what + ": truncated NLMSG_ERROR from the kernel";
    return EPROTO;
  }
  auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(&msg));
  if (err->error == 0)
    return 0;
  // The extack attributes follow the echoed request: its header only when
  // the kernel capped it (NLM_F_CAPPED), else the whole request.
  size_t offset = sizeof(nlmsgerr);
  if (!(msg.nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len >= NLMSG_HDRLEN)
    offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  error = kernel_error(what, -err->error, msg, offset);
  return -err->error;
}

/// Sends `req` with sequence number `seq` to the kernel.
bool send_request(int fd, request& req, uint32_t seq, const std::string& what,
                  std::string& error) {
  req.hdr()->nlmsg_seq = seq;
  req.hdr()->nlmsg_pid = 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    auto n = ::sendto(fd, req.hdr(), req.hdr()->nlmsg_len, 0,
                      reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n == static_cast<ssize_t>(req.hdr()->nlmsg_len))
      return true;
    if (n < 0 && errno == EINTR)
      continue;
    error = what + ": sending the request: "
            + (n < 0 ? errno_text(errno) : std::string{"short write"});
    return false;
  }
}

/// Receives one datagram from the kernel into `buf` (grown up to
/// max_buffer for a large one): its length, or -1 with `error` set. Waits
/// at most the socket's receive timeout. Datagrams from anyone but the
/// kernel are dropped.
ssize_t receive(int fd, std::vector<char>& buf, const std::string& what,
                std::string& error) {
  for (;;) {
    // Peek with MSG_TRUNC first: the datagram's real length, so that a
    // message larger than the buffer is never cut off silently.
    auto size = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
    if (size < 0) {
      if (errno == EINTR)
        continue;
      error = what + ": "
              + (errno == EAGAIN || errno == EWOULDBLOCK
                   ? "no answer from the kernel within "
                       + std::to_string(reply_timeout_seconds) + " s"
                   : "receiving: " + errno_text(errno));
      return -1;
    }
    if (static_cast<size_t>(size) > buf.size()) {
      if (static_cast<size_t>(size) > max_buffer) {
        error = what + ": a " + std::to_string(size)
                + "-byte netlink message is more than we accept";
        return -1;
      }
      buf.resize(static_cast<size_t>(size));
    }
    sockaddr_nl from{};
    iovec iov{buf.data(), buf.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof(from);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    auto n = ::recvmsg(fd, &mh, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      error = what + ": receiving: " + errno_text(errno);
      return -1;
    }
    if (mh.msg_flags & MSG_TRUNC) {
      error = what + ": a netlink message was truncated";
      return -1;
    }
    if (from.nl_pid != 0)
      continue;
    return n;
  }
}

/// What exchange() returns when it fails on our side (sending, receiving,
/// a malformed answer) rather than because the kernel refused.
constexpr int local_failure = -1;

/// Sends `req` and reads its answer, handing each message of it (not
/// NLMSG_ERROR/NLMSG_DONE) to `on_msg`, which returns false with `error`
/// set to stop. A dump ends at NLMSG_DONE, anything else at its first
/// message (a reply, or the NLMSG_ERROR that acks or refuses it).
/// Messages with another sequence number (late answers to an earlier
/// request that timed out or failed half-way) are skipped. `interrupted`
/// says whether any message had NLM_F_DUMP_INTR.
///
/// 0 on success; the kernel's errno when it refused; local_failure
/// otherwise. `error` is set unless 0.
template <class F>
int exchange(int fd, request& req, uint32_t seq, const std::string& what,
             F&& on_msg, bool& interrupted, std::string& error) {
  interrupted = false;
  bool dump = (req.hdr()->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  if (!send_request(fd, req, seq, what, error))
    return local_failure;
  std::vector<char> buf(initial_buffer);
  for (;;) {
    auto n = receive(fd, buf, what, error);
    if (n < 0)
      return local_failure;
    auto len = static_cast<int>(n);
    for (auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data());
         NLMSG_OK(msg, len); msg = NLMSG_NEXT(msg, len)) {
      if (msg->nlmsg_seq != seq)
        continue;
      if (msg->nlmsg_flags & NLM_F_DUMP_INTR)
        interrupted = true;
      if (msg->nlmsg_type == NLMSG_ERROR)
        return error_message(what, *msg, error);
      if (msg->nlmsg_type == NLMSG_DONE) {
        // A dump that failed half-way says so here: a negative errno.
        if (msg->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int err = 0;
          std::memcpy(&err, NLMSG_DATA(msg), sizeof(err));
          if (err < 0) {
            error = kernel_error(what, -err, *msg, sizeof(int));
            return -err;
          }
        }
        return 0;
      }
      if (msg->nlmsg_type == NLMSG_NOOP || msg->nlmsg_type == NLMSG_OVERRUN)
        continue;
      if (!on_msg(*msg, error))
        return local_failure;
      if (!dump)
        return 0;
    }
  }
}

/// The string in an attribute, up to its first NUL or its end.
std::string attr_string(const rtattr* rta) {
  auto* text = static_cast<const char*>(RTA_DATA(rta));
  return std::string{text, ::strnlen(text, RTA_PAYLOAD(rta))};
}

/// A 32-bit attribute; false if it is too short to hold one.
template <class T>
bool attr_u32(const rtattr* rta, T& out) {
  static_assert(sizeof(T) == 4);
  if (RTA_PAYLOAD(rta) < sizeof(T))
    return false;
  std::memcpy(&out, RTA_DATA(rta), sizeof(T));
  return true;
}

/// Fills `out` from an RTM_NEWLINK; false with `error` for a malformed one.
bool parse_link(const nlmsghdr& msg, link& out, std::string& error) {
  if (msg.nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
    error = "truncated RTM_NEWLINK from the kernel";
    return false;
  }
  auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(&msg));
  out = link{};
  out.ifindex = ifi->ifi_index;
  out.up = (ifi->ifi_flags & IFF_UP) != 0;
  int len = static_cast<int>(IFLA_PAYLOAD(&msg));
  for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
    // Nested attributes may carry NLA_F_NESTED in their type.
    switch (rta->rta_type & NLA_TYPE_MASK) {
      case IFLA_IFNAME:
        out.name = attr_string(rta);
        break;
      case IFLA_LINK:
        if (!attr_u32(rta, out.peer_ifindex))
          out.peer_ifindex = 0;
        break;
      case IFLA_LINK_NETNSID:
        if (!attr_u32(rta, out.peer_nsid))
          out.peer_nsid = no_nsid;
        break;
      case IFLA_LINKINFO: {
        int nested_len = static_cast<int>(RTA_PAYLOAD(rta));
        for (auto* info = static_cast<const rtattr*>(RTA_DATA(rta));
             RTA_OK(info, nested_len); info = RTA_NEXT(info, nested_len))
          if ((info->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
            out.kind = attr_string(info);
        break;
      }
      default:
        break;
    }
  }
  return true;
}

/// Opens a NETLINK_ROUTE socket (`flags`: SOCK_NONBLOCK or 0) bound to a
/// kernel-chosen port.
unique_fd open_socket(int flags, std::string& error) {
  unique_fd fd{
    ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_ROUTE)};
  if (!fd) {
    error = "opening a NETLINK_ROUTE socket: " + errno_text(errno);
    return fd;
  }
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&self), sizeof(self)) != 0) {
    error = "binding a NETLINK_ROUTE socket: " + errno_text(errno);
    fd.reset();
  }
  return fd;
}

} // namespace

// -- route ------------------------------------------------------------------

std::unique_ptr<route> route::open(std::string& error) {
  auto fd = open_socket(0, error);
  if (!fd)
    return nullptr;
  timeval timeout{reply_timeout_seconds, 0};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout))
      != 0) {
    error = "setting the netlink receive timeout: " + errno_text(errno);
    return nullptr;
  }
  // Both are optional: without them errors lack the kernel's explanation
  // and requests are checked less strictly, nothing breaks.
  int on = 1;
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on));
  return std::unique_ptr<route>{new route(fd.release())};
}

route::~route() {
  ::close(fd_);
}

bool route::links(std::vector<link>& out, std::string& error) {
  for (int attempt = 1; attempt <= dump_attempts; ++attempt) {
    out.clear();
    request req{RTM_GETLINK, NLM_F_DUMP};
    req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
    // Counters are most of a link message and of no use here.
    uint32_t ext_mask = RTEXT_FILTER_SKIP_STATS;
    req.attr(IFLA_EXT_MASK, &ext_mask, sizeof(ext_mask));
    bool interrupted = false;
    auto result = exchange(
      fd_, req, ++seq_, "RTM_GETLINK dump",
      [&](const nlmsghdr& msg, std::string& err) {
        if (msg.nlmsg_type != RTM_NEWLINK)
          return true;
        link l;
        if (!parse_link(msg, l, err))
          return false;
        out.push_back(std::move(l));
        return true;
      },
      interrupted, error);
    if (result != 0)
      return false;
    // Links changed while the kernel walked them: the list may miss or
    // repeat some. Ask again.
    if (!interrupted)
      return true;
  }
  out.clear();
  error = "RTM_GETLINK dump: interrupted by concurrent link changes "
          + std::to_string(dump_attempts) + " times in a row";
  return false;
}

bool route::link_by_name(const std::string& name, link& out,
                         std::string& error) {
  // No interface can have such a name; the kernel would say EINVAL or
  // ERANGE instead of "no such device".
  if (name.empty() || name.size() >= IFNAMSIZ
      || name.find('\0') != std::string::npos) {
    error = "no interface " + name + " (not a valid interface name)";
    return false;
  }
  request req{RTM_GETLINK, 0};
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
  uint32_t ext_mask = RTEXT_FILTER_SKIP_STATS;
  req.attr(IFLA_EXT_MASK, &ext_mask, sizeof(ext_mask));
  bool found = false;
  bool interrupted = false;
  auto result = exchange(
    fd_, req, ++seq_, "RTM_GETLINK " + name,
    [&](const nlmsghdr& msg, std::string& e) {
      if (msg.nlmsg_type != RTM_NEWLINK) {
        e = "RTM_GETLINK " + name + ": unexpected message type "
            + std::to_string(msg.nlmsg_type);
        return false;
      }
      found = parse_link(msg, out, e);
      return found;
    },
    interrupted, error);
  if (result == 0 && found)
    return true;
  if (result == 0)
    error = "RTM_GETLINK " + name + ": no answer";
  // The kernel's "no such device" is the common case; say it plainly.
  else if (result == ENODEV)
    error = "no interface " + name + " (" + error + ")";
  return false;
}

namespace {

/// RTM_GETNSID for `netns_fd`: the nsid, or NETNSA_NSID_NOT_ASSIGNED;
/// false with `error` set on failure.
bool get_nsid(int fd, uint32_t seq, int netns_fd, int& nsid,
              std::string& error) {
  request req{RTM_GETNSID, 0};
  req.body<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  auto ns = static_cast<uint32_t>(netns_fd);
  req.attr(NETNSA_FD, &ns, sizeof(ns));
  bool found = false;
  bool interrupted = false;
  auto what = "RTM_GETNSID for fd " + std::to_string(netns_fd);
  auto result = exchange(
    fd, req, seq, what,
    [&](const nlmsghdr& msg, std::string& err) {
      if (msg.nlmsg_type != RTM_NEWNSID
          || msg.nlmsg_len < NLMSG_LENGTH(sizeof(rtgenmsg))) {
        err = what + ": unexpected answer (type "
              + std::to_string(msg.nlmsg_type) + ")";
        return false;
      }
      auto* rtg = static_cast<const rtgenmsg*>(NLMSG_DATA(&msg));
      int len = static_cast<int>(NLMSG_PAYLOAD(&msg, sizeof(rtgenmsg)));
      auto* rta = reinterpret_cast<const rtattr*>(
        reinterpret_cast<const char*>(rtg) + NLMSG_ALIGN(sizeof(rtgenmsg)));
      for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
        if (rta->rta_type == NETNSA_NSID && attr_u32(rta, nsid))
          found = true;
      if (!found)
        err = what + ": the answer has no NETNSA_NSID";
      return found;
    },
    interrupted, error);
  if (result == 0 && !found)
    error = what + ": no answer";
  return result == 0 && found;
}

/// RTM_NEWNSID for `netns_fd` with NETNSA_NSID -1: the kernel picks the
/// nsid. 0, or what exchange() says with `error` set (EEXIST: one was
/// assigned since our GETNSID).
int new_nsid(int fd, uint32_t seq, int netns_fd, std::string& error) {
  request req{RTM_NEWNSID, NLM_F_ACK};
  req.body<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  auto ns = static_cast<uint32_t>(netns_fd);
  req.attr(NETNSA_FD, &ns, sizeof(ns));
  int32_t any = NETNSA_NSID_NOT_ASSIGNED;
  req.attr(NETNSA_NSID, &any, sizeof(any));
  bool interrupted = false;
  auto what = "RTM_NEWNSID for fd " + std::to_string(netns_fd);
  // The only answer to a NEWNSID is the ack (NLMSG_ERROR, 0 or an errno).
  return exchange(
    fd, req, seq, what, [&](const nlmsghdr&, std::string&) { return true; },
    interrupted, error);
}

} // namespace

int route::ensure_nsid(int netns_fd, std::string& error) {
  if (netns_fd < 0) {
    error = "RTM_GETNSID: bad namespace fd " + std::to_string(netns_fd) + ": "
            + errno_text(EBADF);
    return -1;
  }
  // GETNSID, NEWNSID when there is none, GETNSID again. A concurrent
  // assigner (another agent, `ip netns set`, the kernel itself when it
  // reports a link there) makes NEWNSID fail with EEXIST; the next
  // GETNSID sees its nsid.
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    int nsid = NETNSA_NSID_NOT_ASSIGNED;
    if (!get_nsid(fd_, ++seq_, netns_fd, nsid, error))
      return -1;
    if (nsid >= 0)
      return nsid;
    if (attempt == attempts)
      break;
    std::string new_error;
    auto err = new_nsid(fd_, ++seq_, netns_fd, new_error);
    if (err != 0 && err != EEXIST) {
      error = new_error;
      return -1;
    }
  }
  error = "RTM_GETNSID for fd " + std::to_string(netns_fd)
          + ": still no nsid after the kernel accepted RTM_NEWNSID";
  return -1;
}

// -- monitor ----------------------------------------------------------------

std::unique_ptr<monitor> monitor::open(std::string& error) {
  auto fd = open_socket(SOCK_NONBLOCK, error);
  if (!fd)
    return nullptr;
  // SO_RCVBUF is capped at net.core.rmem_max; root (CAP_NET_ADMIN) may
  // exceed it with SO_RCVBUFFORCE, so try that first.
  int size = monitor_rcvbuf;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size))
        != 0
      && ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size))
           != 0) {
    error
      = "setting the netlink monitor's receive buffer: " + errno_text(errno);
    return nullptr;
  }
  for (int group : {RTNLGRP_LINK, RTNLGRP_NSID}) {
    if (::setsockopt(fd.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group,
                     sizeof(group))
        != 0) {
      error = std::string{"joining rtnetlink group "}
              + (group == RTNLGRP_LINK ? "RTNLGRP_LINK" : "RTNLGRP_NSID") + ": "
              + errno_text(errno);
      return nullptr;
    }
  }
  return std::unique_ptr<monitor>{new monitor(fd.release())};
}

monitor::~monitor() {
  ::close(fd_);
}

bool monitor::drain() {
  // The contents do not matter (see the header): a short buffer is fine,
  // recv discards the rest of a longer datagram.
  char buf[8192];
  bool changed = false;
  for (int i = 0; i < max_drain_messages; ++i) {
    auto n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n >= 0) {
      changed = true;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return changed;
    if (errno == ENOBUFS) {
      // The kernel dropped messages; the socket reports it once and then
      // delivers what it kept.
      ++overruns_;
      changed = true;
      continue;
    }
    // Anything else is unexpected; err on the side of listing again.
    return true;
  }
  return true;
}

} // namespace nw::netlink
