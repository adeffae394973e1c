#include "runtime/kernel/tc_hook.hpp"

#include <cerrno>
#include <cstring>

#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/tc_dispatch.h"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/log.hpp"
#include "runtime/kernel/unique_fd.hpp"
#include "tc_dispatch.skel.h"

namespace nw::kernel {

namespace {

constexpr tc_direction both[] = {tc_direction::ingress, tc_direction::egress};

bpf_tc_attach_point attach_point(tc_direction dir) {
  return dir == tc_direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

/// "ifindex 7 (veth1a) ingress", for errors and logs.
std::string where(int ifindex, tc_direction dir) {
  char name[IF_NAMESIZE] = {};
  std::string out = "ifindex " + std::to_string(ifindex);
  if (::if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr)
    out += std::string{" ("} + name + ")";
  return out + " " + to_string(dir);
}

/// False with a clean error when `ifindex` names no interface (here, in
/// this network namespace).
bool interface_exists(int ifindex, std::string& error) {
  char name[IF_NAMESIZE] = {};
  if (ifindex > 0
      && ::if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr)
    return true;
  error = "no interface with ifindex " + std::to_string(ifindex)
          + " in this network namespace: " + errno_text(ENODEV);
  return false;
}

/// The name of the program with kernel id `id`: empty with `error` set if
/// it cannot be read (a program gone meanwhile: ENOENT).
std::string prog_name(uint32_t id, std::string& error) {
  unique_fd fd{::bpf_prog_get_fd_by_id(id)};
  if (!fd) {
    error = "program id " + std::to_string(id) + ": " + errno_text(errno);
    return {};
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (::bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) {
    error = "program id " + std::to_string(id) + " info: " + errno_text(errno);
    return {};
  }
  return std::string{info.name, ::strnlen(info.name, sizeof(info.name))};
}

} // namespace

const char* to_string(tc_direction dir) {
  return dir == tc_direction::ingress ? "ingress" : "egress";
}

std::unique_ptr<tc_hook> tc_hook::load(std::string& error) {
  auto* skel = tc_dispatch_bpf::open();
  if (skel == nullptr) {
    error = "opening the tc_dispatch skeleton: " + errno_text(errno);
    return nullptr;
  }
  if (auto err = tc_dispatch_bpf::load(skel); err != 0) {
    error = "loading the TC dispatcher: " + errno_text(-err);
    tc_dispatch_bpf::destroy(skel);
    return nullptr;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (::bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.nw_dispatch), &info,
                               &len)
      != 0) {
    error = "reading the TC dispatcher's program id: " + errno_text(errno);
    tc_dispatch_bpf::destroy(skel);
    return nullptr;
  }
  return std::unique_ptr<tc_hook>{new tc_hook(skel, info.id)};
}

tc_hook::~tc_hook() {
  for (auto [ifindex, dir] : attached_) {
    std::string error;
    // An interface gone meanwhile took its filters with it.
    if (!interface_exists(ifindex, error))
      continue;
    if (!remove(ifindex, dir, error))
      nw::log::warn("cannot detach the TC dispatcher",
                    {{"where", where(ifindex, dir)}, {"error", error}});
  }
  tc_dispatch_bpf::destroy(skel_);
}

int tc_hook::prog_fd() const {
  return bpf_program__fd(skel_->progs.nw_dispatch);
}

int tc_hook::slots_fd() const {
  return bpf_map__fd(skel_->maps.dispatch_slots);
}

void tc_hook::release() {
  attached_.clear();
}

int64_t tc_hook::query(int ifindex, tc_direction dir,
                       std::string& error) const {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = attach_point(dir));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NW_TC_HANDLE,
              .priority = NW_TC_PRIORITY);
  auto err = ::bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) {
    // ENOENT: no such filter. EINVAL: no clsact qdisc at all, or a filter
    // there without an eBPF program id (classic BPF from `tc ... bytecode`)
    // that libbpf cannot describe; a bad ifindex, the other EINVAL, is
    // ruled out by interface_exists() first. Nothing of ours either way.
    return 0;
  }
  if (err != 0) {
    error = "querying " + where(ifindex, dir) + ": " + errno_text(-err);
    return -1;
  }
  return opts.prog_id;
}

bool tc_hook::remove(int ifindex, tc_direction dir, std::string& error) const {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = attach_point(dir));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NW_TC_HANDLE,
              .priority = NW_TC_PRIORITY);
  if (auto err = ::bpf_tc_detach(&hook, &opts); err != 0) {
    error = "detaching from " + where(ifindex, dir) + ": " + errno_text(-err);
    return false;
  }
  return true;
}

