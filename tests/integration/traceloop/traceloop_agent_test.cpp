// traceloop in the real agent graph (in process, real kernel) with real runc
// containers driven as a shim drives runc (create, read the pidfile: the
// read the agent holds until its subscribers, traceloop among them, acked
// `added`; start), asked through the node facade as `nodewatch traceloop`
// asks it:
//
// - a busybox container's known script, read back after the container is
//   gone (post-mortem, the ring listed live=false), field by field: the
//   openat of /etc/hostname, write(fd=1, buf="hello\n", count=6) = 6, a
//   call failing with ENOENT, the comms of its processes, no syscall of any
//   other process; and its very first syscalls: runc init's, before the
//   execve of the entrypoint (the ring existed before the start went on);
// - two containers at once: each ring holds only its own syscalls;
// - a ring written many times over: its newest records (the final
//   exit_group, unfinished) read back, the overwritten count reported;
// - delete frees a ring; an unknown name and an ambiguous id prefix are
//   errors naming it and the candidates;
// - a memory budget of two rings: with both taken by live containers a
//   third is refused; once both are gone a new container's ring evicts the
//   one removed first (not the one created first).
//
// Skipped (exit 77, with the reason) without root, runc or a static
// busybox. Every wait has a deadline.
#define BOOST_TEST_MODULE traceloop_agent
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "messages/selector.hpp"
#include "tests/integration/support/live_graph.hpp"
#include "tests/integration/support/runc_fixture.hpp"

using namespace std::chrono_literals;
using nw::syscall_line;
using nw::test::live_graph;
using nw::test::runc_clock;
using nw::test::runc_container;

namespace {

// -- asking the agent ---------------------------------------------------------

/// An answer, or the error instead.
template <class T>
struct reply {
  std::optional<T> value;
  caf::error err;

  bool ok() const {
    return value.has_value();
  }

  /// Whether the error is nodewatch's `code`.
  bool is(nw::errc code) const {
    return err && err.category() == nw::error_category
           && static_cast<nw::errc>(err.code()) == code;
  }

