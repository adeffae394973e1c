// What the container-manager fixtures (containerd_fixture.hpp,
// podman_fixture.hpp, crun_fixture.hpp) share, on top of runc_fixture.hpp's
// processes and busybox rootfs:
//
//   manager_dir d{"/tmp/nw-ctrd-"};      // mkdtemp; unmounts, rm -rf at the
//   end busybox_image img{d.path() / "image", busybox_static_path()};
//   img.rootfs_tar();                    // for `podman import`
//   img.oci_archive("localhost/nwbox:latest");   // for `ctr images import`
//   poll_until(deadline, 10ms, [&] { return ...; });
//
// Header-only; needs nlohmann_json::nlohmann_json and Threads.
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/support/runc_fixture.hpp"

namespace nw::test {

/// Calls `ready` every `step` until it returns true or `deadline` passes;
/// whether it did. A poll with a deadline, for states nobody signals (a
/// daemon's socket accepting, a task's status).
inline bool poll_until(runc_clock::time_point deadline,
                       std::chrono::milliseconds step,
                       const std::function<bool()>& ready) {
  for (;;) {
    if (ready())
      return true;
    if (runc_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(step);
  }
}

/// Mount points at or under `dir` (from /proc/self/mountinfo), deepest
/// first.
inline std::vector<std::string> mounts_under(const runc_fs::path& dir) {
  std::vector<std::string> result;
  auto prefix = dir.string();
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; octal escapes are left as is
    // (our temp paths have no spaces).
    std::istringstream fields{line};
    std::string id, parent, dev, root, point;
    if (!(fields >> id >> parent >> dev >> root >> point))
      continue;
    if (point == prefix || point.rfind(prefix + "/", 0) == 0)
      result.push_back(point);
  }
  std::sort(result.begin(), result.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() > b.size();
            });
  return result;
}

/// Detaches every mount at or under `dir` (a rootfs a manager left mounted
/// when a test failed half-way), so that removing `dir` cannot reach into
/// another file system.
inline void unmount_under(const runc_fs::path& dir) {
  for (auto& point : mounts_under(dir))
    ::umount2(point.c_str(), MNT_DETACH);
}

/// Pids of processes whose command line contains `needle` (our unique temp
/// dir: the shims, conmons and inits a manager left behind), this process
/// excepted.
inline std::vector<pid_t> pids_mentioning(const std::string& needle) {
  std::vector<pid_t> result;
  std::error_code ec;
  for (auto it = runc_fs::directory_iterator{"/proc", ec};
       !ec && it != runc_fs::directory_iterator{}; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return c >= '0' && c <= '9';
        }))
      continue;
    auto pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid())
      continue;
    if (runc_detail::slurp(it->path() / "cmdline").find(needle)
        != std::string::npos)
      result.push_back(pid);
  }
  return result;
}

/// SIGKILLs what pids_mentioning(needle) finds, and reaps those that are
/// our children.
inline void kill_processes_mentioning(const std::string& needle) {
  for (auto pid : pids_mentioning(needle)) {
    ::kill(pid, SIGKILL);
    runc_detail::reap(pid, true);
  }
}

/// A private temp dir for one manager: `PREFIX` + 6 random characters.
/// The destructor detaches the mounts left under it, then removes it.
class manager_dir {
public:
  explicit manager_dir(const std::string& prefix) {
    auto tmpl = prefix + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      runc_detail::fail("mkdtemp: " + runc_detail::errno_text(errno));
    path_ = tmpl;
  }

  manager_dir(const manager_dir&) = delete;
  manager_dir& operator=(const manager_dir&) = delete;

  ~manager_dir() {
    unmount_under(path_);
    std::error_code ec;
    runc_fs::remove_all(path_, ec);
  }

  const runc_fs::path& path() const {
    return path_;
  }

private:
  runc_fs::path path_;
};

/// The sha256 of a file, as lowercase hex (from sha256sum).
inline std::string sha256_file(const runc_fs::path& file,
                               const runc_fs::path& log) {
  auto tool = find_program("sha256sum");
  if (tool.empty())
    runc_detail::fail("sha256sum not found (coreutils)");
  auto r = run_output({tool, file.string()}, log, std::chrono::seconds{20});
  if (!r.ok() || r.output.size() < 64)
    runc_detail::fail("sha256sum " + file.string() + ": " + r.output);
  return r.output.substr(0, 64);
}

