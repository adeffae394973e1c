// actors/tc_attacher/netlink against the real kernel, on the CNI bridge
// model (tests/integration/support/netns_fixture.hpp) and on scratch
// namespaces of its own: ensure_nsid gives a namespace a stable nsid (the
// one `ip netns list-id` shows), also one that has no veth yet; links()
// reports each host-side veth with its peer's nsid and ifindex (checked
// against `ip -n NS`); missing interfaces and bad namespace fds are clean
// errors; the monitor wakes up for link and nsid changes and counts a
// full receive buffer as an overrun. The monitor cases run in a private
// namespace so that other tests' links on the host cannot wake it.
// Root only (skipped otherwise); no TC, so no `tc` lock.
#define BOOST_TEST_MODULE netlink
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/tc_attacher/netlink.hpp"
#include "runtime/kernel/unique_fd.hpp"
#include "tests/integration/support/netns_fixture.hpp"
#include "tests/support/skip.hpp"

namespace {

using nw::kernel::unique_fd;
namespace nl = nw::netlink;
using nw::netlink::monitor;
using nw::netlink::no_nsid;
using nw::netlink::route;
using nw::test::cni_bridge;
using nw::test::run;
using nw::test::run_ok;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A name unique to this process and call, short enough for an interface
/// (≤ 15 bytes): prefix (3) + pid (≤ 5) + a letter + a counter digit or two.
std::string unique_name(const char* prefix) {
  static std::atomic<int> counter{0};
  auto n = counter++;
  return prefix + std::to_string(::getpid() % 100000)
         + static_cast<char>('a' + n % 26) + std::to_string(n / 26 % 100);
}

std::unique_ptr<route> open_route() {
  std::string error;
  auto rt = route::open(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(rt), "route::open: " << error);
  return rt;
}

std::unique_ptr<monitor> open_monitor() {
  std::string error;
  auto mon = monitor::open(error);
  BOOST_TEST_REQUIRE(static_cast<bool>(mon), "monitor::open: " << error);
  return mon;
}

/// /var/run/netns/NAME, opened.
unique_fd open_netns(const std::string& name) {
  unique_fd fd{
    ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd)
    throw std::runtime_error("open /var/run/netns/" + name + ": "
                             + std::strerror(errno));
  return fd;
}

/// `dev`'s ifindex inside namespace `ns`, as iproute2 sees it ("7: eth0@if9:
/// ...").
int ifindex_in(const std::string& ns, const std::string& dev) {
  auto out = run_ok({"ip", "-n", ns, "-o", "link", "show", "dev", dev});
  return std::stoi(out);
}

/// The nsid the root namespace has for `ns`, as `ip netns list-id` shows
/// it; -1 if it has none.
int listed_nsid(const std::string& ns) {
  std::istringstream lines{run_ok({"ip", "netns", "list-id"})};
  std::string line;
  // "nsid 3 (iproute2 netns name: NAME)"
  while (std::getline(lines, line))
    if (contains(line, "netns name: " + ns + ")"))
      return std::stoi(line.substr(line.find(' ') + 1));
  return -1;
}

/// The link named `name` in `links`; fails the test if there is none.
nl::link find(const std::vector<nl::link>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(),
                         [&](const nl::link& l) { return l.name == name; });
  BOOST_TEST_REQUIRE((it != links.end()), "no link " << name << " listed");
  return *it;
}

/// A network namespace of our own (`ip netns add`), deleted at the end.
class scratch_netns {
public:
  scratch_netns() : name_(unique_name("nwl")) {
    run_ok({"ip", "netns", "add", name_});
  }
  ~scratch_netns() {
    run({"ip", "netns", "del", name_});
  }
  scratch_netns(const scratch_netns&) = delete;
  scratch_netns& operator=(const scratch_netns&) = delete;

  const std::string& name() const {
    return name_;
  }

private:
  std::string name_;
};

/// A link in the root namespace, deleted at the end if still there (its
/// veth peer goes with it).
class host_link {
public:
  explicit host_link(std::string name) : name_(std::move(name)) {}
  ~host_link() {
    if (::if_nametoindex(name_.c_str()) != 0)
      run({"ip", "link", "del", name_});
  }
  host_link(const host_link&) = delete;
  host_link& operator=(const host_link&) = delete;

