#include "runtime/kernel/execruntime_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/execruntime.h"
#include "execruntime.skel.h"
#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/libbpf_capture.hpp"
#include "runtime/kernel/log.hpp"

namespace nw::kernel {

namespace {

constexpr const char* tracefs_path = "/sys/kernel/tracing";

std::string slot(const char* p, size_t size) {
  return std::string{p, ::strnlen(p, size)};
}

} // namespace

bool ensure_tracefs(std::string& error) {
  static std::mutex mtx;
  static bool tried = false;
  static bool ok = false;
  static std::string failure;
  std::lock_guard<std::mutex> guard{mtx};
  if (::access("/sys/kernel/tracing/events", F_OK) == 0
      || ::access("/sys/kernel/debug/tracing/events", F_OK) == 0)
    return true;
  if (!tried) {
    tried = true;
    if (::mount("tracefs", tracefs_path, "tracefs", 0, nullptr) == 0) {
      ok = true;
      nw::log::info("tracefs was not mounted; mounted it for libbpf's "
                    "tracepoints",
                    {{"path", tracefs_path}});
    } else {
      failure = std::string{"tracefs is not mounted and mounting it at "}
                + tracefs_path + " failed: " + errno_text(errno);
    }
  }
  if (!ok)
    error = failure.empty() ? std::string{"tracefs is not mounted"} : failure;
  return ok;
}

bool read_remote_argv(uint32_t tid, uint64_t argv_ptr,
                      std::vector<std::string>& out) {
  if (argv_ptr == 0)
    return false;
  auto pid = static_cast<pid_t>(tid);
  uint64_t ptrs[NW_EXECRUNTIME_ARGV_MAX] = {};
  iovec local{ptrs, sizeof(ptrs)};
  iovec remote{reinterpret_cast<void*>(argv_ptr), sizeof(ptrs)};
  auto got = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (got < static_cast<ssize_t>(sizeof(uint64_t)))
    return false;
  auto n = static_cast<size_t>(got) / sizeof(uint64_t);
  out.clear();
  for (size_t i = 0; i < n && ptrs[i] != 0; ++i) {
    char buf[NW_EXECRUNTIME_ARG_SIZE];
    iovec l{buf, sizeof(buf)};
    iovec r{reinterpret_cast<void*>(ptrs[i]), sizeof(buf)};
    // A string near the end of a mapping reads short; its NUL is in what
    // was read, or the entry is cut at the slot size like the program's.
    auto len = ::process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (len <= 0)
      return false;
    out.push_back(slot(buf, static_cast<size_t>(len)));
  }
  return true;
}

std::unique_ptr<execruntime_reader>
execruntime_reader::load(std::string& error) {
  if (!ensure_tracefs(error))
    return nullptr;
  std::string messages;
  execruntime_bpf* skel = nullptr;
  {
    libbpf_capture capture{messages};
    skel = execruntime_bpf::open();
    if (skel == nullptr) {
      error = "opening the execruntime skeleton: " + errno_text(errno);
    } else if (auto err = execruntime_bpf::load(skel); err != 0) {
      error = "loading execruntime: " + errno_text(-err);
    } else if (auto err = execruntime_bpf::attach(skel); err != 0) {
      error = "attaching execruntime: " + errno_text(-err);
    } else {
      return std::unique_ptr<execruntime_reader>{new execruntime_reader(skel)};
    }
  }
  if (skel != nullptr)
    execruntime_bpf::destroy(skel);
  if (!messages.empty())
    error += "; libbpf: " + one_line(std::move(messages));
  return nullptr;
}

execruntime_reader::~execruntime_reader() {
  execruntime_bpf::destroy(skel_);
}

bool execruntime_reader::lookup(uint32_t tid, exec_record& out,
                                std::string& error) const {
  error.clear();
  nw_execruntime_entry entry;
  auto err = bpf_map__lookup_elem(skel_->maps.execs_by_tid, &tid, sizeof(tid),
                                  &entry, sizeof(entry), 0);
  if (err == -ENOENT)
    return false;
  if (err != 0) {
    error = "execs_by_tid lookup: " + errno_text(-err);
    return false;
  }
  out.argv.clear();
  auto argc = std::min<uint32_t>(entry.argc, NW_EXECRUNTIME_ARGV_MAX);
  for (uint32_t i = 0; i < argc; ++i)
    out.argv.push_back(slot(entry.argv[i], NW_EXECRUNTIME_ARG_SIZE));
  out.refetched = false;
  if (entry.faulted != 0) {
    // The program met a page not faulted in yet (conmon's own string
    // literals in its forked child, say). The caller is held in its exec
    // with its memory intact: read the argv from there, which faults in.
    std::vector<std::string> full;
    if (read_remote_argv(tid, entry.argv_ptr, full)
        && full.size() >= out.argv.size()) {
      out.argv = std::move(full);
      out.refetched = true;
    }
  }
  out.comm = slot(entry.comm, NW_EXECRUNTIME_COMM_SIZE);
  out.mntns = entry.mntns;
  out.euid = entry.euid;
  return true;
}

} // namespace nw::kernel