  std::string text() const {
    return ok() ? std::string{"(no error)"} : nw::render(err);
  }
};

/// Asks `to`, waiting at most 10 s for the answer.
template <class T, class Handle, class... Ts>
reply<T> ask(live_graph& agent, const Handle& to, Ts&&... xs) {
  reply<T> r;
  caf::scoped_actor self{agent.system()};
  self->request(to, std::chrono::seconds{10}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { r.value = std::move(x); },
             [&](caf::error& e) { r.err = std::move(e); });
  return r;
}

/// `nodewatch traceloop ...` as the CLI asks it: through the node facade.
reply<std::vector<nw::traceloop_ring_info>> list(live_graph& agent) {
  return ask<std::vector<nw::traceloop_ring_info>>(agent, agent.handles().node,
                                                   nw::traceloop_atom::value,
                                                   nw::list_atom::value);
}

reply<nw::traceloop_dump> show(live_graph& agent, const std::string& c) {
  return ask<nw::traceloop_dump>(agent, agent.handles().node,
                                 nw::traceloop_atom::value, nw::get_atom::value,
                                 c);
}

reply<nw::traceloop_ring_info> remove_ring(live_graph& agent,
                                           const std::string& c) {
  return ask<nw::traceloop_ring_info>(agent, agent.handles().node,
                                      nw::traceloop_atom::value,
                                      nw::remove_atom::value, c);
}

/// The traceloop actor's own counters.
nw::counters tl_counters(live_graph& agent) {
  auto r = ask<nw::counters>(agent, agent.handles().traceloop,
                             nw::get_atom::value, nw::counters_atom::value);
  return r.value.value_or(nw::counters{});
}

/// The ring of `id` in a listing, or null.
const nw::traceloop_ring_info*
ring_of(const std::vector<nw::traceloop_ring_info>& rings,
        const std::string& id) {
  for (auto& r : rings)
    if (r.id == id)
      return &r;
  return nullptr;
}

/// Polls `pred` every 10 ms until it holds or `limit` passed; whether it
/// held.
bool eventually(std::chrono::milliseconds limit,
                const std::function<bool()>& pred) {
  auto deadline = runc_clock::now() + limit;
  for (;;) {
    if (pred())
      return true;
    if (runc_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
}

/// Waits until the agent lists `id`'s ring as gone (live=false): the
/// traceloop actor handles `removed` in parallel with the test's tally.
bool listed_gone(live_graph& agent, const std::string& id) {
  return eventually(5000ms, [&] {
    auto l = list(agent);
    auto* r = l.ok() ? ring_of(*l.value, id) : nullptr;
    return r != nullptr && !r->live;
  });
}

// -- reading lines ------------------------------------------------------------

/// The value of parameter `name` as the decoder prints it (strings quoted
/// and escaped: "hello\n"), or "<no NAME>".
std::string param(const syscall_line& l, const std::string& name) {
  for (auto& p : l.params)
    if (p.name == name)
      return p.value;
  return "<no " + name + ">";
}

/// Whether any parameter's value contains `text`.
bool mentions(const syscall_line& l, const std::string& text) {
  for (auto& p : l.params)
    if (p.value.find(text) != std::string::npos)
      return true;
  return false;
}

/// The first line satisfying `pred`, or null.
const syscall_line* find(const std::vector<syscall_line>& lines,
                         const std::function<bool(const syscall_line&)>& pred) {
  for (auto& l : lines)
    if (pred(l))
      return &l;
  return nullptr;
}

/// One line as strace users read it, for the log.
std::string describe(const syscall_line& l) {
  std::ostringstream out;
  out << l.pid << "/" << l.tid << " " << l.comm << " " << l.syscall << "(";
  for (size_t i = 0; i < l.params.size(); ++i)
    out << (i ? ", " : "") << l.params[i].name << "=" << l.params[i].value;
  out << ") = ";
  if (l.unfinished)
    out << "? <unfinished>";
  else if (!l.errno_name.empty())
    out << "-1 " << l.errno_name;
  else
    out << l.ret;
  return out.str();
}

/// The first `n` lines, for the log.
std::string head(const std::vector<syscall_line>& lines, size_t n) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < n; ++i)
    out += "  " + describe(lines[i]) + "\n";
  return out;
}

// -- containers ---------------------------------------------------------------

/// A busybox container running `script` with sh -c, /etc/hostname in its
/// rootfs, and `files` (path under the rootfs → content). With a
/// `k8s_namespace`, annotated as containerd's CRI does (so that a selector
/// can pick it).
std::unique_ptr<runc_container> make_container(
  nw::test::runc_env& env, const std::string& id, const std::string& script,
  const std::vector<std::pair<std::string, std::string>>& files = {},
  const std::string& k8s_namespace = {}) {
  auto c = std::make_unique<runc_container>(
    env, nw::test::bundle_options{{"/bin/sh", "-c", script}, "nwtl-host"}, id);
  auto rootfs = c->bundle().dir() / "rootfs";
  std::ofstream{rootfs / "etc" / "hostname"} << "nwtl-host\n";
  for (auto& [path, content] : files)
    std::ofstream{rootfs / path} << content;
  if (!k8s_namespace.empty()) {
    auto& ann = c->bundle().config["annotations"];
    ann["io.kubernetes.cri.container-type"] = "container";
    ann["io.kubernetes.cri.sandbox-namespace"] = k8s_namespace;
    c->bundle().write_config();
  }
  return c;
}

/// Creates `c` and reads its pidfile (held by the agent until traceloop
/// and the other subscribers acked `added`); the `added` event, which the
/// tally got before the read returned if the start was held. The container
/// is not started.
std::optional<nw::container_event> create_held(live_graph& agent,
                                               runc_container& c) {
  c.create();
  c.read_pid();
  return agent.seen().wait(nw::event_kind::added, c.id(), 5000ms);
}

/// create_held(), then start.
std::optional<nw::container_event> launch(live_graph& agent,
                                          runc_container& c) {
  auto ev = create_held(agent, c);
  c.start();
  return ev;
}

/// Waits for the init's exit and the agent's `removed`.
bool finish(live_graph& agent, runc_container& c) {
  c.wait_exit();
  return agent.seen()
    .wait(nw::event_kind::removed, c.id(), 10000ms)
    .has_value();
}

/// Lets a container waiting for /tmp/go (in its rootfs) go on.
void let_go(runc_container& c) {
  std::ofstream{c.bundle().dir() / "rootfs" / "tmp" / "go"} << "go\n";
}

/// The script tail that waits for let_go().
constexpr const char* wait_for_go
  = "while [ ! -e /tmp/go ]; do sleep 0.02; done";

/// Runs throwaway containers until the agent reports one `added` (its
/// fanotify marks may be in place only a moment after the graph plays);
/// whether one was within 20 s.
bool agent_sees_containers(live_graph& agent, nw::test::runc_env& env) {
  auto deadline = runc_clock::now() + 20s;
  while (runc_clock::now() < deadline) {
    runc_container c{env, {{"/bin/true"}}, env.unique_id("nwtl-warm")};
    c.create();
    c.read_pid();
    c.start();
    auto seen = agent.seen().wait(nw::event_kind::added, c.id(), 2000ms);
    c.wait_exit();
    c.remove();
    if (seen)
      return true;
  }
  return false;
}

/// The agent's options for these tests: traceloop on for `sel`, no TC, no
/// pin.
nw::graph_options traceloop_options(nw::selector sel = {}) {
  nw::graph_options opts;
  opts.traceloop = std::move(sel);
  opts.tc = false;
  opts.poll_interval = 200ms;
  return opts;
}

/// A selector for the containers annotated with `k8s_namespace` only, so
/// that containers of tests running beside this one take no ring.
nw::selector namespace_selector(const std::string& k8s_namespace) {
  nw::selector sel;
  std::string error;
  if (!nw::parse_selector("namespace=" + k8s_namespace, sel, error))
    throw std::runtime_error{"selector: " + error};
  return sel;
}

std::string own_prefix() {
  return "nwtl-" + std::to_string(::getpid()) + "-";
}

/// The processes (pids) that made the lines.
std::set<uint32_t> pids_of(const std::vector<syscall_line>& lines) {
  std::set<uint32_t> out;
  for (auto& l : lines)
    out.insert(l.pid);
  return out;
}

/// Milliseconds since `t0`, for the log.
long long ms_since(runc_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(runc_clock::now()
                                                               - t0)
    .count();
}

/// A live agent tracing `sel` that has seen a container already, or the
/// test fails.
struct traced_agent {
  nw::test::runc_env& env;
  live_graph agent;