  const std::string& name() const {
    return name_;
  }

private:
  std::string name_;
};

/// While alive, this thread is in network namespace `ns` (sockets opened
/// now belong to it); back in the original one afterwards. Run no `ip`
/// commands meanwhile: they would inherit `ns`.
class inside_netns {
public:
  explicit inside_netns(const std::string& ns)
      : original_(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) {
    if (!original_)
      throw std::runtime_error(std::string{"open /proc/self/ns/net: "}
                               + std::strerror(errno));
    auto target = open_netns(ns);
    if (::setns(target.get(), CLONE_NEWNET) != 0)
      throw std::runtime_error("setns " + ns + ": " + std::strerror(errno));
  }
  ~inside_netns() {
    if (::setns(original_.get(), CLONE_NEWNET) != 0)
      std::abort(); // every later step would run in the wrong namespace
  }
  inside_netns(const inside_netns&) = delete;
  inside_netns& operator=(const inside_netns&) = delete;

private:
  unique_fd original_;
};

/// Whether `fd` becomes readable within `timeout_ms` (poll, no sleeps).
bool readable_within(int fd, int timeout_ms) {
  auto deadline
    = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    pollfd p{fd, POLLIN, 0};
    auto n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
    if (n > 0)
      return (p.revents & POLLIN) != 0;
    if (n == 0)
      return false;
    if (errno != EINTR)
      throw std::runtime_error(std::string{"poll: "} + std::strerror(errno));
  }
}

