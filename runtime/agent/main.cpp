// `nodewatch`: the command line (CONTRACTS.md). Parsing only; each command
// lives in its own file.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "actors/initial_scan/initial_scan.hpp"
#include "runtime/agent/certs.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/agent/controller.hpp"
#include "runtime/kernel/log.hpp"

namespace {

nw::output_format to_format(const std::string& x) {
  if (x == "json")
    return nw::output_format::json;
  if (x == "wide")
    return nw::output_format::wide;
  return nw::output_format::table;
}

/// What --insecure-loopback's help says (CONTRACTS.md "Remote access").
constexpr const char* insecure_help
  = "anonymous TLS instead of mutual TLS, on a loopback address only: "
    "encrypted but UNAUTHENTICATED. Any local user can connect, and CAF's "
    "wire protocol lets a connected peer make the agent allocate a frame of "
    "any size. For tests and single-user machines; never another address";

} // namespace

int main(int argc, char** argv) {
  // A peer that vanishes while CAF writes to it (OpenSSL's plain socket
  // writes) must cost that connection an EPIPE, never the process.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"nodewatch: sees every container the node's OCI runtime "
               "creates, before its entrypoint runs"};
  app.require_subcommand(1);
  // Parent options may follow the subcommand: `nodewatch agent --config F`.
  app.fallthrough();
  app.set_config("--config", "/etc/nodewatch/nodewatch.conf",
                 "read options from FILE (INI/TOML; keys are the long flag "
                 "names, an [agent] section for the agent's); the default is "
                 "read only if it exists");
  // An unknown key in the config file is an error, not silently ignored.
  app.allow_config_extras(CLI::config_extras_mode::error);
  std::string node_text = "127.0.0.1:7415";
  app
    .add_option("--node", node_text,
                "the agents to talk to, HOST:PORT[,HOST:PORT...]: several "
                "are asked at once and their answers merged (a NODE column, "
                "a `node` field); `traceloop show` and `delete` take one")
    ->envname("NODEWATCH_NODES")
    ->capture_default_str();
  std::string tls_dir = nw::default_tls_dir();
  app
    .add_option("--tls-dir", tls_dir,
                "mutual TLS: the directory of ca.crt, node.crt/.key (the "
                "agent's) and client.crt/.key (clients'); make them with "
                "`nodewatch certs init` ($NODEWATCH_TLS_DIR when set)")
    ->type_name("DIR")
    ->capture_default_str();
  bool insecure = false;
  app.add_flag("--insecure-loopback", insecure, insecure_help);

  // -- agent ------------------------------------------------------------------
  auto agent = app.add_subcommand("agent", "run the node agent");
  std::string agent_output = "table";
  agent->add_option("-o,--output", agent_output, "event output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();
  std::string listen_text = "127.0.0.1:7415";
  agent
    ->add_option("--listen", listen_text,
                 "publish the node facade on HOST:PORT (port 0: any free "
                 "port, logged) with mutual TLS (--tls-dir); without usable "
                 "certificates the agent runs and publishes nothing")
    ->capture_default_str();
  // The agent's own copies of the global transport options, so that an
  // [agent] section of the config file can set them; they win over the
  // global ones.
  std::string agent_tls_dir;
  auto agent_tls_dir_opt
    = agent
        ->add_option("--tls-dir", agent_tls_dir,
                     "the TLS directory (as the global --tls-dir; the agent "
                     "presents node.crt/node.key)")
        ->type_name("DIR");
  bool agent_insecure = false;
  agent->add_flag("--insecure-loopback", agent_insecure, insecure_help);
  std::vector<std::string> runtime_paths;
  agent->add_option("--runtime-path", runtime_paths,
                    "also watch this OCI runtime binary (runc, crun, conmon "
                    "elsewhere than the usual paths); repeatable");
  std::string host_root;
  agent->add_option("--host-root", host_root,
                    "the host's / as the agent sees it (an agent in a "
                    "container with the host's / mounted there)");
  std::string pin_path = "/sys/fs/bpf/nodewatch";
  agent
    ->add_option("--pin-path", pin_path,
                 "pin the containers map (mount namespace -> container, "
                 "for other eBPF tools) at DIR/containers; DIR is made "
                 "root-only (0700) on a bpffs; '' pins nothing")
    ->type_name("DIR")
    ->capture_default_str();
  bool tc = true;
  agent->add_flag(
    "--tc,!--no-tc", tc,
    "TC, on by default: attach the shared TC dispatcher to every "
    "container's host-side veths, running the per-container network "
    "counters program (`nodewatch net`, `ps -o wide`) unless --tc-program "
    "names another; --no-tc attaches nothing (and `net` fails)");
  std::vector<std::string> tc_ifaces;
  agent
    ->add_option("--tc-iface", tc_ifaces,
                 "also attach the TC dispatcher to this host interface "
                 "(a name, 1-15 characters); repeatable; not with --no-tc")
    ->type_name("NAME");
  std::string tc_program;
  agent
    ->add_option("--tc-program", tc_program,
                 "run this BPF program (section SECTION of the object file "
                 "FILE.o, which must be readable) in the dispatcher's slot "
                 "instead of the per-container counters; not with --no-tc")
    ->type_name("FILE.o:SECTION");
  std::string traceloop_text = "all";
  agent
    ->add_option(
      "--traceloop", traceloop_text,
      "traceloop, the syscall flight recorder, on by default for every "
      "non-sandbox container: each gets an in-kernel ring of its latest "
      "syscalls from its start, read with `nodewatch traceloop show`; a "
      "gone container's ring is kept for post-mortem reads until deleted "
      "or evicted by --traceloop-memory. all, none (no traceloop at all; "
      "`traceloop` commands fail) or a SELECTOR (as for ps; sandboxes "
      "never). The real kernel only: ignored with --scenario")
    ->type_name("all|none|SELECTOR")
    ->capture_default_str();
  int64_t traceloop_mib = 256;
  agent
    ->add_option("--traceloop-memory", traceloop_mib,
                 "memory all traceloop rings may pin, in MiB (one ring: 128 "
                 "KiB per CPU); over it, gone containers' rings are evicted, "
                 "least recently gone first, and a new container is not "
                 "traced if only running ones' rings are left")
    ->type_name("MIB")
    ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
    ->capture_default_str();
  auto state_roots = nw::default_state_roots();
  agent
    ->add_option("--state-root", state_roots,
                 "at start, find the containers already running from this "
                 "runtime state root (runc's and crun's <root>/<id>/, one "
                 "level of namespaces below it for containerd's); "
                 "repeatable, replaces the defaults; '' scans nothing")
    ->capture_default_str();
  int64_t poll_interval = 1000;
  agent
    ->add_option("--poll-interval", poll_interval,
                 "how often the watched containers' init pids are checked "
                 "in /proc, in ms")
    ->check(CLI::Range(int64_t{10}, int64_t{60000}))
    ->capture_default_str();
  bool no_pidfd = false;
  agent->add_flag("--no-pidfd", no_pidfd,
                  "no pidfd per container's init: exits are seen only by the "
                  "/proc poller, up to --poll-interval late");
  std::string scenario;
  auto scenario_opt
    = agent
        ->add_option("--scenario", scenario,
                     "run on a scripted kernel playing FILE (see "
                     "docs/scenario-format.md) instead of the real one")
        ->check(CLI::ExistingFile);
  std::string record;
  agent
    ->add_option("--record", record,
                 "write every answer the real kernel gave the agent to FILE "
                 "as a scenario, for `nodewatch simulate FILE` "
                 "(docs/scenario-format.md)")
    ->excludes(scenario_opt);
  int64_t record_max_mib = 64;
  agent
    ->add_option("--record-max-mib", record_max_mib,
                 "stop recording (and keep running) once the record file "
                 "would grow past this")
    ->check(CLI::Range(int64_t{1}, int64_t{64}))
    ->capture_default_str();
  int64_t hold_deadline = 2000;
  agent
    ->add_option("--hold-deadline", hold_deadline,
                 "longest hold on a container's start, in ms")
    ->check(CLI::Range(int64_t{300}, int64_t{60000}))
    ->capture_default_str();
  std::string log_format = "text";
  agent->add_option("--log-format", log_format, "stderr log line format")
    ->check(CLI::IsMember({"text", "json"}))
    ->capture_default_str();

  // -- ps ---------------------------------------------------------------------
  auto ps = app.add_subcommand("ps", "list the agent's containers");
  bool ps_all = false;
  ps->add_flag("--all", ps_all, "also list sandbox (pause) containers");
  std::string ps_select;
  ps->add_option("--select", ps_select,
                 "SELECTOR: key=v1,v2;key2=!v3 with keys namespace, pod, "
                 "container, runtime");
  std::string ps_output = "table";
  ps->add_option("-o,--output", ps_output, "output format")
    ->check(CLI::IsMember({"table", "json", "wide"}))
    ->capture_default_str();

  // -- events -----------------------------------------------------------------
  auto events = app.add_subcommand(
    "events", "print the current containers as `added`, then live events");
  std::string events_select;
  events->add_option("--select", events_select, "SELECTOR, as for ps");
  bool events_all = false;
  events->add_flag("--all", events_all,
                   "also stream sandbox (pause) containers");
  std::string events_output = "table";
  events->add_option("-o,--output", events_output, "output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();

  // -- net --------------------------------------------------------------------
  auto net = app.add_subcommand(
    "net", "network counters per container, from the container's point of "
           "view (rx: into it, tx: out of it); fails if the agent runs "
           "with --no-tc");
  bool net_all = false;
  net->add_flag("--all", net_all, "also list sandbox (pause) containers");
  std::string net_select;
  net->add_option("--select", net_select, "SELECTOR, as for ps");
  std::string net_output = "table";
  net->add_option("-o,--output", net_output, "output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();

  // -- traceloop --------------------------------------------------------------
  auto traceloop = app.add_subcommand(
    "traceloop", "the agent's syscall rings, one per traced container "
                 "(live, or gone and kept for post-mortem reads); fails if "
                 "the agent runs with --traceloop none");
  traceloop->require_subcommand(1);
  auto tl_list = traceloop->add_subcommand(
    "list", "the rings the agent holds, in id order");
  std::string tl_list_output = "table";
  tl_list->add_option("-o,--output", tl_list_output, "output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();
  auto tl_show = traceloop->add_subcommand(
    "show", "read container C's ring, oldest syscall first, with the "
            "records overwritten and lost since it was created");
  std::string tl_show_c;
  tl_show
    ->add_option("C", tl_show_c,
                 "the container: full id, unique id prefix, or name; gone "
                 "containers too")
    ->required();
  std::string tl_show_output = "table";
  tl_show
    ->add_option("-o,--output", tl_show_output,
                 "output format; msgpack writes the whole read as one "
                 "msgpack map to stdout")
    ->check(CLI::IsMember({"table", "json", "msgpack"}))
    ->capture_default_str();
  auto tl_delete = traceloop->add_subcommand(
    "delete", "free container C's ring (a running C is no longer traced)");
  std::string tl_delete_c;
  tl_delete
    ->add_option("C", tl_delete_c,
                 "the container: full id, unique id prefix, or name")
    ->required();
  auto tl_start = traceloop->add_subcommand(
    "start", "trace the running containers matching SELECTOR and the new "
             "ones that match (replaces the agent's selection)");
  std::string tl_start_select;
  tl_start->add_option("SELECTOR", tl_start_select,
                       "as for ps; empty or `all`: every non-sandbox "
                       "container");
  auto tl_stop = traceloop->add_subcommand(
    "stop", "stop tracing every container; the rings stay for reading");

  // -- status -----------------------------------------------------------------
  auto status = app.add_subcommand(
    "status", "the agent's version, kernel, features (on/off) and counters "
              "(everything dropped, overwritten, late or failed)");
  std::string status_output = "table";
  status->add_option("-o,--output", status_output, "output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();

  // -- certs ------------------------------------------------------------------
  auto certs = app.add_subcommand(
    "certs", "the cluster's certificates for mutual TLS (docs/tls.md)");
  certs->require_subcommand(1);
  auto certs_init = certs->add_subcommand(
    "init", "make a new private CA and a node and a client certificate "
            "signed by it: ca.crt, ca.key, node.crt, node.key, client.crt, "
            "client.key in DIR (made 0700; keys 0600)");
  std::string certs_dir = nw::default_tls_dir();
  certs_init->add_option("--dir", certs_dir, "where to write them")
    ->type_name("DIR")
    ->capture_default_str();
  bool certs_force = false;
  certs_init->add_flag("--force", certs_force,
                       "replace existing files: a NEW CA, so every "
                       "certificate of the old one stops working");

  // -- simulate ---------------------------------------------------------------
  auto simulate = app.add_subcommand(
    "simulate", "run the agent on a scenario in virtual time and print the "
                "events (deterministic)");
  std::string simulate_file;
  simulate
    ->add_option("FILE", simulate_file, "scenario (JSON lines or msgpack)")
    ->required()
    ->check(CLI::ExistingFile);
  std::string simulate_output = "table";
  simulate->add_option("-o,--output", simulate_output, "output format")
    ->check(CLI::IsMember({"table", "json"}))
    ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  nw::client_options client;
  client.transport.tls_dir = tls_dir;
  client.transport.insecure_loopback = insecure;
  std::string error;
  // Only clients talk to a node; `agent`, `simulate` and `certs` ignore
  // --node.
  if (*ps || *events || *net || *traceloop || *status) {
    // HOST:PORT[,HOST:PORT...] (--node, else NODEWATCH_NODES): several
    // nodes are asked at once and their answers merged.
    client.nodes.clear();
    if (!nw::parse_node_list(node_text, client.nodes, error)) {
      nw::log::error("bad --node", {{"error", error}});
      return 2;
    }
    if (client.nodes.size() > 1 && (*tl_show || *tl_delete)) {
      nw::log::error("traceloop show and delete talk to one node: pass one "
                     "--node",
                     {{"node", node_text}});
      return 2;
    }
    if (!nw::check_client_transport(client, error)) {
      nw::log::error("bad --node", {{"error", error}});
      return 2;
    }
  }
  if (*agent) {
    nw::log::configure(log_format == "json" ? nw::log::format::json
                                            : nw::log::format::text);
    nw::agent_options opts;
    opts.fmt = to_format(agent_output);
    opts.scenario = scenario;
    opts.record = record;
    opts.record_max_bytes = static_cast<uint64_t>(record_max_mib) << 20;
    opts.hold_deadline = std::chrono::milliseconds{hold_deadline};
    opts.poll_interval = std::chrono::milliseconds{poll_interval};
    opts.use_pidfd = !no_pidfd;
    opts.host_root = host_root;
    opts.runtime_paths = runtime_paths;
    if (!pin_path.empty() && pin_path.front() != '/') {
      nw::log::error("--pin-path must be an absolute path",
                     {{"pin-path", pin_path}});
      return 2;
    }
    opts.pin_path = pin_path;
    // The agent's --tls-dir ([agent] in the config file), else the global
    // one, else the default.
    opts.transport.tls_dir
      = agent_tls_dir_opt->count() > 0 ? agent_tls_dir : tls_dir;
    opts.transport.insecure_loopback = agent_insecure || insecure;
    if (!tc && (!tc_ifaces.empty() || !tc_program.empty())) {
      nw::log::error("--tc-iface and --tc-program need TC: drop them or "
                     "--no-tc");
      return 2;
    }
    for (auto& name : tc_ifaces)
      if (!nw::check_iface_name(name, error)) {
        nw::log::error("bad --tc-iface", {{"error", error}});
        return 2;
      }
    if (!tc_program.empty() && !nw::check_tc_program(tc_program, error)) {
      nw::log::error("bad --tc-program", {{"error", error}});
      return 2;
    }
    if (!nw::parse_traceloop_flag(traceloop_text, opts.traceloop, error)) {
      nw::log::error("bad --traceloop", {{"error", error}});
      return 2;
    }
    opts.traceloop_budget = static_cast<uint64_t>(traceloop_mib) << 20;
    opts.tc = tc;
    opts.tc_ifaces = tc_ifaces;
    opts.tc_program = tc_program;
    for (auto& root : state_roots) {
      if (root.empty())
        continue;
      if (root.front() != '/') {
        nw::log::error("--state-root must be an absolute path",
                       {{"state-root", root}});
        return 2;
      }
      opts.state_roots.push_back(root);
    }
    if (!nw::parse_endpoint(listen_text, opts.listen, error, true)) {
      nw::log::error("bad --listen", {{"error", error}});
      return 2;
    }
    return nw::run_agent(opts);
  }
  if (*certs_init)
    return nw::run_certs_init(certs_dir, certs_force);
  if (*status)
    return nw::run_status(client, to_format(status_output));
  if (*ps)
    return nw::run_ps(client, ps_select, ps_all, to_format(ps_output));
  if (*events)
    return nw::run_events(client, events_select, events_all,
                          to_format(events_output));
  if (*net)
    return nw::run_net(client, net_select, net_all, to_format(net_output));
  if (*tl_list)
    return nw::run_traceloop_list(client, to_format(tl_list_output));
  if (*tl_show)
    return nw::run_traceloop_show(
      client, tl_show_c,
      tl_show_output == "json"      ? nw::dump_format::json
      : tl_show_output == "msgpack" ? nw::dump_format::msgpack
                                    : nw::dump_format::table);
  if (*tl_delete)
    return nw::run_traceloop_delete(client, tl_delete_c);
  if (*tl_start)
    return nw::run_traceloop_start(client, tl_start_select);
  if (*tl_stop)
    return nw::run_traceloop_stop(client);
  if (*simulate)
    return nw::run_simulate(simulate_file, to_format(simulate_output));
  return 2;
}
