#include "runtime/kernel/fanotify_group.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "runtime/kernel/log.hpp"

namespace nw::kernel {

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err)
         + ")";
}

fanotify_group::fanotify_group(std::string name) : name_(std::move(name)) {}

fanotify_group::~fanotify_group() {
  close();
}

bool fanotify_group::open(unsigned init_flags, unsigned event_f_flags,
                          std::string& error) {
  close();
  fd_ = ::fanotify_init(init_flags, event_f_flags);
  if (fd_ < 0) {
    error = "fanotify_init (" + name_ + " group): " + errno_text(errno);
    return false;
  }
  return true;
}

void fanotify_group::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

bool fanotify_group::mark(unsigned flags, uint64_t mask,
                          const std::string& path, std::string& error) {
  if (fd_ < 0) {
    error = "the " + name_ + " group is closed";
    return false;
  }
  if (::fanotify_mark(fd_, flags, mask, AT_FDCWD, path.c_str()) != 0) {
    error = "fanotify_mark " + path + ": " + errno_text(errno);
    return false;
  }
  return true;
}

fanotify_group::read_result
fanotify_group::read_one(fanotify_event_metadata& meta, int& err) {
  err = 0;
  if (fd_ < 0) {
    err = EBADF;
    return read_result::fatal;
  }
  for (;;) {
    auto n = ::read(fd_, &meta, sizeof(meta));
    if (n == static_cast<ssize_t>(sizeof(meta))) {
      // Another layout would put the fd elsewhere: nothing in it can be
      // trusted, not even which fd to close.
      if (meta.vers != FANOTIFY_METADATA_VERSION
          || meta.event_len < FAN_EVENT_METADATA_LEN) {
        err = EPROTO;
        return read_result::fatal;
      }
      return read_result::event;
    }
    if (n >= 0) {
      // A short read: the group speaks a format we do not.
      err = EPROTO;
      return read_result::fatal;
    }
    err = errno;
    switch (err) {
      case EINTR:
        continue;
      case EAGAIN:
        return read_result::empty;
      case EBADF:
      case EFAULT:
      case EINVAL:
        return read_result::fatal;
      default:
        // EMFILE, ENFILE, ENOMEM, EPERM, ...: the kernel dequeued the event
        // and, for a permission event, denied it (fanotify_read). The next
        // read may well work.
        return read_result::lost;
    }
  }
}

bool fanotify_group::respond(int event_fd, uint32_t response, int& err) {
  err = 0;
  if (fd_ < 0) {
    err = EBADF;
    return false;
  }
  fanotify_response r{};
  r.fd = event_fd;
  r.response = response;
  for (;;) {
    auto n = ::write(fd_, &r, sizeof(r));
    if (n == static_cast<ssize_t>(sizeof(r)))
      return true;
    if (n < 0 && errno == EINTR)
      continue;
    err = n < 0 ? errno : EIO;
    return false;
  }
}

held_event::held_event(held_event&& other) noexcept
    : group_(std::exchange(other.group_, nullptr)),
      fd_(std::exchange(other.fd_, -1)) {}

held_event& held_event::operator=(held_event&& other) noexcept {
  if (this != &other) {
    allow();
    group_ = std::exchange(other.group_, nullptr);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool held_event::allow() noexcept {
  if (fd_ < 0)
    return true;
  bool ok = true;
  // A closed group: the kernel allowed the event when the group went away.
  if (group_ != nullptr && group_->is_open()) {
    int err = 0;
    ok = group_->respond(fd_, FAN_ALLOW, err);
    if (!ok) {
      try {
        // ENOENT: the process was killed while held; nothing waits.
        nw::log::write(err == ENOENT ? nw::log::level::debug
                                     : nw::log::level::error,
                       "cannot answer a permission event",
                       {{"group", group_->name()}, {"error", errno_text(err)}});
      } catch (...) {
        // Out of memory while building the log line: still close the fd.
      }
    }
  }
  ::close(fd_);
  fd_ = -1;
  group_ = nullptr;
  return ok;
}

} // namespace nw::kernel