struct setup {
  setup() {
    nw::test::require_ip();
  }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(setup);

BOOST_AUTO_TEST_CASE(ensure_nsid_is_stable_and_is_the_kernels) {
  cni_bridge net{2};
  auto rt = open_route();
  std::vector<int> nsids;
  for (int i = 0; i < net.size(); ++i) {
    auto fd = open_netns(net.netns(i));
    std::string error;
    auto first = rt->ensure_nsid(fd.get(), error);
    BOOST_TEST_REQUIRE(first >= 0, net.netns(i) << ": " << error);
    auto second = rt->ensure_nsid(fd.get(), error);
    BOOST_TEST(second == first, net.netns(i) << ": " << error);
    BOOST_TEST(listed_nsid(net.netns(i)) == first);
    nsids.push_back(first);
  }
  BOOST_TEST(nsids[0] != nsids[1]);
}

BOOST_AUTO_TEST_CASE(links_report_host_veths_with_their_peers) {
  cni_bridge net{2};
  auto rt = open_route();
  std::string error;
  std::vector<int> nsids;
  for (int i = 0; i < net.size(); ++i) {
    auto fd = open_netns(net.netns(i));
    nsids.push_back(rt->ensure_nsid(fd.get(), error));
    BOOST_TEST_REQUIRE(nsids.back() >= 0, error);
  }
  std::vector<nl::link> links;
  BOOST_TEST_REQUIRE(rt->links(links, error), error);
  for (int i = 0; i < net.size(); ++i) {
    auto host = find(links, net.host_veth(i));
    BOOST_TEST(host.kind == "veth");
    BOOST_TEST(host.ifindex == net.host_ifindex(i));
    BOOST_TEST(host.peer_nsid == nsids[i]);
    BOOST_TEST(host.peer_ifindex == ifindex_in(net.netns(i), "eth0"));
    BOOST_TEST(host.up);

    nl::link by_name;
    BOOST_TEST_REQUIRE(rt->link_by_name(net.host_veth(i), by_name, error),
                       error);
    BOOST_TEST(by_name.ifindex == host.ifindex);
    BOOST_TEST(by_name.name == host.name);
    BOOST_TEST(by_name.kind == host.kind);
    BOOST_TEST(by_name.peer_nsid == host.peer_nsid);
    BOOST_TEST(by_name.peer_ifindex == host.peer_ifindex);
    BOOST_TEST(by_name.up == host.up);
  }
  auto bridge = find(links, net.bridge());
  BOOST_TEST(bridge.kind == "bridge");
  BOOST_TEST(bridge.peer_nsid == no_nsid);
  auto lo = find(links, "lo");
  BOOST_TEST(lo.ifindex == 1);
  BOOST_TEST(lo.kind == "");
  BOOST_TEST(lo.peer_nsid == no_nsid);
  BOOST_TEST(lo.peer_ifindex == 0);
}

BOOST_AUTO_TEST_CASE(a_namespace_without_veths_gets_an_nsid_its_peers_report) {
  scratch_netns ns;
  BOOST_TEST_REQUIRE(listed_nsid(ns.name()) == -1,
                     "a fresh namespace already has an nsid");
  auto rt = open_route();
  auto fd = open_netns(ns.name());
  std::string error;
  auto nsid = rt->ensure_nsid(fd.get(), error);
  BOOST_TEST_REQUIRE(nsid >= 0, error);
  BOOST_TEST(listed_nsid(ns.name()) == nsid);
  BOOST_TEST(rt->ensure_nsid(fd.get(), error) == nsid, error);

  host_link host{unique_name("nwl")};
  auto peer = unique_name("nwl");
  run_ok({"ip", "link", "add", host.name(), "type", "veth", "peer", "name",
          peer, "netns", ns.name()});
  nl::link l;
  BOOST_TEST_REQUIRE(rt->link_by_name(host.name(), l, error), error);
  BOOST_TEST(l.kind == "veth");
  BOOST_TEST(l.peer_nsid == nsid);
  BOOST_TEST(l.peer_ifindex == ifindex_in(ns.name(), peer));
  BOOST_TEST(!l.up);
  std::vector<nl::link> links;
  BOOST_TEST_REQUIRE(rt->links(links, error), error);
  BOOST_TEST(find(links, host.name()).peer_nsid == nsid);
}

// Not our code's behaviour but the kernel's, which the attacher relies on
// either way: moving a veth end into a namespace that has no nsid makes
// the kernel assign one (dev_change_net_namespace announces the new nsid),
// and ensure_nsid then finds that one rather than making another.
BOOST_AUTO_TEST_CASE(moving_a_peer_makes_the_kernel_assign_an_nsid) {
  scratch_netns ns;
  BOOST_TEST_REQUIRE(listed_nsid(ns.name()) == -1);
  host_link host{unique_name("nwl")};
  auto peer = unique_name("nwl");
  run_ok(
    {"ip", "link", "add", host.name(), "type", "veth", "peer", "name", peer});
  run_ok({"ip", "link", "set", peer, "netns", ns.name()});
  auto assigned = listed_nsid(ns.name());
  BOOST_TEST_REQUIRE(assigned >= 0, "the kernel assigned no nsid");
  auto rt = open_route();
  std::string error;
  nl::link l;
  BOOST_TEST_REQUIRE(rt->link_by_name(host.name(), l, error), error);
  BOOST_TEST(l.peer_nsid == assigned);
  BOOST_TEST(l.peer_ifindex == ifindex_in(ns.name(), peer));
  auto fd = open_netns(ns.name());
  BOOST_TEST(rt->ensure_nsid(fd.get(), error) == assigned, error);
}

BOOST_AUTO_TEST_CASE(missing_links_and_bad_namespace_fds_are_clean_errors) {
  auto rt = open_route();
  std::string error;
  nl::link l;
  auto missing = unique_name("nwl");
  BOOST_TEST(!rt->link_by_name(missing, l, error));
  BOOST_TEST(contains(error, "no interface " + missing), error);
  error.clear();
  BOOST_TEST(!rt->link_by_name("a-name-longer-than-15", l, error));
  BOOST_TEST(contains(error, "no interface a-name-longer-than-15"), error);
  error.clear();
  BOOST_TEST(!rt->link_by_name("", l, error));
  BOOST_TEST(!error.empty());

  error.clear();
  BOOST_TEST(rt->ensure_nsid(-1, error) == -1);
  BOOST_TEST(contains(error, "errno"), error);
  BOOST_TEST_MESSAGE("fd -1: " << error);

  // A regular file is no namespace: the kernel refuses it.
  unique_fd file{::open("/proc/self/exe", O_RDONLY | O_CLOEXEC)};
  BOOST_TEST_REQUIRE(static_cast<bool>(file));
  error.clear();
  BOOST_TEST(rt->ensure_nsid(file.get(), error) == -1);
  BOOST_TEST(contains(error, "errno"), error);
  BOOST_TEST_MESSAGE("a regular file: " << error);

  // A number that is no open fd.
  unique_fd gone{::dup(file.get())};
  auto gone_number = gone.get();
  gone.reset();
  error.clear();
  BOOST_TEST(rt->ensure_nsid(gone_number, error) == -1);
  BOOST_TEST(contains(error, "errno"), error);
  BOOST_TEST_MESSAGE("a closed fd: " << error);

  // The errors left the socket in step: the next requests work.
  std::vector<nl::link> links;
  BOOST_TEST_REQUIRE(rt->links(links, error), error);
  BOOST_TEST(find(links, "lo").ifindex == 1);
  BOOST_TEST_REQUIRE(rt->link_by_name("lo", l, error), error);
  BOOST_TEST(l.ifindex == 1);
}

// The nsid of the socket's own namespace: the API promises only "whatever
// the kernel says", so this records it and checks that it is an answer,
// not a hang or a crash. In a scratch namespace, so the host keeps no
// self-nsid from it.
BOOST_AUTO_TEST_CASE(own_namespace_nsid_is_an_answer) {
  scratch_netns ns;
  auto fd = open_netns(ns.name());
  std::unique_ptr<route> rt;
  {
    inside_netns in{ns.name()};
    std::string error;
    rt = route::open(error);
    BOOST_TEST_REQUIRE(static_cast<bool>(rt), error);
  }
  std::string error;
  auto nsid = rt->ensure_nsid(fd.get(), error);
  BOOST_TEST((nsid >= 0 || !error.empty()));
  BOOST_TEST_MESSAGE("own namespace: nsid " << nsid << " " << error);
}

BOOST_AUTO_TEST_CASE(monitor_wakes_up_for_link_changes) {
  scratch_netns ns;
  std::unique_ptr<monitor> mon;
  {
    inside_netns in{ns.name()};
    mon = open_monitor();
  }
  BOOST_TEST(!mon->drain(), "nothing happened yet");
  BOOST_TEST(!readable_within(mon->fd(), 0));

  auto a = unique_name("nwl");
  auto b = unique_name("nwl");
  run_ok({"ip", "-n", ns.name(), "link", "add", a, "type", "veth", "peer",
          "name", b});
  BOOST_TEST_REQUIRE(readable_within(mon->fd(), 5000), "no event for add");
  BOOST_TEST(mon->drain());
  BOOST_TEST(!mon->drain(), "drain() left messages behind");

  run_ok({"ip", "-n", ns.name(), "link", "set", a, "up"});
  BOOST_TEST_REQUIRE(readable_within(mon->fd(), 5000), "no event for up");
  BOOST_TEST(mon->drain());
  BOOST_TEST(!mon->drain());
  BOOST_TEST(mon->overruns() == 0u);
}

BOOST_AUTO_TEST_CASE(monitor_wakes_up_for_a_new_nsid) {
  scratch_netns here;
  scratch_netns there;
  std::unique_ptr<monitor> mon;
  std::unique_ptr<route> rt;
  {
    inside_netns in{here.name()};
    mon = open_monitor();
    rt = open_route();
  }
  BOOST_TEST(!mon->drain());
  auto fd = open_netns(there.name());
  std::string error;
  BOOST_TEST_REQUIRE(rt->ensure_nsid(fd.get(), error) >= 0, error);
  BOOST_TEST_REQUIRE(readable_within(mon->fd(), 5000), "no RTM_NEWNSID");
  BOOST_TEST(mon->drain());
  BOOST_TEST(!mon->drain());
}

BOOST_AUTO_TEST_CASE(monitor_counts_a_full_buffer_as_an_overrun) {
  scratch_netns ns;
  std::unique_ptr<monitor> mon;
  {
    inside_netns in{ns.name()};
    mon = open_monitor();
  }
  // Shrink the buffer to the kernel's minimum (about one message): the
  // second message of a burst no longer fits.
  int tiny = 1;
  BOOST_TEST_REQUIRE(
    ::setsockopt(mon->fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)) == 0);
  for (int i = 0; i < 3; ++i)
    run_ok({"ip", "-n", ns.name(), "link", "add", unique_name("nwl"), "type",
            "veth", "peer", "name", unique_name("nwl")});
  BOOST_TEST_REQUIRE(readable_within(mon->fd(), 5000));
  BOOST_TEST(mon->drain());
  BOOST_TEST(mon->overruns() >= 1u);
  BOOST_TEST(!mon->drain());
}
