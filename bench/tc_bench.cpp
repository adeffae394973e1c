// TC attach (issue 6): what hooking the shared dispatcher onto interfaces
// costs, and what it costs every packet once it is there.
//
// 1. Attach + detach on 200 veths (the host ends; their peers in another
//    namespace, as containers' are): one tc_hook::load() outside the timing,
//    then for each interface attach ingress + egress, then for each detach
//    both (the agent's way: libbpf bpf_tc_*, no subprocess) against the `tc`
//    CLI doing the same qdisc + filter work per interface (`tc qdisc add
//    dev X clsact`, `tc filter add dev X ingress|egress prio 20055 handle 1
//    bpf da pinned P`, `tc filter del ...`), where P is our own dispatcher
//    program pinned once under a private bpffs directory; and, as the floor
//    of that work, bare libbpf calls (one bpf_tc_hook_create, two
//    bpf_tc_attach, two bpf_tc_detach per interface, without tc_hook's
//    checks). Rounds rotate which arm goes first; before each arm every
//    interface is bare (no clsact: removing it is setup, not timed), so
//    every arm creates the qdisc. Every filter is checked after each attach
//    phase and each detach phase (untimed): it must be the dispatcher's
//    program, then gone.
// 2. Per-packet cost under a flood: a veth pair between two network
//    namespaces; from one end an AF_PACKET socket sends complete 60-byte
//    Ethernet + IPv4 + UDP frames with sendmmsg (through the qdisc layer,
//    so the egress hook) to a UDP socket at the other end that never reads
//    (its buffer full, the kernel drops each datagram after the socket
//    lookup: no ICMP). The sender's thread CPU time per packet is the
//    measure: on this kernel (tick accounting, no IRQ_TIME_ACCOUNTING) it
//    is exact, leaves out other processes' time on the CPU, and includes
//    the receive softirq, which veth runs in the sender's context. The
//    sender stays on one CPU. Arms, in rotated order each round, on both
//    hooks of the sending end as the agent hooks a veth's host end (every
//    packet passes its egress hook once): no clsact; a clsact with no
//    filter; a program that only returns (the floor of any cls_bpf
//    filter); the dispatcher with the interface not in its ifindex map (it
//    returns after the lookup); known, slot 0 empty (the lookup, cb[] and
//    a tail call that falls through); known, with the counters program
//    (tc_programs' net_counters, the far namespace tracked) in slot 0.
//    Each arm's packets are checked: they reached the far socket, and the
//    counters counted them all, in the counters arm only.
//
// Everything runs in private network namespaces of this process (unshare,
// never bound to a name), so every veth, qdisc and filter is gone when the
// process ends, however it ends; nobody else's interface is touched. The
// one object outside them, the pinned program, is unlinked at exit and on
// SIGINT/SIGTERM/SIGHUP (and, after a SIGKILL, by the next run).
//
// Needs root (namespaces, BPF, bpffs); without it prints a note, no rows.
// Options: --rounds N (attach rounds, default 7), --ifaces N (default 200),
// --packet-rounds N (default 31), --packets N (per arm and round, default
// 100000). With the defaults it runs for about 1.5 min.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/harness.hpp"
#include "bpf/tc_dispatch.h"
#include "runtime/kernel/tc_hook.hpp"
#include "runtime/kernel/tc_programs.hpp"
#include "tests/integration/support/netns_fixture.hpp"