/// The OCI name of this machine's architecture (an image's config must
/// match it, or `ctr images import` skips the image).
inline std::string oci_architecture() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64")
    return "amd64";
  if (m == "aarch64")
    return "arm64";
  if (m == "i686" || m == "i386")
    return "386";
  return m;
}

/// A busybox-static image made from the runc fixture's rootfs, in the two
/// forms managers import: a plain rootfs tar (`podman import`) and an OCI
/// image layout archive (`ctr images import`), built by hand: one
/// uncompressed layer, a config, a manifest and an index naming the image.
class busybox_image {
public:
  /// Makes `dir`/rootfs from `busybox`.
  busybox_image(runc_fs::path dir, const std::string& busybox,
                const std::vector<std::string>& applets = default_applets())
      : dir_(std::move(dir)) {
    runc_fs::create_directories(dir_);
    make_busybox_rootfs(dir_ / "rootfs", busybox, applets);
  }

  runc_fs::path rootfs() const {
    return dir_ / "rootfs";
  }

  /// `tar -C rootfs -cf DIR/rootfs.tar .` (once); its path.
  runc_fs::path rootfs_tar() {
    auto out = dir_ / "rootfs.tar";
    if (runc_fs::exists(out))
      return out;
    auto tar = find_program("tar");
    if (tar.empty())
      runc_detail::fail("tar not found");
    auto r = run_output({tar, "--numeric-owner", "-C", rootfs().string(), "-cf",
                         out.string(), "."},
                        dir_ / "tar.log", std::chrono::seconds{30});
    if (!r.ok())
      runc_detail::fail("tar of the rootfs: "
                        + runc_detail::describe_status(r.status) + ": "
                        + r.output);
    return out;
  }

  /// An OCI image layout archive of the rootfs, its index naming the image
  /// `ref` (`org.opencontainers.image.ref.name`, which `ctr images import`
  /// takes as the image name); its path.
  runc_fs::path oci_archive(const std::string& ref) {
    using nlohmann::json;
    auto layout = dir_ / "oci";
    auto blobs = layout / "blobs" / "sha256";
    runc_fs::create_directories(blobs);
    auto log = dir_ / "sha256.log";
    // The layer: the rootfs tar itself, uncompressed (diff id = digest).
    auto layer = rootfs_tar();
    auto layer_digest = sha256_file(layer, log);
    auto layer_size = runc_fs::file_size(layer);
    runc_fs::copy_file(layer, blobs / layer_digest,
                       runc_fs::copy_options::overwrite_existing);
    auto add_blob = [&](const std::string& text) {
      auto tmp = dir_ / "blob.tmp";
      {
        std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
        out << text;
      }
      auto digest = sha256_file(tmp, log);
      runc_fs::rename(tmp, blobs / digest);
      return std::make_pair("sha256:" + digest, text.size());
    };
    json config = {
      {"architecture", oci_architecture()},
      {"os", "linux"},
      {"config", json::object()},
      {"rootfs",
       {{"type", "layers"}, {"diff_ids", {"sha256:" + layer_digest}}}},
    };
    auto [config_digest, config_size] = add_blob(config.dump());
    json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"digest", config_digest},
        {"size", config_size}}},
      {"layers",
       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
         {"digest", "sha256:" + layer_digest},
         {"size", layer_size}}}},
    };
    auto [manifest_digest, manifest_size] = add_blob(manifest.dump());
    json index = {
      {"schemaVersion", 2},
      {"manifests",
       {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
         {"digest", manifest_digest},
         {"size", manifest_size},
         {"annotations", {{"org.opencontainers.image.ref.name", ref}}}}}},
    };
    {
      std::ofstream out{layout / "index.json", std::ios::trunc};
      out << index.dump();
      std::ofstream layout_file{layout / "oci-layout", std::ios::trunc};
      layout_file << R"({"imageLayoutVersion":"1.0.0"})";
    }
    auto out = dir_ / "image.oci.tar";
    auto r = run_output({find_program("tar"), "--numeric-owner", "-C",
                         layout.string(), "-cf", out.string(), "oci-layout",
                         "index.json", "blobs"},
                        dir_ / "tar.log", std::chrono::seconds{30});
    if (!r.ok())
      runc_detail::fail("tar of the OCI layout: " + r.output);
    return out;
  }

private:
  runc_fs::path dir_;
};

} // namespace nw::test
