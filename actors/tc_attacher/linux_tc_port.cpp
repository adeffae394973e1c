#include "actors/tc_attacher/linux_tc_port.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>

#include "actors/tc_attacher/netlink.hpp"
#include "runtime/kernel/event_loop.hpp"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/log.hpp"
#include "runtime/kernel/tc_hook.hpp"
#include "runtime/kernel/tc_programs.hpp"
#include "runtime/kernel/unique_fd.hpp"

namespace nw {

namespace {

using kernel::tc_direction;
using kernel::unique_fd;

constexpr tc_direction both[] = {tc_direction::ingress, tc_direction::egress};

/// Whether `iface` is still the interface at its ifindex (not gone, not
/// replaced by another one that reuses the number).
bool still_there(const tc_iface& iface) {
  char name[IF_NAMESIZE] = {};
  return ::if_indextoname(static_cast<unsigned>(iface.ifindex), name) != nullptr
         && iface.name == name;
}

class linux_tc_port : public tc_port {
public:
  explicit linux_tc_port(linux_tc_port_config cfg) : cfg_(std::move(cfg)) {}

  ~linux_tc_port() override {
    // The watch first: its callback uses the monitor.
    if (loop_ && watch_ != kernel::no_id)
      loop_->unwatch_and_wait(watch_);
    loop_.reset();
    // Then the hook: its destructor detaches every filter still ours.
    hook_.reset();
  }

  bool start(std::function<void()> on_links_changed,
             std::string& error) override {
    hook_ = kernel::tc_hook::load(error);
    if (!hook_)
      return false;
    if (cfg_.program.empty()) {
      counters_ = kernel::net_counters::load(error);
      if (!counters_ || !hook_->set_program(counters_->prog_fd(), error))
        return false;
    } else {
      std::string file, section;
      if (!parse_tc_program(cfg_.program, file, section, error))
        return false;
      user_ = kernel::user_tc_program::load(file, section, error);
      if (!user_ || !hook_->set_program(user_->prog_fd(), error))
        return false;
      log::info("TC: the dispatcher calls a user program",
                {{"program", cfg_.program}, {"name", user_->name()}});
    }
    route_ = netlink::route::open(error);
    if (!route_)
      return false;
    struct stat st {};
    if (::stat("/proc/self/ns/net", &st) != 0) {
      error = "reading our network namespace: " + kernel::errno_text(errno);
      return false;
    }
    host_netns_ = st.st_ino;
    // Our own filters a crashed agent left, on every host interface.
    std::vector<netlink::link> links;
    if (!route_->links(links, error))
      return false;
    for (auto& l : links) {
      std::string err;
      auto n = hook_->remove_stale(l.ifindex, err);
      if (n > 0)
        stale_ += static_cast<uint64_t>(n);
      else if (n < 0)
        log::warn("TC: cannot check an interface for stale filters",
                  {{"interface", l.name}, {"error", err}});
    }
    monitor_ = netlink::monitor::open(error);
    if (!monitor_)
      return false;
    try {
      loop_ = std::make_unique<kernel::event_loop>();
    } catch (const std::exception& e) {
      error = std::string{"starting the TC loop thread: "} + e.what();
      return false;
    }
    auto* mon = monitor_.get();
    watch_ = loop_->watch_fd(
      mon->fd(), kernel::fd_event::readable,
      [mon, notify = std::move(on_links_changed)](int, int revents) {
        if (revents < 0) {
          log::error("TC: the link-change watch failed; interfaces that "
                     "appear later are not hooked",
                     {{"error", std::to_string(revents)}});
          return;
        }
        if (mon->drain())
          notify();
      });
    if (watch_ == kernel::no_id) {
      error = "watching the link-change socket";
      return false;
    }
    return true;
  }

  uint64_t stale_removed() const override {
    return stale_;
  }

  uint64_t host_netns() const override {
    return host_netns_;
  }