namespace nw::bench {

namespace {

using kernel::tc_direction;
using kernel::tc_hook;
using test::run;
using test::run_ok;

// -- cleanup of the one object outside our namespaces -------------------------

// Plain arrays: the signal handler may only unlink and rmdir.
char pin_dir[64];
char pin_file[96];

void remove_pin() noexcept {
  if (pin_file[0] != '\0')
    ::unlink(pin_file);
  if (pin_dir[0] != '\0')
    ::rmdir(pin_dir);
  pin_file[0] = '\0';
  pin_dir[0] = '\0';
}

extern "C" void on_fatal_signal(int sig) {
  remove_pin();
  ::_exit(128 + sig);
}

/// Removes what an earlier run killed with SIGKILL left: the pin
/// directories of tc_bench processes that no longer exist.
void remove_dead_runs_pins() {
  auto* dir = ::opendir("/sys/fs/bpf");
  if (dir == nullptr)
    return;
  while (auto* e = ::readdir(dir)) {
    int pid = 0;
    char rest = 0;
    if (std::sscanf(e->d_name, "nwbench-%d%c", &pid, &rest) != 1 || pid <= 0
        || ::kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    auto path = std::string{"/sys/fs/bpf/"} + e->d_name;
    ::unlink((path + "/" NW_TC_PROG_NAME).c_str());
    ::rmdir(path.c_str());
  }
  ::closedir(dir);
}

/// Pins `prog_fd` under /sys/fs/bpf/nwbench-PID/ (root-only directory);
/// unpinned by remove_pin(), at exit and on signals.
std::string pin_program(int prog_fd) {
  std::snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/nwbench-%d",
                static_cast<int>(::getpid()));
  if (::mkdir(pin_dir, 0700) != 0) {
    auto err = errno;
    pin_dir[0] = '\0';
    throw std::runtime_error("mkdir /sys/fs/bpf/nwbench-PID: "
                             + std::string{std::strerror(err)});
  }
  std::snprintf(pin_file, sizeof(pin_file), "%s/" NW_TC_PROG_NAME, pin_dir);
  if (::bpf_obj_pin(prog_fd, pin_file) != 0) {
    auto err = errno;
    pin_file[0] = '\0';
    remove_pin();
    throw std::runtime_error("pinning the dispatcher: "
                             + std::string{std::strerror(err)});
  }
  return pin_file;
}

/// libbpf's print, without the kernel's extack text of the failures that
/// are expected here (EEXIST from the second direction's
/// bpf_tc_hook_create, ENOENT from queries and clsact removals of bare
/// interfaces): one stderr line per attach would drown the run's output.
/// Results are checked through return codes and queries instead.
int quiet_libbpf_print(enum libbpf_print_level level, const char* format,
                       va_list args) {
  if (level == LIBBPF_DEBUG
      || std::strstr(format, "Kernel error message") != nullptr)
    return 0;
  return std::vfprintf(stderr, format, args);
}

// -- namespaces ---------------------------------------------------------------

/// A descriptor of this thread's current network namespace.
int current_netns() {
  auto fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error("open /proc/thread-self/ns/net: "
                             + std::string{std::strerror(errno)});
  return fd;
}

void enter_netns(int fd) {
  if (::setns(fd, CLONE_NEWNET) != 0)
    throw std::runtime_error("setns: " + std::string{std::strerror(errno)});
}

/// A new network namespace held by a descriptor; the thread stays where
/// it was.
int new_netns() {
  auto here = current_netns();
  if (::unshare(CLONE_NEWNET) != 0) {
    auto err = errno;
    ::close(here);
    throw std::runtime_error("unshare(CLONE_NEWNET): "
                             + std::string{std::strerror(err)});
  }
  auto fd = current_netns();
  enter_netns(here);
  ::close(here);
  return fd;
}

/// Runs `f` with the thread in the network namespace `fd`; the child
/// processes it spawns are there too.
template <class F>
auto in_netns(int fd, F f) {
  auto here = current_netns();
  enter_netns(fd);
  struct back {
    int here;
    ~back() {
      ::setns(here, CLONE_NEWNET);
      ::close(here);
    }
  } restore{here};
  return f();
}

/// The ifindex of `name` in the current namespace.
int ifindex_of(const std::string& name) {
  auto i = ::if_nametoindex(name.c_str());
  if (i == 0)
    throw std::runtime_error("no interface " + name);
  return static_cast<int>(i);
}

/// Runs `lines` through one `ip -batch` (setup, not timed).
void ip_batch(const std::vector<std::string>& lines) {
  auto path = "/tmp/nwtcbench-" + std::to_string(::getpid()) + ".ip";
  {
    std::ofstream out{path};
    for (auto& l : lines)
      out << l << '\n';
  }
  auto r = run({"ip", "-batch", path});
  ::unlink(path.c_str());
  if (!r.ok())
    throw std::runtime_error("ip -batch failed: " + r.output);
}

std::string load_average() {
  std::ifstream in{"/proc/loadavg"};
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// -- raw libbpf helpers for setup and checks (never timed) --------------------

/// Removes the clsact of one of our own interfaces, filters and all.
void drop_clsact(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = static_cast<bpf_tc_attach_point>(
                BPF_TC_INGRESS | BPF_TC_EGRESS));
  auto err = ::bpf_tc_hook_destroy(&hook);
  if (err != 0 && err != -ENOENT && err != -EINVAL)
    throw std::runtime_error("removing the clsact of ifindex "
                             + std::to_string(ifindex) + ": "
                             + std::strerror(-err));
}

void add_clsact(int ifindex) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point = BPF_TC_INGRESS);
  auto err = ::bpf_tc_hook_create(&hook);
  if (err != 0 && err != -EEXIST)
    throw std::runtime_error("creating a clsact: "
                             + std::string{std::strerror(-err)});
}

