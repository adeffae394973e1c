// host_view over the real kernel: bounded reads under --host-root.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/types.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/proc_stat.hpp"
#include "runtime/kernel/unique_fd.hpp"

// The 64-bit id of a mount namespace, from an fd of /proc/PID/ns/mnt (Linux
// 6.8+). Debian 12's <linux/nsfs.h> predates it; the kernel's value.
#ifndef NS_GET_MNTNS_ID
#  define NS_GET_MNTNS_ID _IOR(NSIO, 0x5, __u64)
#endif

namespace nw {

namespace {

/// Reads `name` (relative to `dir`, or absolute with AT_FDCWD) whole, at
/// most `max_bytes`; `path` names it in errors.
bool read_bounded_at(int dir, const char* name, const std::string& path,
                     size_t max_bytes, std::string& out, std::string& error) {
  // O_NONBLOCK: a FIFO planted where a file should be must not block us.
  kernel::unique_fd f{
    ::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.get() < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    error = path + " is larger than " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  // Sized by fstat (never max_bytes up front: zero-filling 16 MiB per
  // config.json cost more than the whole detection), growing for files
  // that grow meanwhile or report no size (/proc), up to max_bytes + 1.
  std::string buf;
  buf.resize(
    std::min<size_t>(max_bytes + 1, std::max<size_t>(st.st_size + 1, 4096)));
  size_t got = 0;
  for (;;) {
    if (got == buf.size()) {
      if (buf.size() > max_bytes)
        break;
      buf.resize(std::min<size_t>(max_bytes + 1, buf.size() * 2));
    }
    auto n = ::read(f.get(), buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = path + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) {
    error = path + " is larger than " + std::to_string(max_bytes) + " bytes";
    return false;
  }
  buf.resize(got);
  buf.shrink_to_fit();
  out = std::move(buf);
  return true;
}

bool read_bounded(const std::string& path, size_t max_bytes, std::string& out,
                  std::string& error) {
  return read_bounded_at(AT_FDCWD, path.c_str(), path, max_bytes, out, error);
}

uint64_t ns_inode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return st.st_ino;
}

/// mountinfo escapes blanks, newlines and backslashes in paths as \NNN
/// (octal).
std::string unescape_mount_path(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '\\' && i + 3 < x.size() && x[i + 1] >= '0' && x[i + 1] <= '3'
        && x[i + 2] >= '0' && x[i + 2] <= '7' && x[i + 3] >= '0'
        && x[i + 3] <= '7') {
      out += static_cast<char>((x[i + 1] - '0') * 64 + (x[i + 2] - '0') * 8
                               + (x[i + 3] - '0'));
      i += 3;
    } else {
      out += x[i];
    }
  }
  return out;
}

/// Whether `path` is absolute and has no "." or ".." component: a cgroup
/// path outside the reader's cgroup namespace shows as "/../..", and must
/// not lead out of the cgroup2 mount.
bool plain_absolute(std::string_view path) {
  if (path.empty() || path.front() != '/')
    return false;
  size_t pos = 0;
  while (pos < path.size()) {
    auto end = path.find('/', pos + 1);
    if (end == std::string_view::npos)
      end = path.size();
    auto part = path.substr(pos + 1, end - pos - 1);
    if (part == "." || part == "..")
      return false;
    pos = end;
  }
  return true;
}

/// Most cgroup2 mounts kept (a host has one; a few more would be odd).
constexpr size_t max_cgroup2_mounts = 16;

/// Largest mountinfo read (busy nodes have thousands of mounts, ~150 bytes
/// each).
constexpr size_t max_mountinfo_bytes = size_t{8} << 20;

class linux_host : public host_view {
public:
  explicit linux_host(std::string root) : root_(std::move(root)) {
    while (!root_.empty() && root_.back() == '/')
      root_.pop_back();
    // The host's network namespace is pid 1's. Where that is unreadable
    // (pid 1 is not ours to inspect: on the development hosts it is a
    // process manager, not systemd, and /proc/1/ns denies us), the agent's
    // own: it must then run in the host's network namespace (a DaemonSet
    // with hostNetwork), or host_network is misjudged.
    host_netns_ = ns_inode(root_ + "/proc/1/ns/net");
    if (host_netns_ == 0)
      host_netns_ = ns_inode(root_ + "/proc/self/ns/net");
    find_cgroup2_mounts();
  }

  bool read_file(const std::string& path, size_t max_bytes, std::string& out,
                 std::string& error) const override {
    return read_bounded(root_ + path, max_bytes, out, error);
  }

  bool exists(const std::string& path) const override {
    struct stat st {};
    return ::lstat((root_ + path).c_str(), &st) == 0;
  }

  bool list_dir(const std::string& path, size_t max_entries,
                std::vector<std::string>& out, bool& truncated,
                std::string& error) const override {
    auto full = root_ + path;
    // O_NONBLOCK as for files; O_DIRECTORY refuses anything else.
    kernel::unique_fd f{
      ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK)};
    if (f.get() < 0) {
      error = full + ": " + std::strerror(errno);
      return false;
    }
    auto* d = ::fdopendir(f.get());
    if (d == nullptr) {
      error = full + ": " + std::strerror(errno);
      return false;
    }
    (void)f.release(); // closedir closes it
    std::vector<std::string> names;
    truncated = false;
    errno = 0;
    while (auto* e = ::readdir(d)) {
      std::string_view name{e->d_name};
      if (name == "." || name == "..")
        continue;
      if (names.size() == max_entries) {
        truncated = true; // never read (or hold) more than the bound
        break;
      }
      names.emplace_back(name);
      errno = 0;
    }
    auto err = errno;
    ::closedir(d);
    if (err != 0 && !truncated) {
      error = full + ": " + std::strerror(err);
      return false;
    }
    std::sort(names.begin(), names.end());
    out = std::move(names);
    return true;
  }

