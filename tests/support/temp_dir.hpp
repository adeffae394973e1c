// A fresh directory under the temp dir, removed with its contents.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace nw::test {

/// Creates `<tmp>/<prefix>-XXXXXX`; removes it and its contents when done.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "nw-test") {
    auto templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX"))
                   .string();
    if (::mkdtemp(templ.data()) == nullptr)
      throw std::runtime_error("mkdtemp: " + std::string{std::strerror(errno)});
    path_ = templ;
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const {
    return path_;
  }

private:
  std::filesystem::path path_;
};

} // namespace nw::test