/// The program id of the filter at our priority and handle, 0 if none.
uint32_t filter_prog(int ifindex, tc_direction dir) {
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
              .attach_point
              = dir == tc_direction::ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NW_TC_HANDLE,
              .priority = NW_TC_PRIORITY);
  auto err = ::bpf_tc_query(&hook, &opts);
  // ENOENT: no such filter; EINVAL: no clsact at all.
  if (err == -ENOENT || err == -EINVAL)
    return 0;
  if (err != 0)
    throw std::runtime_error("bpf_tc_query: "
                             + std::string{std::strerror(-err)});
  return opts.prog_id;
}

constexpr tc_direction both_dirs[]
  = {tc_direction::ingress, tc_direction::egress};

/// Throws unless every interface has (`present`) or lacks our dispatcher
/// on both hooks.
void check_filters(const std::vector<int>& ifindexes, uint32_t prog_id,
                   bool present, const char* arm) {
  for (auto ifindex : ifindexes)
    for (auto dir : both_dirs) {
      auto id = filter_prog(ifindex, dir);
      if (present ? id != prog_id : id != 0)
        throw std::runtime_error(
          std::string{arm} + ": ifindex " + std::to_string(ifindex) + " "
          + kernel::to_string(dir) + " has program id " + std::to_string(id)
          + (present ? ", expected the dispatcher's " + std::to_string(prog_id)
                     : ", expected no filter"));
    }
}

// -- 1. attach + detach -------------------------------------------------------

struct phase_times {
  double attach_ns = 0;
  double detach_ns = 0;
};

phase_times nodewatch_arm(tc_hook& hook, const std::vector<int>& ifindexes) {
  std::string error;
  auto t0 = clock_type::now();
  for (auto ifindex : ifindexes)
    for (auto dir : both_dirs)
      if (!hook.attach(ifindex, dir, error))
        throw std::runtime_error("nodewatch attach: " + error);
  auto t1 = clock_type::now();
  check_filters(ifindexes, hook.prog_id(), true, "nodewatch attach");
  auto t2 = clock_type::now();
  for (auto ifindex : ifindexes)
    for (auto dir : both_dirs)
      if (!hook.detach(ifindex, dir, error))
        throw std::runtime_error("nodewatch detach: " + error);
  auto t3 = clock_type::now();
  check_filters(ifindexes, hook.prog_id(), false, "nodewatch detach");
  return {ns_between(t0, t1), ns_between(t2, t3)};
}

phase_times cli_arm(const std::vector<std::string>& names,
                    const std::vector<int>& ifindexes, uint32_t prog_id,
                    const std::string& pinned) {
  const auto prio = std::to_string(NW_TC_PRIORITY);
  const auto handle = std::to_string(NW_TC_HANDLE);
  auto t0 = clock_type::now();
  for (auto& dev : names) {
    run_ok({"tc", "qdisc", "add", "dev", dev, "clsact"});
    for (const char* dir : {"ingress", "egress"})
      run_ok({"tc", "filter", "add", "dev", dev, dir, "prio", prio, "handle",
              handle, "bpf", "da", "pinned", pinned});
  }
  auto t1 = clock_type::now();
  check_filters(ifindexes, prog_id, true, "tc CLI attach");
  auto t2 = clock_type::now();
  for (auto& dev : names)
    for (const char* dir : {"ingress", "egress"})
      run_ok({"tc", "filter", "del", "dev", dev, dir, "prio", prio, "handle",
              handle, "bpf"});
  auto t3 = clock_type::now();
  check_filters(ifindexes, prog_id, false, "tc CLI detach");
  return {ns_between(t0, t1), ns_between(t2, t3)};
}