  traced_agent(nw::test::runc_env& e, nw::graph_options opts)
      : env(e), agent(std::move(opts)) {
    BOOST_TEST_REQUIRE(static_cast<bool>(agent.handles().traceloop),
                       "the traceloop actor did not start (see the log)");
    BOOST_TEST_REQUIRE(agent_sees_containers(agent, env),
                       "the agent saw no container within 20 s");
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_gone_containers_script_is_read_back_field_by_field) {
  nw::test::require_runc();
  auto t0 = runc_clock::now();
  nw::test::runc_env env;
  traced_agent a{env, traceloop_options()};
  auto& agent = a.agent;

  auto c
    = make_container(env, own_prefix() + "script",
                     "cat /etc/hostname; echo hello > /tmp/x; ls /nonexistent");
  auto ev = launch(agent, *c);
  BOOST_TEST_REQUIRE(ev.has_value(), "no `added` for " + c->id());
  BOOST_TEST(ev->info->held, "the start was held until traceloop acked");
  auto init = static_cast<uint32_t>(c->init_pid());
  BOOST_TEST_REQUIRE(finish(agent, *c), "no `removed` for " + c->id());
  // Post-mortem: the container is gone, its ring stays, listed as gone.
  BOOST_TEST_REQUIRE(listed_gone(agent, c->id()),
                     "the ring is not listed with live=false after `removed`");
  auto listed = list(agent);
  BOOST_TEST_REQUIRE(listed.ok(), listed.text());
  auto* info = ring_of(*listed.value, c->id());
  BOOST_TEST_REQUIRE(info != nullptr);
  BOOST_TEST(info->name == c->id());
  BOOST_TEST(info->mntns == ev->info->mntns);
  BOOST_TEST(info->bytes > 0u);

  auto dump = show(agent, c->id());
  BOOST_TEST_REQUIRE(dump.ok(), dump.text());
  auto& lines = dump.value->lines;
  BOOST_TEST_MESSAGE(lines.size()
                     << " lines, overwritten " << dump.value->overwritten
                     << ", lost " << dump.value->lost << "; the first 30:\n"
                     << head(lines, 30));
  BOOST_TEST(dump.value->ring.id == c->id());
  BOOST_TEST(!dump.value->ring.live);
  BOOST_TEST(dump.value->overwritten == 0u);
  BOOST_TEST(dump.value->lost == 0u);
  BOOST_TEST_REQUIRE(!lines.empty());

  // cat's openat of /etc/hostname, succeeding.
  auto* open = find(lines, [](const syscall_line& l) {
    return l.syscall == "openat"
           && param(l, "filename") == R"("/etc/hostname")";
  });
  BOOST_TEST_REQUIRE(open != nullptr, "no openat of /etc/hostname");
  BOOST_TEST(open->comm == "cat");
  BOOST_TEST(param(*open, "dfd") == "AT_FDCWD");
  BOOST_TEST(!open->unfinished);
  BOOST_TEST(open->ret >= 0);
  BOOST_TEST(open->errno_name.empty());

  // The shell's echo: write(fd=1, buf="hello\n", count=6) = 6.
  auto* write = find(lines, [](const syscall_line& l) {
    return l.syscall == "write" && param(l, "buf") == R"("hello\n")";
  });
  BOOST_TEST_REQUIRE(write != nullptr, "no write of \"hello\\n\"");
  BOOST_TEST(param(*write, "fd") == "1");
  BOOST_TEST(param(*write, "count") == "6");
  BOOST_TEST(!write->unfinished);
  BOOST_TEST(write->ret == 6);
  BOOST_TEST(write->errno_name.empty());
  BOOST_TEST(write->comm == "sh");
  BOOST_TEST(write->pid == init, "the echo is the init shell's builtin");

  // ls of /nonexistent fails with ENOENT.
  auto* enoent = find(lines, [](const syscall_line& l) {
    return l.errno_name == "ENOENT" && mentions(l, R"("/nonexistent")");
  });
  BOOST_TEST_REQUIRE(enoent != nullptr, "no ENOENT on /nonexistent");
  BOOST_TEST(enoent->comm == "ls");
  BOOST_TEST(enoent->ret == -1);
  BOOST_TEST(!enoent->unfinished);
  BOOST_TEST(!enoent->errno_text.empty());

  // The script's processes by name; the init's last call is its
  // exit_group, which never returns.
  std::set<std::string> comms;
  for (auto& l : lines)
    comms.insert(l.comm);
  for (auto name : {"sh", "cat", "ls"})
    BOOST_TEST(comms.count(name) == 1u, "no line of " << name);
  const syscall_line* last_of_init = nullptr;
  for (auto& l : lines)
    if (l.pid == init)
      last_of_init = &l;
  BOOST_TEST_REQUIRE(last_of_init != nullptr, "no line of the init");
  BOOST_TEST(last_of_init->syscall == "exit_group");
  BOOST_TEST(last_of_init->unfinished);

  // Nothing of any other process: not the agent's (this process: the
  // graph runs in it), and besides the init only processes it forked.
  // Every comm is one the container's processes have: runc's init before
  // its execve, busybox's applets (a forked applet re-executes
  // /proc/self/exe: `exe` until it names itself), and "" for an exit
  // whose enter was made before the ring was routed (or by a new child
  // before it was traced: fork's return in the child).
  const std::set<std::string> expected_comms{"runc:[2:INIT]", "sh", "exe",
                                             "cat",           "ls", ""};
  auto self = static_cast<uint32_t>(::getpid());
  size_t forks = 0;
  for (auto& l : lines) {
    BOOST_TEST(l.pid != self, "a line of the agent: " << describe(l));
    BOOST_TEST(expected_comms.count(l.comm) == 1u,
               "a line of another process: " << describe(l));
    if ((l.syscall == "clone" || l.syscall == "clone3" || l.syscall == "fork"
         || l.syscall == "vfork")
        && !l.unfinished && l.ret > 0)
      ++forks;
  }
  auto pids = pids_of(lines);
  BOOST_TEST(pids.count(init) == 1u);
  BOOST_TEST(pids.size() >= 2u, "cat ran in a child of the init");
  BOOST_TEST(pids.size() - 1 <= forks, pids.size() - 1
                                         << " processes besides the init, "
                                         << forks << " forks");

  // The container's first syscalls: runc's init, routed while it waited
  // on the exec fifo (the ring existed before `runc start`), answers the
  // start by writing "0" to the fifo, then execs the entrypoint.
  auto* exec = find(lines, [&](const syscall_line& l) {
    return l.pid == init && l.syscall == "execve"
           && param(l, "filename") == R"("/bin/sh")";
  });
  BOOST_TEST_REQUIRE(exec != nullptr, "no execve of the entrypoint");
  BOOST_TEST(exec->comm == "runc:[2:INIT]");
  BOOST_TEST(!exec->unfinished);
  BOOST_TEST(exec->ret == 0);
  auto* fifo = find(lines, [&](const syscall_line& l) {
    return l.pid == init && l.comm == "runc:[2:INIT]" && l.syscall == "write"
           && param(l, "buf") == R"("0")" && l.ret == 1;
  });
  BOOST_TEST(fifo != nullptr, "no write of \"0\" to runc's exec fifo");
  if (fifo != nullptr)
    BOOST_TEST(fifo->ts_ns <= exec->ts_ns);
  BOOST_TEST(lines.front().ts_ns <= exec->ts_ns);
  BOOST_TEST(lines.front().pid == init,
             "the first line is runc's init: " << describe(lines.front()));
  c->remove();
  BOOST_TEST_MESSAGE("field by field: " << ms_since(t0) << " ms");
}

BOOST_AUTO_TEST_CASE(two_containers_at_once_each_ring_holds_only_its_own) {
  nw::test::require_runc();
  auto t0 = runc_clock::now();
  nw::test::runc_env env;
  traced_agent a{env, traceloop_options()};
  auto& agent = a.agent;

  // Ids sharing the prefix PREFIX-pair-, for the ambiguity below.
  auto pair = own_prefix() + "pair-";
  std::vector<std::unique_ptr<runc_container>> cs;
  for (std::string x : {"a", "b"})
    cs.push_back(make_container(env, pair + x,
                                "cat /etc/marker-" + x + "; " + wait_for_go
                                  + "; echo bye-" + x,
                                {{"etc/marker-" + x, "marker-" + x + "\n"}}));
  // Both created (and routed) before either starts; both run until both
  // are told to go.
  for (auto& c : cs)
    BOOST_TEST_REQUIRE(create_held(agent, *c).has_value(),
                       "no `added` for " + c->id());
  for (auto& c : cs)
    c->start();
  for (auto& c : cs)
    let_go(*c);
  for (auto& c : cs)
    BOOST_TEST_REQUIRE(finish(agent, *c), "no `removed` for " + c->id());

  std::vector<std::set<uint32_t>> pids;
  for (size_t i = 0; i < cs.size(); ++i) {
    auto& c = *cs[i];
    auto& other = *cs[1 - i];
    std::string x = i == 0 ? "a" : "b";
    std::string y = i == 0 ? "b" : "a";
    auto dump = show(agent, c.id());
    BOOST_TEST_REQUIRE(dump.ok(), dump.text());
    auto& lines = dump.value->lines;
    BOOST_TEST_MESSAGE(c.id() << ": " << lines.size() << " lines");
    auto marker = "\"/etc/marker-" + x + "\"";
    BOOST_TEST(find(lines,
                    [&](const syscall_line& l) {
                      return l.syscall == "openat"
                             && param(l, "filename") == marker && l.ret >= 0;
                    })
                 != nullptr,
               c.id() << ": no openat of " << marker);
    auto bye = "\"bye-" + x + "\\n\"";
    BOOST_TEST(find(lines,
                    [&](const syscall_line& l) {
                      return l.syscall == "write" && param(l, "buf") == bye
                             && l.ret == 6;
                    })
                 != nullptr,
               c.id() << ": no write of " << bye);
    for (auto& l : lines) {
      BOOST_TEST(!mentions(l, "marker-" + y),
                 c.id() << " holds the other's: " << describe(l));
      BOOST_TEST(!mentions(l, "bye-" + y),
                 c.id() << " holds the other's: " << describe(l));
      BOOST_TEST(l.pid != static_cast<uint32_t>(other.init_pid()),
                 c.id() << " holds the other's init: " << describe(l));
    }
    pids.push_back(pids_of(lines));
    BOOST_TEST(pids.back().count(static_cast<uint32_t>(c.init_pid())) == 1u);
  }
  for (auto pid : pids[0])
    BOOST_TEST(pids[1].count(pid) == 0u, "pid " << pid << " in both rings");

  // Bad input: an unknown name, an ambiguous prefix.
  auto unknown = show(agent, own_prefix() + "no-such-container");
  BOOST_TEST(unknown.is(nw::errc::unknown_container), unknown.text());
  BOOST_TEST(unknown.text().find(own_prefix() + "no-such-container")
               != std::string::npos,
             unknown.text());
  auto ambiguous = show(agent, pair);
  BOOST_TEST(ambiguous.is(nw::errc::ambiguous_container), ambiguous.text());
  for (auto& c : cs)
    BOOST_TEST(ambiguous.text().find(c->id()) != std::string::npos,
               ambiguous.text());
  BOOST_TEST_MESSAGE("unknown: " << unknown.text());
  BOOST_TEST_MESSAGE("ambiguous: " << ambiguous.text());

  // Delete frees the ring: gone from the list, unknown to show, its bytes
  // given back; the prefix is no longer ambiguous.
  auto before = tl_counters(agent);
  auto deleted = remove_ring(agent, cs[0]->id());
  BOOST_TEST_REQUIRE(deleted.ok(), deleted.text());
  BOOST_TEST(deleted.value->id == cs[0]->id());
  auto after = tl_counters(agent);
  BOOST_TEST(after["traceloop_rings_deleted"]
             == before["traceloop_rings_deleted"] + 1);
  BOOST_TEST(after["traceloop_rings"] + 1 == before["traceloop_rings"]);
  BOOST_TEST(after["traceloop_bytes"] + deleted.value->bytes
             == before["traceloop_bytes"]);
  auto listed = list(agent);
  BOOST_TEST_REQUIRE(listed.ok(), listed.text());
  BOOST_TEST(ring_of(*listed.value, cs[0]->id()) == nullptr);
  BOOST_TEST(ring_of(*listed.value, cs[1]->id()) != nullptr);
  auto again = show(agent, cs[0]->id());
  BOOST_TEST(again.is(nw::errc::unknown_container), again.text());
  BOOST_TEST(remove_ring(agent, cs[0]->id()).is(nw::errc::unknown_container));
  auto by_prefix = show(agent, pair);
  BOOST_TEST_REQUIRE(by_prefix.ok(), by_prefix.text());
  BOOST_TEST(by_prefix.value->ring.id == cs[1]->id());
  for (auto& c : cs)
    c->remove();
  BOOST_TEST_MESSAGE("two at once, bad input, delete: " << ms_since(t0)
                                                        << " ms");
}

BOOST_AUTO_TEST_CASE(a_ring_written_over_many_times_keeps_its_newest) {
  nw::test::require_runc();
  auto t0 = runc_clock::now();
  nw::test::runc_env env;
  traced_agent a{env, traceloop_options()};
  auto& agent = a.agent;

  // ~5 syscalls of ~100-200 bytes per iteration: far more than a ring
  // holds (128 KiB per CPU).
  auto c = make_container(env, own_prefix() + "flood",
                          "i=0; while [ $i -lt 10000 ]; do i=$((i+1)); "
                          "echo x > /dev/null; done; cat /etc/hostname");
  BOOST_TEST_REQUIRE(launch(agent, *c).has_value());
  auto init = static_cast<uint32_t>(c->init_pid());
  BOOST_TEST_REQUIRE(finish(agent, *c));
  BOOST_TEST_MESSAGE("flood ran: " << ms_since(t0) << " ms");
  auto dump = show(agent, c->id());
  BOOST_TEST_REQUIRE(dump.ok(), dump.text());
  auto& d = *dump.value;
  BOOST_TEST_MESSAGE(d.lines.size()
                     << " lines kept, " << d.overwritten
                     << " records overwritten, " << d.lost << " lost, ring "
                     << d.ring.bytes << " bytes; the last 5:\n"
                     << head(
                          std::vector<syscall_line>(
                            d.lines.end() - std::min<size_t>(5, d.lines.size()),
                            d.lines.end()),
                          5));
  BOOST_TEST(d.overwritten > 0u);
  BOOST_TEST(d.lost == 0u);
  BOOST_TEST_REQUIRE(!d.lines.empty());
  // The container wrote at least 10x what the ring holds: a line pairs at
  // most 4 records (enter, exit, 2 captures), so the ring holds at most
  // 4 x lines records, and 9x that were overwritten.
  BOOST_TEST(d.overwritten >= 9 * 4 * d.lines.size());
  // The newest survive: the final cat (the shell execs its last command:
  // the init itself), its exit_group unfinished, last of all.
  auto& last = d.lines.back();
  BOOST_TEST(last.syscall == "exit_group", describe(last));
  BOOST_TEST(last.unfinished);
  BOOST_TEST(last.pid == init);
  BOOST_TEST(last.comm == "cat");
  BOOST_TEST(find(d.lines,
                  [](const syscall_line& l) {
                    return l.syscall == "openat"
                           && param(l, "filename") == R"("/etc/hostname")";
                  })
               != nullptr,
             "the final cat's openat is gone");
  // The oldest went: of the loop's 10000 writes of "x\n", the ring kept
  // the last few hundred. (Rings are per CPU: records of a CPU the loop
  // did not run on, runc's init's say, may all still be there.)
  size_t xs = 0;
  for (auto& l : d.lines)
    xs += l.syscall == "write" && param(l, "buf") == R"("x\n")" ? 1 : 0;
  BOOST_TEST_MESSAGE(xs << " of the loop's 10000 writes kept");
  BOOST_TEST(xs > 0u);
  BOOST_TEST(xs < 1000u);
  // Oldest first.
  for (size_t i = 1; i < d.lines.size(); ++i)
    BOOST_TEST_REQUIRE(d.lines[i - 1].ts_ns <= d.lines[i].ts_ns);
  c->remove();
  BOOST_TEST_MESSAGE("overwrite: " << ms_since(t0) << " ms");
}

BOOST_AUTO_TEST_CASE(the_budget_evicts_the_ring_of_the_earliest_gone_first) {
  nw::test::require_runc();
  auto t0 = runc_clock::now();
  nw::test::runc_env env;
  // Only containers annotated with this namespace are traced: containers
  // of tests running beside this one take no ring from the budget.
  auto ns = "nwtl-budget-" + std::to_string(::getpid());
  auto script = std::string{"cat /etc/hostname; "} + wait_for_go;

  // One ring's bytes, as the agent lists them.
  uint64_t ring_bytes = 0;
  {
    traced_agent a{env, traceloop_options(namespace_selector(ns))};
    auto c = make_container(env, own_prefix() + "probe", "true", {}, ns);
    BOOST_TEST_REQUIRE(launch(a.agent, *c).has_value());
    BOOST_TEST_REQUIRE(finish(a.agent, *c));
    auto l = list(a.agent);
    BOOST_TEST_REQUIRE(l.ok(), l.text());
    auto* r = ring_of(*l.value, c->id());
    BOOST_TEST_REQUIRE(r != nullptr);
    ring_bytes = r->bytes;
    c->remove();
  }
  BOOST_TEST_REQUIRE(ring_bytes > 0u);
  BOOST_TEST_MESSAGE("one ring: " << ring_bytes << " bytes");

  auto opts = traceloop_options(namespace_selector(ns));
  opts.traceloop_budget = 2 * ring_bytes;
  traced_agent a{env, opts};
  auto& agent = a.agent;
  auto e1 = make_container(env, own_prefix() + "e1", script, {}, ns);
  auto e2 = make_container(env, own_prefix() + "e2", script, {}, ns);
  BOOST_TEST_REQUIRE(launch(agent, *e1).has_value());
  BOOST_TEST_REQUIRE(launch(agent, *e2).has_value());
  auto l = list(agent);
  BOOST_TEST_REQUIRE(l.ok(), l.text());
  BOOST_TEST(ring_of(*l.value, e1->id()) != nullptr);
  BOOST_TEST(ring_of(*l.value, e2->id()) != nullptr);

  // The budget is taken by live rings: a third container is not traced.
  auto refused = make_container(env, own_prefix() + "refused", "true", {}, ns);
  BOOST_TEST_REQUIRE(launch(agent, *refused).has_value());
  BOOST_TEST(tl_counters(agent)["traceloop_budget_refused"] == 1u);
  BOOST_TEST(show(agent, refused->id()).is(nw::errc::unknown_container));
  BOOST_TEST(finish(agent, *refused));

  // e2 goes first, then e1 (created first).
  let_go(*e2);
  BOOST_TEST_REQUIRE(finish(agent, *e2));
  BOOST_TEST_REQUIRE(listed_gone(agent, e2->id()));
  let_go(*e1);
  BOOST_TEST_REQUIRE(finish(agent, *e1));
  BOOST_TEST_REQUIRE(listed_gone(agent, e1->id()));
  BOOST_TEST(tl_counters(agent)["traceloop_rings_evicted"] == 0u);

  // A new container's ring evicts e2's, the one removed first.
  auto e3
    = make_container(env, own_prefix() + "e3", "cat /etc/hostname", {}, ns);
  BOOST_TEST_REQUIRE(launch(agent, *e3).has_value());
  BOOST_TEST_REQUIRE(finish(agent, *e3));
  auto c = tl_counters(agent);
  BOOST_TEST(c["traceloop_rings_evicted"] == 1u);
  BOOST_TEST(c["traceloop_rings_created"] == 3u);
  BOOST_TEST(c["traceloop_rings"] == 2u);
  BOOST_TEST(c["traceloop_bytes"] == 2 * ring_bytes);
  l = list(agent);
  BOOST_TEST_REQUIRE(l.ok(), l.text());
  std::string left;
  for (auto& r : *l.value)
    left += r.id + (r.live ? " (live) " : " (gone) ");
  BOOST_TEST_MESSAGE("rings left: " << left);
  BOOST_TEST(ring_of(*l.value, e1->id()) != nullptr, left);
  BOOST_TEST(ring_of(*l.value, e2->id()) == nullptr, left);
  BOOST_TEST(ring_of(*l.value, e3->id()) != nullptr, left);
  auto evicted = show(agent, e2->id());
  BOOST_TEST(evicted.is(nw::errc::unknown_container), evicted.text());
  // What is left still reads: e1's cat and e3's.
  for (auto* k : {e1.get(), e3.get()}) {
    auto d = show(agent, k->id());
    BOOST_TEST_REQUIRE(d.ok(), d.text());
    BOOST_TEST(find(d.value->lines,
                    [](const syscall_line& x) {
                      return x.syscall == "openat"
                             && param(x, "filename") == R"("/etc/hostname")";
                    })
                 != nullptr,
               k->id());
  }
  for (auto* k : {e1.get(), e2.get(), e3.get(), refused.get()})
    k->remove();
  BOOST_TEST_MESSAGE("budget: " << ms_since(t0) << " ms");
}
