// Owns one file descriptor and closes it when it goes out of scope.
#pragma once

#include <utility>

#include <unistd.h>

namespace nw::kernel {

/// A move-only owner of a file descriptor (-1: none).
class unique_fd {
public:
  unique_fd() = default;

  explicit unique_fd(int fd) : fd_(fd) {}

  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }

  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  ~unique_fd() {
    reset();
  }

  int get() const {
    return fd_;
  }

  explicit operator bool() const {
    return fd_ >= 0;
  }

  /// Closes the owned fd (if any) and owns `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

  /// Gives the fd up without closing it.
  int release() {
    return std::exchange(fd_, -1);
  }

private:
  int fd_ = -1;
};

} // namespace nw::kernel
