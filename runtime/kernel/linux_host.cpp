// host_view over the real kernel: bounded reads under --host-root.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/kernel/host_view.hpp"
#include "runtime/kernel/unique_fd.hpp"

namespace nw {

namespace {

bool read_bounded(const std::string& path, size_t max_bytes, std::string& out,
                  std::string& error) {
  // O_NONBLOCK: a FIFO planted where a file should be must not block us.
  kernel::unique_fd f{
    ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
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

uint64_t ns_inode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return st.st_ino;
}

class linux_host : public host_view {
public:
  explicit linux_host(std::string root) : root_(std::move(root)) {
    while (!root_.empty() && root_.back() == '/')
      root_.pop_back();
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
    std::string stat;
    if (!read_bounded(dir + "/stat", 4096, stat, error))
      return false;
    // comm may hold spaces and parentheses: it ends at the LAST ')'.
    auto open = stat.find('(');
    auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos
        || close < open) {
      error = dir + "/stat: malformed";
      return false;
    }
    proc_status result;
    result.pid = pid;
    result.comm = stat.substr(open + 1, close - open - 1);
    if (close + 2 < stat.size())
      result.state = stat[close + 2];
    // Fields after comm start at field 3 (state); starttime is field 22.
    size_t pos = close + 1;
    for (int field = 3; field <= 22; ++field) {
      pos = stat.find_first_not_of(' ', pos);
      if (pos == std::string::npos) {
        error = dir + "/stat: too few fields";
        return false;
      }
      auto end = stat.find(' ', pos);
      if (field == 22) {
        auto text = stat.substr(pos, end - pos);
        char* last = nullptr;
        errno = 0;
        result.start_time = std::strtoull(text.c_str(), &last, 10);
        if (errno != 0 || last == text.c_str() || *last != '\0') {
          error = dir + "/stat: bad start time";
          return false;
        }
      }
      pos = end;
    }
    result.mntns = ns_inode(dir + "/ns/mnt");
    result.netns = ns_inode(dir + "/ns/net");
    std::string cgroup;
    std::string ignored;
    if (read_bounded(dir + "/cgroup", 64 * 1024, cgroup, ignored)) {
      // Prefer the unified (v2) entry "0::/path".
      auto i = cgroup.find("0::");
      if (i != std::string::npos && (i == 0 || cgroup[i - 1] == '\n')) {
        auto end = cgroup.find('\n', i);
        result.cgroup = cgroup.substr(i + 3, end - i - 3);
      }
    }
    out = std::move(result);
    return true;
  }

private:
  std::string root_;
};

} // namespace

std::shared_ptr<const host_view> make_linux_host(std::string host_root) {
  return std::make_shared<linux_host>(std::move(host_root));
}

} // namespace nw
