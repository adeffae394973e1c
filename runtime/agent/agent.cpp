// `nodewatch agent`: the node agent. Runs until SIGINT or SIGTERM.
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/certs.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

/// The agent holds an fd per watched container and more: use what the hard
/// limit allows (CONTRACTS.md).
void raise_nofile_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
      log::warn("cannot raise RLIMIT_NOFILE");
  }
}

} // namespace

bool check_tc_program(const std::string& text, std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    error = "'" + text + "' is not FILE.o:SECTION (no ':')";
    return false;
  }
  auto file = text.substr(0, colon);
  auto section = text.substr(colon + 1);
  if (file.empty() || section.empty()) {
    error = "'" + text + "' is not FILE.o:SECTION ("
            + (file.empty() ? "no FILE" : "no SECTION") + ")";
    return false;
  }
  if (file.size() < 3 || file.compare(file.size() - 2, 2, ".o") != 0) {
    error = "'" + file + "' is not a .o file (FILE.o:SECTION)";
    return false;
  }
  // O_NONBLOCK: a FIFO named x.o must not hang the start.
  auto fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = "cannot read '" + file + "': " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  auto regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) {
    error = "'" + file + "' is not a regular file";
    return false;
  }
  return true;
}

bool check_iface_name(const std::string& name, std::string& error) {
  // What the kernel accepts (dev_valid_name): 1 to IFNAMSIZ - 1 bytes, not
  // "." or "..", no '/', ':' or whitespace.
  if (name.empty() || name.size() > 15) {
    error = "'" + name + "' is not an interface name (1 to 15 characters)";
    return false;
  }
  if (name == "." || name == "..") {
    error = "'" + name + "' is not an interface name";
    return false;
  }
  for (unsigned char ch : name)
    if (ch == '/' || ch == ':' || std::isspace(ch) || ch == '\0') {
      error
        = "'" + name + "' is not an interface name (no '/', ':' or whitespace)";
      return false;
    }
  return true;
}

bool parse_traceloop_flag(const std::string& text, std::optional<selector>& out,
                          std::string& error) {
  if (text == "none") {
    out.reset();
    return true;
  }
  if (text == "all") {
    out = selector{};
    return true;
  }
  // The empty selector would mean all: make that explicit.
  if (text.find_first_not_of(" \t;") == std::string::npos) {
    error = "'" + text + "' selects nothing in particular: say all, none "
            + "or a SELECTOR (key=v1,v2;key2=!v3)";
    return false;
  }
  selector sel;
  if (!parse_selector(text, sel, error))
    return false;
  out = std::move(sel);
  return true;
}