/// The floor of the same work: bare libbpf calls, one clsact creation per
/// interface, no interface or ownership checks.
phase_times libbpf_arm(int prog_fd, const std::vector<int>& ifindexes,
                       uint32_t prog_id) {
  auto t0 = clock_type::now();
  for (auto ifindex : ifindexes) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = BPF_TC_INGRESS);
    if (auto err = ::bpf_tc_hook_create(&hook); err != 0)
      throw std::runtime_error("bpf_tc_hook_create: "
                               + std::string{std::strerror(-err)});
    for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
      hook.attach_point = point;
      LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = NW_TC_HANDLE,
                  .priority = NW_TC_PRIORITY);
      if (auto err = ::bpf_tc_attach(&hook, &opts); err != 0)
        throw std::runtime_error("bpf_tc_attach: "
                                 + std::string{std::strerror(-err)});
    }
  }
  auto t1 = clock_type::now();
  check_filters(ifindexes, prog_id, true, "libbpf attach");
  auto t2 = clock_type::now();
  for (auto ifindex : ifindexes)
    for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
      LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
      LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NW_TC_HANDLE,
                  .priority = NW_TC_PRIORITY);
      if (auto err = ::bpf_tc_detach(&hook, &opts); err != 0)
        throw std::runtime_error("bpf_tc_detach: "
                                 + std::string{std::strerror(-err)});
    }
  auto t3 = clock_type::now();
  check_filters(ifindexes, prog_id, false, "libbpf detach");
  return {ns_between(t0, t1), ns_between(t2, t3)};
}

std::string spread(const samples& xs, const char* fmt, double scale = 1) {
  return printf_string(fmt, xs.quantile(0.1) / scale) + " .. "
         + printf_string(fmt, xs.quantile(0.9) / scale);
}

void attach_detach(tc_hook& hook, size_t count, size_t rounds) {
  // The peers go into a namespace of their own, as containers' ends do:
  // each `tc` run dumps every link of its namespace (RTM_GETLINK), so the
  // CLI's cost grows with the links next to the ones it works on (here,
  // as on a node with `count` containers, `count` host ends).
  auto peer_ns = new_netns();
  auto peer_ns_path
    = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(peer_ns);
  auto tag = std::to_string(::getpid() % 100000);
  std::vector<std::string> names, lines, peer_lines;
  for (size_t i = 0; i < count; ++i) {
    auto host = "nwt" + tag + "h" + std::to_string(i);
    auto peer = "nwt" + tag + "p" + std::to_string(i);
    names.push_back(host);
    lines.push_back("link add " + host + " type veth peer name " + peer
                    + " netns " + peer_ns_path);
    lines.push_back("link set " + host + " up");
    peer_lines.push_back("link set " + peer + " up");
  }
  ip_batch(lines);
  in_netns(peer_ns, [&] {
    ip_batch(peer_lines);
    return 0;
  });
  std::vector<int> ifindexes;
  for (auto& n : names)
    ifindexes.push_back(ifindex_of(n));
  remove_dead_runs_pins();
  auto pinned = pin_program(hook.prog_fd());
  auto load_before = load_average();

  // Arms: 0 nodewatch, 1 the tc CLI, 2 bare libbpf; rotated each round.
  const char* arm_names[] = {"nodewatch", "tc CLI", "libbpf floor"};
  std::vector<samples> attach(3), detach(3), total(3);
  samples ratios;
  auto per_iface = static_cast<double>(count);
  for (size_t r = 0; r < rounds; ++r) {
    phase_times t[3];
    for (size_t k = 0; k < 3; ++k) {
      auto i = (k + r) % 3;
      for (auto ifindex : ifindexes)
        drop_clsact(ifindex);
      if (i == 0)
        t[i] = nodewatch_arm(hook, ifindexes);
      else if (i == 1)
        t[i] = cli_arm(names, ifindexes, hook.prog_id(), pinned);
      else
        t[i] = libbpf_arm(hook.prog_fd(), ifindexes, hook.prog_id());
    }
    for (size_t i = 0; i < 3; ++i) {
      attach[i].add(t[i].attach_ns / per_iface);
      detach[i].add(t[i].detach_ns / per_iface);
      total[i].add((t[i].attach_ns + t[i].detach_ns) / per_iface);
    }
    ratios.add((t[1].attach_ns + t[1].detach_ns)
               / (t[0].attach_ns + t[0].detach_ns));
  }
  for (auto ifindex : ifindexes)
    drop_clsact(ifindex);
  remove_pin();
  // The pairs go with the peers' namespace.
  ::close(peer_ns);

  note("tc_attach: " + std::to_string(count)
       + " veth pairs, host ends in a private network namespace, peers in "
         "another; per interface = one round's phase / "
       + std::to_string(count)
       + "; nodewatch = tc_hook attach ingress+egress, detach both (one "
         "load() outside the timing); tc CLI = `tc qdisc add clsact` + 2x "
         "`tc filter add ... bpf da pinned` (our dispatcher, pinned), 2x `tc "
         "filter del`; libbpf floor = 1 bpf_tc_hook_create + 2 bpf_tc_attach, "
         "2 bpf_tc_detach (no checks); arms rotated; load average "
       + load_before + " before, " + load_average() + " after");
  const std::string b = "tc_attach";
  auto us = [](const samples& xs) { return spread(xs, "%.1f us", 1e3); };
  auto med_us = [](const samples& xs) {
    return printf_string("%.1f us", xs.median() / 1e3);
  };
  for (size_t i = 0; i < 3; ++i) {
    std::string n = arm_names[i];
    if (i == 0)
      row(b, n + " attach+detach per interface", med_us(total[i]), us(total[i]),
          total[i].size(), "<= 300 us",
          total[i].median() <= 300e3 ? "PASS" : "FAIL");
    else
      row(b, n + " attach+detach per interface", med_us(total[i]), us(total[i]),
          total[i].size());
    row(b, n + " attach (ingress+egress)", med_us(attach[i]), us(attach[i]),
        attach[i].size());
    row(b, n + " detach (both)", med_us(detach[i]), us(detach[i]),
        detach[i].size());
  }
  auto ratio = total[1].median() / total[0].median();
  row(b, "tc CLI / nodewatch, attach+detach (per-round spread)",
      fmt_ratio(ratio), spread(ratios, "%.1fx"), ratios.size(), ">= 20x",
      ratio >= 20 ? "PASS" : "FAIL");
  row(b, "tc CLI / nodewatch, attach",
      fmt_ratio(attach[1].median() / attach[0].median()), "-",
      attach[1].size());
  row(b, "tc CLI / nodewatch, detach",
      fmt_ratio(detach[1].median() / detach[0].median()), "-",
      detach[1].size());
  row(b, "nodewatch / libbpf floor, attach+detach",
      fmt_ratio(total[0].median() / total[2].median()), "-", total[2].size());
}

