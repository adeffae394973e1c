#include "runtime/kernel/containers_map.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/log.hpp"

namespace nw::kernel {

namespace {

constexpr const char* bpffs_root = "/sys/fs/bpf";

bool is_bpffs(const char* path) {
  struct statfs fs {};
  return ::statfs(path, &fs) == 0
         && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

void copy_field(const std::string& in,
                char (&out)[NW_CONTAINERS_MAP_FIELD_SIZE]) {
  auto n = std::min(in.size(), sizeof(out) - 1);
  std::memcpy(out, in.data(), n);
  out[n] = '\0';
}

uint32_t map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (::bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return 0;
  return info.id;
}

} // namespace

void to_map_value(const containers_map_entry& in, nw_container_entry& out) {
  std::memset(&out, 0, sizeof(out));
  copy_field(in.container_id, out.container_id);
  copy_field(in.k8s_namespace, out.k8s_namespace);
  copy_field(in.k8s_pod, out.k8s_pod);
  copy_field(in.container_name, out.container_name);
}

bool ensure_pin_dir(const std::string& dir, std::string& error) {
  if (dir.empty() || dir.front() != '/') {
    error = "the pin path must be an absolute path: '" + dir + "'";
    return false;
  }
  std::string root = bpffs_root;
  bool under_root = dir.compare(0, root.size() + 1, root + "/") == 0;
  if (under_root && !is_bpffs(bpffs_root)) {
    if (::mount("bpf", bpffs_root, "bpf", 0, nullptr) != 0) {
      error = std::string{"no bpffs at "} + bpffs_root
              + " and mounting one failed: " + errno_text(errno);
      return false;
    }
    nw::log::info("bpffs was not mounted; mounted it for the pinned maps",
                  {{"path", bpffs_root}});
  }
  // Each missing component, root-only from the start.
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    auto part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      error
        = "cannot create the pin directory " + part + ": " + errno_text(errno);
      return false;
    }
  }
  unique_fd fd{
    ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (!fd) {
    error = "cannot open the pin directory " + dir + " (it must be a "
            + "directory, not a symlink): " + errno_text(errno);
    return false;
  }
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0
      || static_cast<unsigned long>(fs.f_type) != BPF_FS_MAGIC) {
    error = "the pin directory " + dir + " is not on a bpffs (mount one: "
            + "mount -t bpf bpf /sys/fs/bpf)";
    return false;
  }
  if (::geteuid() == 0 && ::fchown(fd.get(), 0, 0) != 0) {
    error = "cannot make the pin directory " + dir
            + " root's: " + errno_text(errno);
    return false;
  }
  if (::fchmod(fd.get(), 0700) != 0) {
    error
      = "cannot make the pin directory " + dir + " 0700: " + errno_text(errno);
    return false;
  }
  return true;
}

std::unique_ptr<containers_map> containers_map::create(const std::string& dir,
                                                       std::string& error,
                                                       uint32_t max_entries) {
  if (!ensure_pin_dir(dir, error))
    return nullptr;
  std::unique_ptr<containers_map> m{new containers_map};
  m->pin_path_ = dir;
  if (m->pin_path_.back() != '/')
    m->pin_path_ += '/';
  m->pin_path_ += NW_CONTAINERS_MAP_PIN_NAME;
  m->max_entries_ = max_entries;
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  int fd = ::bpf_map_create(BPF_MAP_TYPE_HASH, "nw_containers",
                            sizeof(nw_containers_map_key),
                            sizeof(nw_container_entry), max_entries, &opts);
  if (fd < 0) {
    error = "cannot create the containers map (BPF_MAP_TYPE_HASH): "
            + errno_text(-fd);
    return nullptr;
  }
  m->fd_.reset(fd);
  m->id_ = map_id(fd);
  struct stat st {};
  if (::lstat(m->pin_path_.c_str(), &st) == 0) {
    // A crashed agent's pin: its readers keep their fds, new ones get ours.
    if (::unlink(m->pin_path_.c_str()) != 0) {
      error = "cannot remove the stale pin " + m->pin_path_ + ": "
              + errno_text(errno);
      return nullptr;
    }
    m->replaced_stale_ = true;
  }
  if (::bpf_obj_pin(fd, m->pin_path_.c_str()) != 0) {
    error = "cannot pin the containers map at " + m->pin_path_ + ": "
            + errno_text(errno);
    m->pin_path_.clear(); // not ours to unlink
    return nullptr;
  }
  return m;
}

containers_map::~containers_map() {
  if (pin_path_.empty())
    return;
  // Unlink the pin only while it still names our map: another agent may
  // have replaced it meanwhile.
  unique_fd pinned{::bpf_obj_get(pin_path_.c_str())};
  if (!pinned) {
    nw::log::info("containers map closed; its pin was gone already",
                  {{"pin", pin_path_}});
    return;
  }
  if (id_ == 0 || map_id(pinned.get()) != id_) {
    nw::log::info("containers map closed; its pin names another map now",
                  {{"pin", pin_path_}});
    return;
  }
  if (::unlink(pin_path_.c_str()) != 0)
    nw::log::warn("cannot remove the containers map's pin",
                  {{"pin", pin_path_}, {"error", errno_text(errno)}});
  else
    nw::log::info("containers map unpinned", {{"pin", pin_path_}});
}

int containers_map::put(uint64_t mntns, const containers_map_entry& entry) {
  nw_container_entry value;
  to_map_value(entry, value);
  nw_containers_map_key key = mntns;
  if (::bpf_map_update_elem(fd_.get(), &key, &value, BPF_ANY) != 0)
    return errno != 0 ? errno : EIO;
  return 0;
}

int containers_map::remove(uint64_t mntns) {
  nw_containers_map_key key = mntns;
  if (::bpf_map_delete_elem(fd_.get(), &key) != 0)
    return errno != 0 ? errno : EIO;
  return 0;
}

int containers_map::lookup(uint64_t mntns, nw_container_entry& out) const {
  nw_containers_map_key key = mntns;
  if (::bpf_map_lookup_elem(fd_.get(), &key, &out) != 0)
    return errno != 0 ? errno : EIO;
  return 0;
}

} // namespace nw::kernel