bool tc_hook::attach(int ifindex, tc_direction dir, std::string& error) {
  if (!interface_exists(ifindex, error))
    return false;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = attach_point(dir));
  // Creates the clsact qdisc (both hooks); EEXIST: someone has one already.
  if (auto err = ::bpf_tc_hook_create(&hook); err != 0 && err != -EEXIST) {
    error = "creating the clsact qdisc on " + where(ifindex, dir) + ": "
            + errno_text(-err);
    return false;
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd(), .handle = NW_TC_HANDLE,
              .priority = NW_TC_PRIORITY);
  auto err = ::bpf_tc_attach(&hook, &opts);
  if (err == -EEXIST) {
    std::string qerr;
    auto id = query(ifindex, dir, qerr);
    if (id == prog_id_) {
      attached_.emplace(ifindex, dir);
      return true;
    }
    error = "attaching to " + where(ifindex, dir)
            + ": a filter at priority 20055 handle 1 is there already";
    if (id > 0) {
      std::string nerr;
      auto name = prog_name(static_cast<uint32_t>(id), nerr);
      error += " (program id " + std::to_string(id)
               + (name.empty() ? std::string{} : ", " + name) + ")";
      if (name == NW_TC_PROG_NAME)
        error += "; a stale one of ours: remove_stale() first";
    }
    return false;
  }
  if (err != 0) {
    error = "attaching to " + where(ifindex, dir) + ": " + errno_text(-err);
    return false;
  }
  attached_.emplace(ifindex, dir);
  return true;
}

bool tc_hook::set_iface(int ifindex, uint64_t netns, bool peer,
                        std::string& error) {
  auto key = static_cast<uint32_t>(ifindex);
  nw_tc_iface value{};
  value.netns = netns;
  value.flags = peer ? NW_TC_IFACE_PEER : 0;
  if (::bpf_map_update_elem(bpf_map__fd(skel_->maps.ifaces), &key, &value,
                            BPF_ANY)
      != 0) {
    error = "recording ifindex " + std::to_string(ifindex)
            + " in the dispatcher's interface map: " + errno_text(errno);
    return false;
  }
  return true;
}

bool tc_hook::forget_iface(int ifindex, std::string& error) {
  auto key = static_cast<uint32_t>(ifindex);
  if (::bpf_map_delete_elem(bpf_map__fd(skel_->maps.ifaces), &key) != 0
      && errno != ENOENT) {
    error = "forgetting ifindex " + std::to_string(ifindex)
            + " in the dispatcher's interface map: " + errno_text(errno);
    return false;
  }
  return true;
}

bool tc_hook::set_program(int fd, std::string& error) {
  uint32_t slot = 0;
  auto map = bpf_map__fd(skel_->maps.dispatch_slots);
  auto rc = fd < 0 ? ::bpf_map_delete_elem(map, &slot)
                   : ::bpf_map_update_elem(map, &slot, &fd, BPF_ANY);
  if (rc != 0 && !(fd < 0 && errno == ENOENT)) {
    error = std::string{fd < 0 ? "emptying" : "filling"}
            + " the dispatcher's slot 0: " + errno_text(errno);
    if (fd >= 0 && errno == EINVAL)
      error += " (the program must be SchedCLS, like the dispatcher)";
    return false;
  }
  return true;
}

bool tc_hook::detach(int ifindex, tc_direction dir, std::string& error) {
  if (!interface_exists(ifindex, error)) {
    // Its filters went with it.
    attached_.erase({ifindex, dir});
    return false;
  }
  auto id = query(ifindex, dir, error);
  if (id < 0)
    return false;
  if (id == 0) {
    attached_.erase({ifindex, dir});
    error = "detaching from " + where(ifindex, dir)
            + ": the dispatcher is not attached there: " + errno_text(ENOENT);
    return false;
  }
  if (id != prog_id_) {
    error = "detaching from " + where(ifindex, dir)
            + ": the filter at priority 20055 handle 1 runs program id "
            + std::to_string(id) + ", not this dispatcher ("
            + std::to_string(prog_id_) + "); left alone";
    return false;
  }
  if (!remove(ifindex, dir, error))
    return false;
  attached_.erase({ifindex, dir});
  return true;
}

int tc_hook::remove_stale(int ifindex, std::string& error) {
  if (!interface_exists(ifindex, error))
    return -1;
  int removed = 0;
  for (auto dir : both) {
    auto id = query(ifindex, dir, error);
    if (id < 0)
      return -1;
    if (id == 0 || id == prog_id_)
      continue;
    std::string nerr;
    auto name = prog_name(static_cast<uint32_t>(id), nerr);
    if (name != NW_TC_PROG_NAME) {
      if (!nerr.empty())
        nw::log::warn("cannot name the program of a filter at our priority "
                      "and handle; left alone",
                      {{"where", where(ifindex, dir)}, {"error", nerr}});
      continue;
    }
    if (!remove(ifindex, dir, error))
      return -1;
    nw::log::info(
      "removed a stale TC filter of ours",
      {{"where", where(ifindex, dir)}, {"prog_id", std::to_string(id)}});
    ++removed;
  }
  return removed;
}

} // namespace nw::kernel