// -- 2. per-packet cost -------------------------------------------------------

double thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// Datagrams that reached a UDP socket of the current namespace, queued
/// or dropped for a full buffer (InDatagrams + RcvbufErrors of
/// /proc/thread-self/net/snmp, which follows the thread's namespace).
uint64_t udp_arrived() {
  std::ifstream in{"/proc/thread-self/net/snmp"};
  std::string header, values;
  while (std::getline(in, header))
    if (header.rfind("Udp:", 0) == 0 && std::getline(in, values))
      break;
  std::istringstream h{header}, v{values};
  std::string name, value;
  uint64_t out = 0;
  int found = 0;
  while (h >> name && v >> value)
    if (name == "InDatagrams" || name == "RcvbufErrors") {
      out += std::stoull(value);
      ++found;
    }
  if (found != 2)
    throw std::runtime_error("no UDP counters in /proc/thread-self/net/snmp");
  return out;
}

/// Sends complete Ethernet + IPv4 + UDP frames (60 bytes, the Ethernet
/// minimum; 18 bytes of payload) out of one interface with an AF_PACKET
/// socket and sendmmsg: through the qdisc layer and so the clsact's egress
/// hook (no PACKET_QDISC_BYPASS), without the sender's UDP/IP stack, whose
/// ~0.8 us per packet here (2.8 us instead of 2.0 through a connected UDP
/// socket) would only add noise to a difference of tens of ns.
/// The far end receives them as any UDP datagram: ip_rcv, the socket
/// lookup, the socket's queue.
class flood_sender {
public:
  static constexpr size_t batch = 256;

