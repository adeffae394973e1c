// The programs the TC dispatcher (tc_hook.hpp) tail-calls from its slot 0:
// the per-container network counters (bpf/tc_counters.bpf.c), or a user's
// SchedCLS program (`agent --tc-program FILE.o:SECTION`). Plain C++: the
// skeleton and libbpf stay inside tc_programs.cpp. Not thread-safe: one
// owner (the TC attacher).
//
//   std::string error;
//   auto counters = nw::kernel::net_counters::load(error);
//   hook->set_program(counters->prog_fd(), error);
//   counters->track(netns, error);            // counted from now on
//   nw_net_counters c;
//   counters->read(netns, c, error);          // summed over CPUs
//   counters->untrack(netns, error);
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bpf/tc_dispatch.h"

struct tc_counters_bpf;
struct bpf_object;

namespace nw::kernel {

/// The loaded counters program and its per-CPU map (netns → counters).
class net_counters {
public:
  /// Opens and loads the program; null and the reason in `error`.
  static std::unique_ptr<net_counters> load(std::string& error);
  ~net_counters();
  net_counters(const net_counters&) = delete;
  net_counters& operator=(const net_counters&) = delete;

  int prog_fd() const;

  /// Starts counting `netns` from zero; one tracked already keeps its
  /// counts. False with the reason (full: E2BIG).
  bool track(uint64_t netns, std::string& error);

  /// Stops counting `netns` and drops its counts (unknown: fine).
  bool untrack(uint64_t netns, std::string& error);

  /// The counts of `netns`, summed over CPUs; false (ENOENT) if untracked.
  bool read(uint64_t netns, nw_net_counters& out, std::string& error) const;

private:
  net_counters(tc_counters_bpf* skel, int cpus) : skel_(skel), cpus_(cpus) {}
  tc_counters_bpf* skel_;
  int cpus_;
};

/// A user's program for the dispatcher's slot: section SECTION of the BPF
/// object FILE, loaded as it is (only that program; its maps come along).
class user_tc_program {
public:
  /// Opens FILE, finds the program whose section is `section` (or, failing
  /// that, whose function is named so), checks that it is SchedCLS and
  /// loads it. Null and a clear reason in `error` (libbpf's and the
  /// verifier's messages included) when any of that fails.
  static std::unique_ptr<user_tc_program>
  load(const std::string& file, const std::string& section, std::string& error);
  ~user_tc_program();
  user_tc_program(const user_tc_program&) = delete;
  user_tc_program& operator=(const user_tc_program&) = delete;

  int prog_fd() const {
    return fd_;
  }

  /// The program's function name.
  const std::string& name() const {
    return name_;
  }

private:
  user_tc_program(bpf_object* obj, int fd, std::string name)
      : obj_(obj), fd_(fd), name_(std::move(name)) {}
  bpf_object* obj_;
  int fd_;
  std::string name_;
};

} // namespace nw::kernel