int run_agent(const agent_options& opts) {
  if (opts.transport.insecure_loopback && !is_loopback(opts.listen.host)) {
    log::error("--insecure-loopback listens on a loopback address only (it "
               "is unauthenticated): use 127.0.0.1, or drop "
               "--insecure-loopback for mutual TLS",
               {{"listen", opts.listen.host}});
    return 2;
  }
  std::shared_ptr<scenario> script;
  if (!opts.scenario.empty()) {
    script = std::make_shared<scenario>();
    std::string error;
    if (!load_scenario(opts.scenario, *script, error)) {
      log::error("cannot load the scenario", {{"error", error}});
      return 2;
    }
  }
  std::shared_ptr<record_writer> record;
  if (!opts.record.empty()) {
    std::string error;
    record = record_writer::open(opts.record, opts.record_max_bytes, error);
    if (!record) {
      log::error("cannot record: the --record file cannot be written",
                 {{"error", error}});
      return 2;
    }
    auto now = std::chrono::system_clock::now().time_since_epoch();
    record->header(record_header{
      "recorded by nodewatch agent",
      static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()),
      opts.state_roots});
    log::info("recording what the kernel answers",
              {{"file", opts.record},
               {"cap_bytes", std::to_string(opts.record_max_bytes)}});
  }
  raise_nofile_limit();
  // Block the stop signals before CAF starts its threads, so that they
  // inherit the mask and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  // The transport (CONTRACTS.md "Remote access"; docs/tls.md): TLS only,
  // configured before the actor system exists. Mutual TLS needs a usable
  // TLS directory; without one the agent runs and publishes nothing.
  const char* transport = nullptr;
  if (opts.transport.insecure_loopback) {
    // Anonymous TLS: no openssl_* field set (any one turns on mutual auth).
    openssl_error_queue_fix();
    cfg.load<caf::openssl::manager>();
    transport = "anonymous TLS, loopback only (--insecure-loopback)";
    log::warn("--insecure-loopback: the facade is unauthenticated; any local "
              "user can connect, and a connected peer can make the agent "
              "allocate a frame of any size");
  } else {
    std::string error;
    if (check_tls_dir(opts.transport.tls_dir, error)) {
      cfg.load<caf::openssl::manager>();
      auto files = tls_paths(opts.transport.tls_dir);
      cfg.openssl_certificate = files.node_cert;
      cfg.openssl_key = files.node_key;
      cfg.openssl_cafile = files.ca_cert;
      transport = "mutual TLS";
    } else {
      log::error("no usable TLS certificates: the node facade is NOT "
                 "published (the agent runs, but no client can reach it); "
                 "run `nodewatch certs init` (or copy the cluster's files "
                 "into the TLS directory) and restart the agent; "
                 "docs/tls.md",
                 {{"tls_dir", opts.transport.tls_dir}, {"error", error}});
    }
  }
  // CAF's default work-stealing workers spin while idle: ~7 ms of CPU per
  // container start on a 2-core node, competing with the runtime it holds
  // (bench/container_start_bench). Sharing workers sleep on a condition.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  add_nodewatch_types(cfg);
  caf::actor_system sys{cfg};
  graph_options gopts;
  gopts.script = script;
  gopts.real_kernel = !script;
  gopts.edge.host_root = opts.host_root;
  gopts.edge.runtime_paths = opts.runtime_paths;
  gopts.edge.use_pidfd = opts.use_pidfd;
  gopts.state_roots = opts.state_roots;
  gopts.pin_path = opts.pin_path;
  gopts.traceloop = opts.traceloop;
  gopts.traceloop_budget = opts.traceloop_budget;
  gopts.tc = opts.tc;
  gopts.tc_ifaces = opts.tc_ifaces;
  gopts.tc_program = opts.tc_program;
  gopts.record = record;
  gopts.poll_interval = opts.poll_interval;
  gopts.hold_deadline = opts.hold_deadline;
  gopts.print = true;
  gopts.fmt = opts.fmt;
  gopts.out = write_stdout;
  gopts.on_end = [] { log::info("scenario played to its end"); };
  auto spawned = spawn_graph(sys, gopts);
  if (!spawned) {
    log::error("cannot watch the node's container runtimes",
               {{"error", render(spawned.error())}});
    return 1;
  }
  auto& g = *spawned;
  if (g.traceloop)
    log::info(
      "traceloop on",
      {{"select", opts.traceloop->clauses.empty() ? std::string{"all"}
                                                  : to_string(*opts.traceloop)},
       {"memory_mib", std::to_string(opts.traceloop_budget >> 20)}});
  else if (script && opts.traceloop)
    log::info("no traceloop on a scripted kernel");
  int rc = 0;
  std::optional<uint16_t> published;
  if (transport != nullptr) {
    auto port = caf::openssl::publish(g.node, opts.listen.port,
                                      opts.listen.host.c_str(), true);
    if (!port) {
      log::error(
        "cannot listen",
        {{"listen", opts.listen.host + ":" + std::to_string(opts.listen.port)},
         {"error", render(port.error())}});
      rc = 1;
    } else {
      published = *port;
      log::info("node facade listening",
                {{"listen", opts.listen.host + ":" + std::to_string(*port)},
                 {"transport", transport}});
    }
  }
  if (rc == 0) {
    if (script)
      log::info("running on a scripted kernel", {{"scenario", opts.scenario}});
    g.play();
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log::info("stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    if (published) {
      // (caf/openssl/unpublish.hpp does not compile in 0.17.6: ask the
      // manager's actor directly.)
      caf::scoped_actor self{sys};
      self
        ->request(sys.openssl_manager().actor_handle(), std::chrono::seconds{5},
                  caf::unpublish_atom::value,
                  caf::actor_cast<caf::actor_addr>(g.node), *published)
        .receive([] {}, [](const caf::error&) {});
    }
  }
  g.shutdown();
  return rc;
}

} // namespace nw