  flood_sender(int ifindex, const uint8_t (&src_mac)[6],
               const uint8_t (&dst_mac)[6], const char* src_ip,
               const char* dst_ip, uint16_t port) {
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket(AF_PACKET): "
                               + std::string{std::strerror(errno)});
    auto* f = frame_;
    std::memcpy(f, dst_mac, 6);
    std::memcpy(f + 6, src_mac, 6);
    f[12] = 0x08; // ETH_P_IP
    f[13] = 0x00;
    auto* ip = f + 14;
    ip[0] = 0x45;                       // IPv4, 20-byte header
    put16(ip + 2, sizeof(frame_) - 14); // total length
    ip[6] = 0x40;                       // DF
    ip[8] = 64;                         // TTL
    ip[9] = IPPROTO_UDP;
    ::inet_pton(AF_INET, src_ip, ip + 12);
    ::inet_pton(AF_INET, dst_ip, ip + 16);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
      sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
    while (sum > 0xffff)
      sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, static_cast<uint16_t>(~sum));
    auto* udp = ip + 20;
    put16(udp, port); // source port: any
    put16(udp + 2, port);
    put16(udp + 4, sizeof(frame_) - 34); // checksum 0: none (IPv4)
    std::memcpy(udp + 8, "nodewatch tcbench", 17);
    to_.sll_family = AF_PACKET;
    to_.sll_ifindex = ifindex;
    to_.sll_protocol = htons(0x0800);
    to_.sll_halen = 6;
    std::memcpy(to_.sll_addr, dst_mac, 6);
    iov_.iov_base = frame_;
    iov_.iov_len = sizeof(frame_);
    for (auto& m : msgs_) {
      m.msg_hdr.msg_name = &to_;
      m.msg_hdr.msg_namelen = sizeof(to_);
      m.msg_hdr.msg_iov = &iov_;
      m.msg_hdr.msg_iovlen = 1;
    }
  }

  ~flood_sender() {
    ::close(fd_);
  }

  flood_sender(const flood_sender&) = delete;
  flood_sender& operator=(const flood_sender&) = delete;

  void send(size_t n) {
    while (n > 0) {
      auto k
        = ::sendmmsg(fd_, msgs_, static_cast<unsigned>(std::min(n, batch)), 0);
      if (k < 0) {
        if (errno == ENOBUFS || errno == EINTR)
          continue;
        throw std::runtime_error("sendmmsg: "
                                 + std::string{std::strerror(errno)});
      }
      n -= static_cast<size_t>(k);
    }
  }

private:
  static void put16(uint8_t* p, size_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
  }

  int fd_ = -1;
  uint8_t frame_[60] = {};
  sockaddr_ll to_{};
  iovec iov_{};
  mmsghdr msgs_[batch] = {};
};

/// A UDP socket bound at the far end that never reads: once its small
/// buffer is full the kernel drops each datagram after the socket lookup,
/// and no ICMP port-unreachable comes back.
int sink_socket(const char* at) {
  auto fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
  int size = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9);
  ::inet_pton(AF_INET, at, &addr.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::runtime_error("bind: " + std::string{std::strerror(errno)});
  return fd;
}

/// A SchedCLS program that returns TC_ACT_UNSPEC at once: the floor of
/// any cls_bpf filter (the classifier's call and the program's).
int nop_program() {
  const bpf_insn insns[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1}, // r0 = TC_ACT_UNSPEC
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  auto fd = ::bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "nw_bench_nop", "GPL",
                            insns, 2, nullptr);
  if (fd < 0)
    throw std::runtime_error("loading a no-op program: "
                             + std::string{std::strerror(-fd)});
  return fd;
}

/// `prog_fd` on both hooks of `ifindex` (a clsact made first), at our
/// priority and handle, without tc_hook: for the floor arm.
void attach_raw(int ifindex, int prog_fd) {
  add_clsact(ifindex);
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = NW_TC_HANDLE,
                .priority = NW_TC_PRIORITY);
    if (auto err = ::bpf_tc_attach(&hook, &opts); err != 0)
      throw std::runtime_error("attaching a no-op program: "
                               + std::string{std::strerror(-err)});
  }
}

enum class arm { bare, clsact, nop, unknown, empty_slot, counters };

const char* arm_name(arm a) {
  switch (a) {
    case arm::bare:
      return "no clsact";
    case arm::clsact:
      return "clsact, no filter";
    case arm::nop:
      return "a program that only returns (floor of any filter)";
    case arm::unknown:
      return "dispatcher, interface not in its map";
    case arm::empty_slot:
      return "dispatcher, interface known, slot 0 empty";
    default:
      return "dispatcher + tc_counters in slot 0 (netns tracked)";
  }
}

