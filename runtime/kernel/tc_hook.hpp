// The shared TC dispatcher (bpf/tc_dispatch.bpf.c) as the kernel edge uses
// it: loaded once, attached with libbpf's bpf_tc_* (no `tc` subprocess) as a
// direct-action cls_bpf filter on a clsact qdisc — priority 0x4e57, handle 1,
// program `nw_dispatch` (CONTRACTS.md, "Kernel objects we own"). The clsact
// is created when missing and never removed: others use it too. Plain C++:
// the skeleton and libbpf stay inside tc_hook.cpp.
//
//   std::string error;
//   auto hook = nw::kernel::tc_hook::load(error);      // null + error
//   hook->remove_stale(ifindex, error);                // a crashed agent's
//   hook->set_program(counters->prog_fd(), error);     // slot 0 (tc_programs)
//   hook->set_iface(ifindex, netns, /*peer=*/true, error);
//   hook->attach(ifindex, nw::kernel::tc_direction::ingress, error);
//   ...
//   hook->detach(ifindex, nw::kernel::tc_direction::ingress, error);
//   // destroying the hook detaches whatever it still has attached
//
// Not thread-safe: one owner (the TC attacher actor).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>

struct tc_dispatch_bpf;

namespace nw::kernel {

/// Which clsact hook of an interface.
enum class tc_direction { ingress, egress };

/// "ingress" or "egress".
const char* to_string(tc_direction dir);

/// The loaded dispatcher and the filters it attached.
class tc_hook {
public:
  /// Opens and loads the dispatcher (one program, one PROG_ARRAY); null and
  /// the reason in `error` on failure.
  static std::unique_ptr<tc_hook> load(std::string& error);

  /// Detaches every filter still attached through this object (unless
  /// release() was called), then frees the program and its map.
  ~tc_hook();

  tc_hook(const tc_hook&) = delete;
  tc_hook& operator=(const tc_hook&) = delete;

  /// Ensures a clsact qdisc on `ifindex` (one already there is fine) and
  /// attaches the dispatcher to its `dir` hook. Attaching where this
  /// dispatcher already is succeeds; a filter at our priority and handle
  /// that is not this dispatcher (a stale one: remove_stale() first, or a
  /// foreign one) is an error. False with the errno text in `error`; an
  /// interface that does not exist (or vanished) says so.
  bool attach(int ifindex, tc_direction dir, std::string& error);

  /// Tells the dispatcher what `ifindex` (in this network namespace) is:
  /// the network namespace its traffic counts for, and whether it is the
  /// host end of a veth whose other end is there (`peer`: hooks inverted)
  /// or an interface of that namespace itself. Until then, and after
  /// forget_iface(), the dispatcher lets its packets pass untouched. False
  /// with the reason in `error` (the map is full: E2BIG).
  bool set_iface(int ifindex, uint64_t netns, bool peer, std::string& error);

  /// Forgets `ifindex` (not known: fine). False only on a map error.
  bool forget_iface(int ifindex, std::string& error);

  /// Puts the SchedCLS program `prog_fd` in the dispatcher's slot 0, for
  /// every hooked interface at once; -1 empties the slot. False with the
  /// reason in `error` (a program of another type: EINVAL).
  bool set_program(int prog_fd, std::string& error);

  /// Removes this dispatcher's filter from `ifindex`'s `dir` hook, exactly
  /// that filter: the clsact and every other filter stay. A filter at our
  /// priority and handle running another program is left alone (error).
  /// False with the reason in `error` (nothing attached there: ENOENT).
  bool detach(int ifindex, tc_direction dir, std::string& error);

  /// Removes, from both hooks of `ifindex`, filters that are ours by the
  /// contract (priority 0x4e57, handle 1, program named `nw_dispatch`) but
  /// not this dispatcher's: those a crashed agent left. Nobody else's
  /// filter is touched, nor this dispatcher's own. The number removed, or
  /// -1 with the reason in `error`.
  int remove_stale(int ifindex, std::string& error);

  /// Forgets every attachment without detaching it, as a crash would leave
  /// them: the filters keep the program alive after this object is gone.
  /// For tests of remove_stale(), and for a hand-over.
  void release();

  /// The (ifindex, direction) pairs attached through this object.
  const std::set<std::pair<int, tc_direction>>& attached() const {
    return attached_;
  }

  /// The dispatcher program's fd and kernel id.
  int prog_fd() const;
  uint32_t prog_id() const {
    return prog_id_;
  }

  /// The one-slot PROG_ARRAY the dispatcher tail-calls (slot 0).
  int slots_fd() const;

private:
  tc_hook(tc_dispatch_bpf* skel, uint32_t prog_id)
      : skel_(skel), prog_id_(prog_id) {}

  /// The program id of the filter at our priority and handle on `ifindex`'s
  /// `dir` hook: 0 when there is none, -1 with `error` set on failure.
  int64_t query(int ifindex, tc_direction dir, std::string& error) const;

  /// Removes the filter at our priority and handle.
  bool remove(int ifindex, tc_direction dir, std::string& error) const;

  tc_dispatch_bpf* skel_;
  uint32_t prog_id_;
  std::set<std::pair<int, tc_direction>> attached_;
};

} // namespace nw::kernel
