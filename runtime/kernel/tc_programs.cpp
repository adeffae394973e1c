#include "runtime/kernel/tc_programs.hpp"

#include <cerrno>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "runtime/kernel/fanotify_group.hpp"
#include "runtime/kernel/libbpf_capture.hpp"
#include "tc_counters.skel.h"

namespace nw::kernel {

// -- net_counters
// --------------------------------------------------------------

std::unique_ptr<net_counters> net_counters::load(std::string& error) {
  auto cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) {
    error = "counting the possible CPUs: " + errno_text(-cpus);
    return nullptr;
  }
  std::string messages;
  tc_counters_bpf* skel = nullptr;
  int err = 0;
  {
    libbpf_capture capture{messages};
    skel = tc_counters_bpf::open();
    err = skel == nullptr ? -errno : tc_counters_bpf::load(skel);
  }
  if (skel == nullptr || err != 0) {
    error = "loading the TC counters program: " + errno_text(-err);
    if (!messages.empty())
      error += "; libbpf: " + one_line(std::move(messages));
    tc_counters_bpf::destroy(skel);
    return nullptr;
  }
  return std::unique_ptr<net_counters>{new net_counters(skel, cpus)};
}

net_counters::~net_counters() {
  tc_counters_bpf::destroy(skel_);
}

int net_counters::prog_fd() const {
  return bpf_program__fd(skel_->progs.nw_net_counters);
}

bool net_counters::track(uint64_t netns, std::string& error) {
  std::vector<nw_net_counters> zero(static_cast<size_t>(cpus_));
  if (::bpf_map_update_elem(bpf_map__fd(skel_->maps.net_counters), &netns,
                            zero.data(), BPF_NOEXIST)
        != 0
      && errno != EEXIST) {
    error = "tracking netns " + std::to_string(netns)
            + " in the counters map: " + errno_text(errno);
    return false;
  }
  return true;
}

bool net_counters::untrack(uint64_t netns, std::string& error) {
  if (::bpf_map_delete_elem(bpf_map__fd(skel_->maps.net_counters), &netns) != 0
      && errno != ENOENT) {
    error = "untracking netns " + std::to_string(netns)
            + " in the counters map: " + errno_text(errno);
    return false;
  }
  return true;
}

bool net_counters::read(uint64_t netns, nw_net_counters& out,
                        std::string& error) const {
  std::vector<nw_net_counters> per_cpu(static_cast<size_t>(cpus_));
  if (::bpf_map_lookup_elem(bpf_map__fd(skel_->maps.net_counters), &netns,
                            per_cpu.data())
      != 0) {
    error = "reading netns " + std::to_string(netns)
            + " from the counters map: " + errno_text(errno);
    return false;
  }
  out = {};
  for (auto& c : per_cpu) {
    out.rx_packets += c.rx_packets;
    out.rx_bytes += c.rx_bytes;
    out.tx_packets += c.tx_packets;
    out.tx_bytes += c.tx_bytes;
  }
  return true;
}

// -- user_tc_program
// -----------------------------------------------------------

std::unique_ptr<user_tc_program>
user_tc_program::load(const std::string& file, const std::string& section,
                      std::string& error) {
  auto what = file + ":" + section;
  std::string messages;
  auto fail = [&](std::string why) {
    error = "--tc-program " + what + ": " + std::move(why);
    if (!messages.empty())
      error += "; libbpf: " + one_line(std::move(messages));
    return nullptr;
  };
  bpf_object* obj = nullptr;
  {
    libbpf_capture capture{messages};
    obj = ::bpf_object__open_file(file.c_str(), nullptr);
  }
  if (obj == nullptr)
    return fail("cannot open it as a BPF object: " + errno_text(errno));
  // The section first (what `tc ... sec` means), then a function name.
  bpf_program* chosen = nullptr;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    if (section == bpf_program__section_name(prog)) {
      chosen = prog;
      break;
    }
  }
  if (chosen == nullptr)
    chosen = ::bpf_object__find_program_by_name(obj, section.c_str());
  if (chosen == nullptr) {
    std::string have;
    bpf_object__for_each_program(prog, obj) {
      have += (have.empty() ? "" : ", ")
              + std::string{bpf_program__section_name(prog)};
    }
    ::bpf_object__close(obj);
    return fail("no program in section or named '" + section
                + "' (it has: " + (have.empty() ? "no programs" : have) + ")");
  }
  if (bpf_program__type(chosen) != BPF_PROG_TYPE_SCHED_CLS) {
    auto type = libbpf_bpf_prog_type_str(bpf_program__type(chosen));
    ::bpf_object__close(obj);
    return fail(std::string{"the program is of type "}
                + (type ? type : "unknown")
                + ", not sched_cls (SEC(\"tc\") or SEC(\"classifier\"))");
  }
  bpf_object__for_each_program(prog, obj) {
    bpf_program__set_autoload(prog, prog == chosen);
  }
  int err = 0;
  {
    libbpf_capture capture{messages};
    err = ::bpf_object__load(obj);
  }
  if (err != 0) {
    ::bpf_object__close(obj);
    return fail("loading it failed: " + errno_text(-err));
  }
  std::string name = bpf_program__name(chosen);
  return std::unique_ptr<user_tc_program>{
    new user_tc_program(obj, bpf_program__fd(chosen), std::move(name))};
}

user_tc_program::~user_tc_program() {
  ::bpf_object__close(obj_);
}

} // namespace nw::kernel