void per_packet(tc_hook& hook, size_t packets, size_t rounds) {
  auto tag = std::to_string(::getpid() % 100000);
  auto near_end = "nwt" + tag + "fa";
  auto far_end = "nwt" + tag + "fb";
  auto far_ns = new_netns();
  const char* near_ip = "10.77.0.1";
  const char* far_ip = "10.77.0.2";
  const char* far_mac = "02:6e:77:00:00:02";
  const uint8_t near_mac_bytes[6] = {0x02, 0x6e, 0x77, 0, 0, 1};
  const uint8_t far_mac_bytes[6] = {0x02, 0x6e, 0x77, 0, 0, 2};
  run_ok(
    {"ip", "link", "add", near_end, "address", "02:6e:77:00:00:01", "type",
     "veth", "peer", "name", far_end, "address", far_mac, "netns",
     "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(far_ns)});
  run_ok({"ip", "addr", "add", std::string{near_ip} + "/24", "dev", near_end});
  run_ok({"ip", "link", "set", near_end, "up"});
  auto sink = in_netns(far_ns, [&] {
    run_ok({"ip", "addr", "add", std::string{far_ip} + "/24", "dev", far_end});
    run_ok({"ip", "link", "set", far_end, "up"});
    return sink_socket(far_ip);
  });
  auto near_index = ifindex_of(near_end);
  struct stat far_st {};
  if (::fstat(far_ns, &far_st) != 0)
    throw std::runtime_error("fstat of the far namespace");
  auto far_netns = static_cast<uint64_t>(far_st.st_ino);
  flood_sender sender{near_index, near_mac_bytes, far_mac_bytes,
                      near_ip,    far_ip,         9};
  auto far_rx = [&] { return in_netns(far_ns, udp_arrived); };

  // Until the carrier is up on both ends, veth drops what it is given.
  for (int i = 0;; ++i) {
    auto before = far_rx();
    sender.send(100);
    if (far_rx() - before >= 100)
      break;
    if (i == 50)
      throw std::runtime_error("no packets arrive over the veth pair");
    ::usleep(100000);
  }

  std::string error;
  auto counters = kernel::net_counters::load(error);
  if (!counters)
    throw std::runtime_error(error);
  if (!counters->track(far_netns, error))
    throw std::runtime_error(error);

  // One CPU for the whole flood: a migration between blocks would change
  // cold caches into a difference between arms.
  cpu_set_t all_cpus, one_cpu;
  ::sched_getaffinity(0, sizeof(all_cpus), &all_cpus);
  CPU_ZERO(&one_cpu);
  CPU_SET(::sched_getcpu(), &one_cpu);
  ::sched_setaffinity(0, sizeof(one_cpu), &one_cpu);

  std::vector<arm> arms{arm::bare,    arm::clsact,     arm::nop,
                        arm::unknown, arm::empty_slot, arm::counters};
  auto nop = nop_program();
  // Paired by round: against no clsact, and against the no-op program.
  std::vector<samples> cpu(arms.size()), wall(arms.size()), diff(arms.size()),
    over_nop(arms.size());
  size_t lost = 0;
  auto load_before = load_average();
  for (size_t r = 0; r < rounds; ++r) {
    std::vector<double> this_round(arms.size());
    for (size_t k = 0; k < arms.size(); ++k) {
      auto i = (k + r) % arms.size();
      auto a = arms[i];
      drop_clsact(near_index);
      if (a == arm::clsact)
        add_clsact(near_index);
      if (a == arm::nop)
        attach_raw(near_index, nop);
      auto dispatched
        = a == arm::unknown || a == arm::empty_slot || a == arm::counters;
      if (dispatched) {
        auto ok = hook.set_program(
                    a == arm::counters ? counters->prog_fd() : -1, error)
                  && (a == arm::unknown
                        ? hook.forget_iface(near_index, error)
                        : hook.set_iface(near_index, far_netns, true, error));
        for (auto dir : both_dirs)
          ok = ok && hook.attach(near_index, dir, error);
        if (!ok)
          throw std::runtime_error(std::string{arm_name(a)} + ": " + error);
      }
      nw_net_counters c0{}, c1{};
      sender.send(20000); // warm-up
      auto rx0 = far_rx();
      if (!counters->read(far_netns, c0, error))
        throw std::runtime_error(error);
      auto cpu0 = thread_cpu_ns();
      auto t0 = clock_type::now();
      sender.send(packets);
      auto t1 = clock_type::now();
      auto cpu1 = thread_cpu_ns();
      auto got = far_rx() - rx0;
      if (!counters->read(far_netns, c1, error))
        throw std::runtime_error(error);
      if (got < packets)
        lost += packets - got;
      // The host end's egress is the container's rx (peer: inverted).
      auto counted = c1.rx_packets - c0.rx_packets;
      if ((a == arm::counters) != (counted >= packets))
        throw std::runtime_error(std::string{arm_name(a)} + ": counted "
                                 + std::to_string(counted) + " of "
                                 + std::to_string(packets) + " packets");
      auto n = static_cast<double>(packets);
      cpu[i].add((cpu1 - cpu0) / n);
      wall[i].add(ns_between(t0, t1) / n);
      this_round[i] = (cpu1 - cpu0) / n;
      if (dispatched) {
        if (filter_prog(near_index, tc_direction::egress) != hook.prog_id())
          throw std::runtime_error("the dispatcher was not on the egress hook");
        for (auto dir : both_dirs)
          if (!hook.detach(near_index, dir, error))
            throw std::runtime_error("detach: " + error);
      }
    }
    for (size_t i = 0; i < arms.size(); ++i) {
      diff[i].add(this_round[i] - this_round[0]);
      over_nop[i].add(this_round[i] - this_round[2]);
    }
  }
  ::sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
  drop_clsact(near_index);
  hook.set_program(-1, error);
  hook.forget_iface(near_index, error);
  counters.reset();
  ::close(sink);
  ::close(far_ns);
  ::close(nop);

  std::string walls;
  for (size_t i = 0; i < arms.size(); ++i)
    walls += (i == 0 ? "" : " / ") + printf_string("%.1f", wall[i].median());
  note("tc_packet: AF_PACKET sendmmsg of 60-byte Ethernet+IPv4+UDP frames "
       "over a veth pair between two private network namespaces to a UDP "
       "socket that never reads; filters on both hooks of the sending end, "
       "as on a veth's host end (each packet passes its egress hook once); "
       + std::to_string(packets)
       + " packets per arm and round, arms rotated, sender on one CPU; "
         "ns/pkt = the sender thread's CPU time (which includes the receive "
         "softirq run in its context) / packets; wall-clock medians, in the "
         "rows' order: "
       + walls + " ns/pkt; packets that did not reach the far end's socket: "
       + std::to_string(lost) + "; load average " + load_before + " before, "
       + load_average() + " after");
  const std::string b = "tc_packet";
  auto ns = [](double x) { return printf_string("%.1f ns/pkt", x); };
  auto ns_spread = [](const samples& xs) { return spread(xs, "%.1f"); };
  for (size_t i = 0; i < arms.size(); ++i)
    row(b, arm_name(arms[i]), ns(cpu[i].median()), ns_spread(cpu[i]),
        cpu[i].size());
  auto paired = [&](const std::string& what, const samples& xs) {
    row(b, what, printf_string("%+.1f ns/pkt", xs.median()), ns_spread(xs),
        xs.size());
  };
  for (size_t i = 1; i < arms.size(); ++i)
    paired(std::string{arm_name(arms[i])} + " - no clsact (paired; "
             + printf_string("%+.1f", cpu[i].median() - cpu[0].median())
             + " between medians)",
           diff[i]);
  for (size_t i = 3; i < arms.size(); ++i)
    paired(std::string{arm_name(arms[i])} + " - the no-op program (paired)",
           over_nop[i]);
}

} // namespace

} // namespace nw::bench

