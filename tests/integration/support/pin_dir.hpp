// A pin directory of a test's own on bpffs, and the containers map as
// bpftool dumps it.
//
//   nw::test::pin_dir pins{"map"};   // /sys/fs/bpf/nodewatch-test-PID-map;
//                                    // exit 77 unless root and bpffs works
//   auto entries = nw::test::bpftool_dump(pins.map_pin());
//
// Header-only; needs nlohmann_json::nlohmann_json and nw_kernel.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/kernel/containers_map.hpp"
#include "tests/support/skip.hpp"

// The build passes cmake's NW_BPFTOOL (bpftool lives in /usr/sbin).
#ifndef NW_TEST_BPFTOOL
#  define NW_TEST_BPFTOOL "bpftool"
#endif

namespace nw::test {

/// One entry of the containers map, its strings up to their NUL.
struct map_entry {
  std::string container_id;
  std::string k8s_namespace;
  std::string k8s_pod;
  std::string container_name;
};

class pin_dir {
public:
  /// Skips the test (exit 77, with the reason) unless it runs as root and
  /// the directory can be made on bpffs (mounted at /sys/fs/bpf if absent).
  explicit pin_dir(const std::string& suffix) {
    if (::geteuid() != 0)
      skip("needs root (bpffs pins, BPF maps)");
    path_ = "/sys/fs/bpf/nodewatch-test-" + std::to_string(::getpid()) + "-"
            + suffix;
    std::string error;
    if (!kernel::ensure_pin_dir(path_, error)) {
      auto reason = "no usable bpffs: " + error;
      skip(reason.c_str());
    }
  }

  pin_dir(const pin_dir&) = delete;
  pin_dir& operator=(const pin_dir&) = delete;

  ~pin_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const {
    return path_;
  }

  std::string map_pin() const {
    return path_ + "/containers";
  }

private:
  std::string path_;
};

namespace pin_detail {

inline std::string run(const std::string& cmd) {
  std::string out;
  auto* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    throw std::runtime_error{"popen: " + cmd};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  if (::pclose(p) != 0)
    throw std::runtime_error{"failed: " + cmd + ": " + out};
  return out;
}

/// bpftool's bytes ("0x2a" strings) of one field.
inline std::string field(const nlohmann::json& bytes, size_t at, size_t size) {
  std::string s;
  for (size_t i = at; i < at + size && i < bytes.size(); ++i) {
    auto c
      = static_cast<char>(std::stoul(bytes[i].get<std::string>(), nullptr, 16));
    if (c == '\0')
      break;
    s += c;
  }
  return s;
}

} // namespace pin_detail

/// `bpftool map dump pinned PIN -j`, decoded: mntns → entry.
inline std::map<uint64_t, map_entry> bpftool_dump(const std::string& pin) {
  auto text = pin_detail::run(std::string{NW_TEST_BPFTOOL}
                              + " map dump pinned '" + pin + "' -j");
  auto doc = nlohmann::json::parse(text);
  std::map<uint64_t, map_entry> out;
  constexpr size_t f = NW_CONTAINERS_MAP_FIELD_SIZE;
  for (auto& e : doc) {
    auto& key = e.at("key");
    auto& value = e.at("value");
    if (key.size() != 8 || value.size() != 4 * f)
      throw std::runtime_error{"bpftool: unexpected sizes: " + e.dump()};
    uint64_t k = 0;
    for (size_t i = 0; i < 8; ++i) // little-endian hosts (x86, arm64)
      k |= std::stoull(key[i].get<std::string>(), nullptr, 16) << (8 * i);
    out[k] = map_entry{
      pin_detail::field(value, 0, f), pin_detail::field(value, f, f),
      pin_detail::field(value, 2 * f, f), pin_detail::field(value, 3 * f, f)};
  }
  return out;
}

} // namespace nw::test