  bool open_netns(uint64_t netns, uint32_t pid, std::string& error) override {
    auto path = pid == 0
                  ? std::string{"/proc/self/ns/net"}
                  : cfg_.host_root + "/proc/" + std::to_string(pid) + "/ns/net";
    unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) {
      error = "opening " + path + ": " + kernel::errno_text(errno);
      return false;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      error = "fstat " + path + ": " + kernel::errno_text(errno);
      return false;
    }
    if (st.st_ino != netns) {
      error = "process " + std::to_string(pid) + " is in network namespace "
              + std::to_string(st.st_ino) + ", not " + std::to_string(netns);
      return false;
    }
    int nsid = netlink::no_nsid;
    if (netns != host_netns_) {
      nsid = route_->ensure_nsid(fd.get(), error);
      if (nsid < 0)
        return false;
    }
    if (counters_ && !counters_->track(netns, error))
      return false;
    open_[netns] = {std::move(fd), nsid};
    return true;
  }

  void close_netns(uint64_t netns) override {
    if (open_.erase(netns) == 0)
      return;
    std::string error;
    if (counters_ && !counters_->untrack(netns, error))
      log::warn("TC: cannot drop a namespace's counters",
                {{"netns", std::to_string(netns)}, {"error", error}});
  }

  bool peers(std::map<uint64_t, std::vector<tc_iface>>& out,
             std::string& error) override {
    std::map<int, uint64_t> by_nsid;
    for (auto& [ns, entry] : open_)
      if (entry.nsid >= 0)
        by_nsid[entry.nsid] = ns;
    std::vector<netlink::link> links;
    if (!route_->links(links, error))
      return false;
    for (auto& l : links) {
      if (l.kind != "veth" || l.peer_nsid == netlink::no_nsid)
        continue;
      auto i = by_nsid.find(l.peer_nsid);
      if (i != by_nsid.end())
        out[i->second].push_back(tc_iface{l.ifindex, l.name});
    }
    return true;
  }

  bool host_iface(const std::string& name, tc_iface& out,
                  std::string& error) override {
    netlink::link l;
    if (!route_->link_by_name(name, l, error))
      return false;
    out = {l.ifindex, l.name};
    return true;
  }

  bool attach(const tc_iface& iface, uint64_t netns, bool peer,
              std::string& error) override {
    if (!hook_->set_iface(iface.ifindex, netns, peer, error))
      return false;
    for (auto dir : both) {
      if (hook_->attach(iface.ifindex, dir, error))
        continue;
      std::string ignored;
      for (auto undo : both)
        if (undo != dir)
          hook_->detach(iface.ifindex, undo, ignored);
      hook_->forget_iface(iface.ifindex, ignored);
      return false;
    }
    return true;
  }

  bool detach(const tc_iface& iface, std::string& error) override {
    bool ok = true;
    if (still_there(iface)) {
      for (auto dir : both) {
        std::string err;
        if (!hook_->detach(iface.ifindex, dir, err) && still_there(iface)) {
          error += (error.empty() ? "" : "; ") + err;
          ok = false;
        }
      }
    }
    std::string err;
    if (!hook_->forget_iface(iface.ifindex, err)) {
      error += (error.empty() ? "" : "; ") + err;
      ok = false;
    }
    return ok;
  }

  bool read(uint64_t netns, tc_counts& out, std::string& error) override {
    if (!counters_) {
      error = "no counters: --tc-program replaced them";
      return false;
    }
    nw_net_counters c{};
    if (!counters_->read(netns, c, error))
      return false;
    out = {c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes};
    return true;
  }

private:
  struct open_netns_entry {
    unique_fd fd;
    int nsid = netlink::no_nsid;
  };

  linux_tc_port_config cfg_;
  std::unique_ptr<kernel::tc_hook> hook_;
  std::unique_ptr<kernel::net_counters> counters_;
  std::unique_ptr<kernel::user_tc_program> user_;
  std::unique_ptr<netlink::route> route_;
  std::unique_ptr<netlink::monitor> monitor_;
  std::unique_ptr<kernel::event_loop> loop_;
  kernel::watch_id watch_ = kernel::no_id;
  std::map<uint64_t, open_netns_entry> open_;
  uint64_t host_netns_ = 0;
  uint64_t stale_ = 0;
};

} // namespace

std::unique_ptr<tc_port> make_linux_tc_port(linux_tc_port_config cfg) {
  return std::make_unique<linux_tc_port>(std::move(cfg));
}

bool parse_tc_program(const std::string& text, std::string& file,
                      std::string& section, std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = "--tc-program '" + text + "' is not FILE.o:SECTION";
    return false;
  }
  file = text.substr(0, colon);
  section = text.substr(colon + 1);
  return true;
}

} // namespace nw