int main(int argc, char** argv) {
  using namespace nw::bench;
  if (geteuid() != 0) {
    note("tc_bench skipped: needs root (network namespaces, BPF, bpffs)");
    return 0;
  }
  auto positive = [&](const char* name, size_t fallback) {
    auto n
      = std::strtoul(option_arg(argc, argv, name, "").c_str(), nullptr, 10);
    return n > 0 ? static_cast<size_t>(n) : fallback;
  };
  auto rounds = rounds_arg(argc, argv, 7);
  auto ifaces = positive("--ifaces", 200);
  auto packet_rounds = positive("--packet-rounds", 31);
  auto packets = positive("--packets", 100000);
  std::atexit(remove_pin);
  libbpf_set_print(quiet_libbpf_print);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::signal(sig, on_fatal_signal);
  try {
    // This thread, and every `ip` and `tc` it runs, from now on in a
    // network namespace of its own that dies with the process.
    if (::unshare(CLONE_NEWNET) != 0)
      throw std::runtime_error("unshare(CLONE_NEWNET): "
                               + std::string{std::strerror(errno)});
    std::string error;
    auto hook = nw::kernel::tc_hook::load(error);
    if (!hook)
      throw std::runtime_error(error);
    attach_detach(*hook, ifaces, rounds);
    per_packet(*hook, packets, packet_rounds);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return 0;
}