  bool proc(uint32_t pid, proc_status& out, std::string& error) const override {
    auto dir = root_ + "/proc/" + std::to_string(pid);
    // One handle on the process's directory, and every read relative to
    // it: once the process is reaped they fail, even if its pid has been
    // given to another process meanwhile.
    kernel::unique_fd pd{::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
    if (pd.get() < 0) {
      error = dir + ": " + std::strerror(errno);
      return false;
    }
    std::string text;
    if (!read_bounded_at(pd.get(), "stat", dir + "/stat", 4096, text, error))
      return false;
    proc_stat stat;
    if (!parse_proc_stat(text, stat, error)) {
      error = dir + "/stat: " + error;
      return false;
    }
    proc_status result;
    result.pid = pid;
    result.comm = std::move(stat.comm);
    result.state = stat.state;
    result.start_time = stat.start_time;
    // The mount namespace through an fd: its inode and its 64-bit id come
    // from the same namespace. Opening it needs what stat() of the link
    // needs (ptrace read access); the ioctl fails on kernels before 6.8
    // (ENOTTY), which leaves the id 0.
    kernel::unique_fd mnt{
      ::openat(pd.get(), "ns/mnt", O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (mnt.get() >= 0) {
      struct stat st {};
      if (::fstat(mnt.get(), &st) == 0)
        result.mntns = st.st_ino;
      __u64 id = 0;
      if (::ioctl(mnt.get(), NS_GET_MNTNS_ID, &id) == 0)
        result.mntns_id64 = id;
    }
    struct stat st {};
    if (::fstatat(pd.get(), "ns/net", &st, 0) == 0)
      result.netns = st.st_ino;
    result.host_netns = host_netns_;
    std::string ignored;
    if (read_bounded_at(pd.get(), "cgroup", dir + "/cgroup", 64 * 1024, text,
                        ignored)) {
      // The unified (v2) entry "0::/path"; a v1-only host has none.
      auto i = text.find("0::");
      if (i != std::string::npos && (i == 0 || text[i - 1] == '\n')) {
        auto end = text.find('\n', i);
        result.cgroup = text.substr(i + 3, end - i - 3);
        result.cgroup_id = cgroup_id(result.cgroup);
      }
    }
    // A zombie has no namespaces but is still there. A process reaped while
    // we read is gone, and what we read of it (0 for what came after) is
    // not kept.
    if (::faccessat(pd.get(), "stat", F_OK, 0) != 0) {
      error = dir + ": the process exited while being read";
      return false;
    }
    out = std::move(result);
    return true;
  }

private:
  /// Where a cgroup2 hierarchy is mounted, and which of its cgroups that
  /// mount shows at its top (its mountinfo root: "/" on a host).
  struct cgroup2_mount {
    std::string dir;
    std::string root;
  };

  /// Finds the cgroup2 mounts in pid 1's mount table (mount points under
  /// the host root), else in the agent's own (the agent's paths as they
  /// are). /sys/fs/cgroup itself may be cgroup2, or hybrid (a tmpfs of v1
  /// hierarchies with v2 at /sys/fs/cgroup/unified), or v1 only (no id).
  void find_cgroup2_mounts() {
    for (auto [file, prefix] :
         {std::pair{"/proc/1/mountinfo", root_},
          std::pair{"/proc/self/mountinfo", std::string{}}}) {
      std::string text;
      std::string ignored;
      if (!read_bounded(root_ + file, max_mountinfo_bytes, text, ignored))
        continue;
      // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE ..."
      std::string_view rest{text};
      while (!rest.empty() && cgroup2_.size() < max_cgroup2_mounts) {
        auto eol = rest.find('\n');
        auto line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{}
                                             : rest.substr(eol + 1);
        auto sep = line.find(" - ");
        if (sep == std::string_view::npos
            || line.substr(sep + 3, line.find(' ', sep + 3) - sep - 3)
                 != "cgroup2")
          continue;
        std::string_view fields[5];
        size_t pos = 0;
        bool ok = true;
        for (auto& f : fields) {
          auto end = line.find(' ', pos);
          if (end == std::string_view::npos || end > sep) {
            ok = false;
            break;
          }
          f = line.substr(pos, end - pos);
          pos = end + 1;
        }
        if (!ok)
          continue;
        cgroup2_mount m{prefix + unescape_mount_path(fields[4]),
                        unescape_mount_path(fields[3])};
        if (plain_absolute(m.root) || m.root == "/")
          cgroup2_.push_back(std::move(m));
      }
      if (!cgroup2_.empty())
        return;
    }
  }

  /// The id of the cgroup v2 `path` (as /proc/PID/cgroup shows it): the
  /// inode of its directory under a cgroup2 mount that shows it.
  uint64_t cgroup_id(const std::string& path) const {
    if (path != "/" && !plain_absolute(path))
      return 0;
    for (auto& m : cgroup2_) {
      std::string rel;
      if (m.root == "/")
        rel = path;
      else if (path == m.root)
        rel = "";
      else if (path.compare(0, m.root.size(), m.root) == 0
               && path[m.root.size()] == '/')
        rel = path.substr(m.root.size());
      else
        continue;
      struct stat st {};
      if (::stat((m.dir + rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        return st.st_ino;
    }
    return 0;
  }

  std::string root_;
  uint64_t host_netns_ = 0;
  std::vector<cgroup2_mount> cgroup2_;
};

} // namespace

std::shared_ptr<const host_view> make_linux_host(std::string host_root) {
  return std::make_shared<linux_host>(std::move(host_root));
}

} // namespace nw
