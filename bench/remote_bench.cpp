// Remoting (issue 8): a controller's fan-out `ps` over 50 agents on loopback,
// and one node's event stream to a controller, over mutual TLS (the agent's
// transport) beside its peers in the same run: anonymous TLS (what
// `--insecure-loopback` runs), plain TCP (caf::io, the floor of the wire)
// and no network at all (the same actors in one actor system).
//
// The agents are node facades over registries holding made-up containers,
// each published on 127.0.0.1:0 from an actor system of its own (one CAF
// node per agent, as in a cluster), 50 per transport, all in this process:
// 150 agent processes on 2 cores would measure process scheduling more
// than the transport. (One system publishing all 50 would be one CAF node
// that BASP reaches over one connection; and over caf::openssl 0.17.6
// without the error-queue workaround of tls_wire_test's
// a_leaving_tls_peer_drops_no_other, a controller reaching two ports of
// one node often got no answer at all.) Each controller is an actor system
// of its own, as the CLI is, with the connector of
// runtime/agent/controller.hpp over its transport's middleman actor.
//
// - fan-out, first: a fresh controller's first fan_out_wait `list` over the
//   50 nodes, connecting to each (TCP, TLS and BASP handshakes). CAF's
//   middleman caches a connection per endpoint, so only the first pays.
// - fan-out, warm: the same request from a long-lived controller whose
//   connections are up; rounds alternate the transports, rotating order.
// - stream, snapshot: subscribe a fresh sink to a facade whose registry
//   holds `--snapshot` containers; from the subscribe until the sink has
//   them all.
// - stream, live: then add `--live` containers to that registry (all
//   requests at once) and, once added, remove them; from the first add
//   until the sink has all 2 x `--live` events.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/publish.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "bench/harness.hpp"
#include "messages/errors.hpp"
#include "runtime/agent/certs.hpp"
#include "runtime/agent/controller.hpp"
#include "tests/support/temp_dir.hpp"

namespace nw::bench {

namespace {

using namespace std::chrono_literals;

constexpr auto deadline = std::chrono::seconds{30};

// -- transports ---------------------------------------------------------------

enum class transport { mutual_tls, anonymous_tls, tcp, local };

constexpr transport networked[]
  = {transport::mutual_tls, transport::anonymous_tls, transport::tcp};

constexpr transport all_transports[]
  = {transport::mutual_tls, transport::anonymous_tls, transport::tcp,
     transport::local};

const char* name(transport t) {
  switch (t) {
    case transport::mutual_tls:
      return "mutual TLS";
    case transport::anonymous_tls:
      return "anonymous TLS";
    case transport::tcp:
      return "plain TCP";
    default:
      return "in-process";
  }
}

bool is_tls(transport t) {
  return t == transport::mutual_tls || t == transport::anonymous_tls;
}

/// An actor system for `t`: the agent's (`server`, node.crt) or a
/// controller's (client.crt) side.
std::unique_ptr<caf::actor_system_config> make_config(transport t, bool server,
                                                      const tls_files& files,
                                                      const std::string& policy,
                                                      size_t workers) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  configure(*cfg, policy);
  cfg->set("scheduler.max-threads", workers);
  cfg->set("logger.file-verbosity", caf::atom("quiet"));
  cfg->set("logger.console-verbosity", caf::atom("quiet"));
  cfg->load<caf::io::middleman>();
  if (is_tls(t))
    cfg->load<caf::openssl::manager>();
  // Anonymous TLS: no openssl_* field set (any one turns on mutual auth).
  if (t == transport::mutual_tls) {
    cfg->openssl_certificate = server ? files.node_cert : files.client_cert;
    cfg->openssl_key = server ? files.node_key : files.client_key;
    cfg->openssl_cafile = files.ca_cert;
  }
  return cfg;
}

struct system_box {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;

  system_box(transport t, bool server, const tls_files& files,
             const std::string& policy, size_t workers = worker_threads)
      : cfg(make_config(t, server, files, policy, workers)),
        sys(std::make_unique<caf::actor_system>(*cfg)) {}

  ~system_box() {
    sys.reset(); // before its config
  }
};

// -- the agents ---------------------------------------------------------------

/// A node facade over its own registry.
struct agent {
  registry_actor registry;
  node_actor facade;
  uint16_t port = 0;
};

agent spawn_agent(caf::actor_system& sys, transport t) {
  agent a;
  a.registry = spawn_registry(sys, registry_config{});
  node_config ncfg;
  ncfg.registry = a.registry;
  a.facade = spawn_node(sys, ncfg);
  if (t == transport::local)
    return a;
  auto port = is_tls(t) ? caf::openssl::publish(a.facade, 0, "127.0.0.1", true)
                        : caf::io::publish(a.facade, 0, "127.0.0.1", true);
  if (!port)
    fail("publish: " + sys.render(port.error()));
  a.port = *port;
  return a;
}

/// Adds `xs` to `reg`, all requests at once; blocks until all are in.
void add_all(caf::actor_system& sys, const registry_actor& reg,
             const std::vector<container_info>& xs) {
  caf::scoped_actor self{sys};
  for (auto& x : xs)
    self->request(reg, deadline, add_atom::value, x)
      .receive(
        [](add_result& r) {
          if (r.duplicate)
            fail("duplicate add");
        },
        [&](caf::error& err) { fail("add: " + sys.render(err)); });
}

/// The servers of one transport. Every agent of the fan-out is an actor
/// system of its own, as an agent process is: one CAF node, one published
/// facade (one worker each: 50 systems share 2 cores). The stream's node is
/// one more, with the agent's 2 workers; its registry holds the snapshot.
/// The in-process floor has one system for everything (its controller's).
struct servers {
  std::vector<std::unique_ptr<system_box>> boxes;
  std::vector<agent> nodes;
  std::unique_ptr<system_box> stream_box;
  agent stream;

  servers(transport t, const tls_files& files, const std::string& policy,
          size_t node_count, size_t per_node, size_t snapshot_size) {
    stream_box = std::make_unique<system_box>(t, true, files, policy);
    for (size_t i = 0; i < node_count; ++i) {
      if (t != transport::local)
        boxes.push_back(
          std::make_unique<system_box>(t, true, files, policy, size_t{1}));
      auto& sys = t == transport::local ? *stream_box->sys : *boxes.back()->sys;
      nodes.push_back(spawn_agent(sys, t));
      std::vector<container_info> xs;
      for (size_t j = 0; j < per_node; ++j)
        xs.push_back(sample_container(i * per_node + j, 10));
      add_all(sys, nodes.back().registry, xs);
    }
    auto& sys = *stream_box->sys;
    stream = spawn_agent(sys, t);
    std::vector<container_info> xs;
    for (size_t j = 0; j < snapshot_size; ++j)
      xs.push_back(sample_container(j, 100));
    add_all(sys, stream.registry, xs);
  }

  caf::actor_system& stream_sys() {
    return *stream_box->sys;
  }

  ~servers() {
    auto stop = [](agent& a) {
      caf::anon_send_exit(a.facade, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(a.registry, caf::exit_reason::user_shutdown);
    };
    for (auto& a : nodes)
      stop(a);
    stop(stream);
    boxes.clear();
    stream_box.reset();
  }
};

// -- the controllers ----------------------------------------------------------

using connect_map = std::map<uint16_t, node_actor>;

/// The floor's connector: hands out the local facades by port index.
connector_actor::behavior_type local_connector(connector_actor::pointer,
                                               std::shared_ptr<connect_map> m) {
  return {
    [m](caf::connect_atom, const std::string&,
        uint16_t port) -> caf::result<node_actor> {
      auto i = m->find(port);
      if (i == m->end())
        return make_error(errc::bad_input, "no such local node");
      return i->second;
    },
  };
}

/// A controller: its own actor system (the servers' one for `local`) and a
/// connector over its transport.
struct controller {
  std::unique_ptr<system_box> box; // null for `local`
  caf::actor_system* sys = nullptr;
  connector_actor conn;
  std::vector<endpoint> nodes;
  endpoint stream_at;

  controller(transport t, const tls_files& files, const std::string& policy,
             servers& s) {
    if (t == transport::local) {
      sys = &s.stream_sys();
      auto m = std::make_shared<connect_map>();
      // Made-up ports: the index, then the stream's facade.
      uint16_t k = 1;
      for (auto& a : s.nodes) {
        (*m)[k] = a.facade;
        nodes.push_back(endpoint{"local", k++});
      }
      (*m)[k] = s.stream.facade;
      stream_at = endpoint{"local", k++};
      conn = sys->spawn(local_connector, m);
      return;
    }
    box = std::make_unique<system_box>(t, false, files, policy);
    sys = box->sys.get();
    conn = spawn_connector(*sys,
                           is_tls(t) ? sys->openssl_manager().actor_handle()
                                     : sys->middleman().actor_handle(),
                           deadline);
    for (auto& a : s.nodes)
      nodes.push_back(endpoint{"127.0.0.1", a.port});
    stream_at = endpoint{"127.0.0.1", s.stream.port};
  }

  ~controller() {
    caf::anon_send_exit(conn, caf::exit_reason::user_shutdown);
  }

  /// One fan-out `list` over every node; its wall time in ns.
  double fan_out(size_t per_node) {
    auto t0 = clock_type::now();
    auto rs = fan_out_wait<std::vector<container_event>>(
      *sys, conn, nodes, deadline, list_atom::value, selector{}, false);
    auto t1 = clock_type::now();
    for (auto& r : rs) {
      if (!r.value)
        fail("fan-out: " + sys->render(r.value.error()));
      if (r.value->size() != per_node)
        fail("fan-out: " + r.node + " listed " + std::to_string(r.value->size())
             + " containers");
    }
    return ns_between(t0, t1);
  }

  /// The facade at `at`, through the connector (connecting if need be).
  node_actor facade(const endpoint& at) {
    caf::scoped_actor self{*sys};
    node_actor out;
    self->request(conn, deadline, caf::connect_atom::value, at.host, at.port)
      .receive([&](node_actor& x) { out = std::move(x); },
               [&](caf::error& err) { fail("connect: " + sys->render(err)); });
    return out;
  }
};

// -- streams ------------------------------------------------------------------

using done_promise = std::shared_ptr<std::promise<clock_type::time_point>>;

struct sink_state {
  size_t seen = 0;
  static inline const char* name = "nw.bench.sink";
};

/// Counts events; notes the time the `first`-th (the snapshot's last) and
/// the `last`-th arrive.
event_sink_actor::behavior_type
counting_sink(event_sink_actor::stateful_pointer<sink_state> self, size_t first,
              done_promise first_done, size_t last, done_promise last_done) {
  return {
    [=](event_atom, const container_event&) {
      auto n = ++self->state.seen;
      if (n == first)
        first_done->set_value(clock_type::now());
      if (n == last)
        last_done->set_value(clock_type::now());
    },
  };
}

clock_type::time_point wait_done(std::future<clock_type::time_point>& f,
                                 const char* what) {
  if (f.wait_for(deadline) != std::future_status::ready)
    fail(std::string{what} + ": the sink missed events");
  return f.get();
}

/// Subscribes a fresh sink (in the controller's system) to `facade`; blocks
/// until the facade answers. Returns the snapshot size.
uint64_t subscribe(caf::actor_system& sys, const node_actor& facade,
                   const event_sink_actor& sink) {
  caf::scoped_actor self{sys};
  uint64_t n = 0;
  self
    ->request(facade, deadline, subscribe_atom::value, selector{}, false, sink)
    .receive([&](uint64_t x) { n = x; },
             [&](caf::error& err) { fail("subscribe: " + sys.render(err)); });
  return n;
}

/// Adds all of `xs` to `reg` at once (from an actor of the servers'
/// system), then, once every add is answered, removes them all.
void drive(caf::actor_system& sys, registry_actor reg,
           std::shared_ptr<const std::vector<container_info>> xs) {
  sys.spawn([reg, xs](caf::event_based_actor* self) {
    auto left = std::make_shared<size_t>(xs->size());
    auto on_err = [](caf::error&) { fail("live: add or remove failed"); };
    for (auto& x : *xs)
      self->request(reg, deadline, add_atom::value, x)
        .then(
          [=](add_result&) {
            if (--*left > 0)
              return;
            for (auto& y : *xs)
              self->request(reg, deadline, remove_atom::value, y.id)
                .then(
                  [](bool found) {
                    if (!found)
                      fail("live: remove of an unknown id");
                  },
                  on_err);
          },
          on_err);
  });
}

/// One stream round's durations (ns).
struct stream_times {
  /// From the subscribe until the sink holds the whole snapshot.
  double snapshot = 0;
  /// From the first add until the sink holds every added and removed event.
  double live = 0;
};

/// Subscribes a fresh sink (in the controller's system) to the stream's
/// facade; once the snapshot is in, adds `n` containers and removes them.
stream_times stream_round(controller& c, servers& s, const node_actor& facade,
                          size_t snapshot_size, size_t n, uint64_t first_id) {
  auto snap_done = std::make_shared<std::promise<clock_type::time_point>>();
  auto live_done = std::make_shared<std::promise<clock_type::time_point>>();
  auto snap_f = snap_done->get_future();
  auto live_f = live_done->get_future();
  auto sink = c.sys->spawn(counting_sink, snapshot_size, snap_done,
                           snapshot_size + 2 * n, live_done);
  auto xs = std::make_shared<std::vector<container_info>>();
  for (size_t i = 0; i < n; ++i)
    xs->push_back(sample_container(first_id + i, 100));
  stream_times out;
  auto t0 = clock_type::now();
  if (subscribe(*c.sys, facade, sink) != snapshot_size)
    fail("snapshot: wrong size");
  out.snapshot = ns_between(t0, wait_done(snap_f, "snapshot"));
  t0 = clock_type::now();
  drive(s.stream_sys(), s.stream.registry, std::move(xs));
  out.live = ns_between(t0, wait_done(live_f, "live"));
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  return out;
}

/// Bytes of one serialized `added` event (BASP's framing not counted).
size_t event_bytes(caf::actor_system& sys) {
  container_event ev;
  ev.seq = 12345;
  ev.ts_ns = 1700000000000000000ULL;
  ev.info = sample_container(7, 100);
  std::vector<char> buf;
  caf::binary_serializer out{sys, buf};
  if (auto err = out(ev))
    fail("serialize: " + sys.render(err));
  return buf.size();
}

// -- output -------------------------------------------------------------------

std::string fmt_events(double per_s, double bytes) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.1f k ev/s (%.1f MB/s)", per_s / 1e3,
                per_s * bytes / 1e6);
  return buf;
}

/// A row of event rates from per-round durations of `events` events.
void rate_row(const std::string& bench, const std::string& what,
              const samples& ns, double events, double bytes) {
  auto rate = [&](double q) { return events / (ns.quantile(q) / 1e9); };
  row(bench, what, fmt_events(rate(0.5), bytes),
      printf_string("%.1f", rate(0.9) / 1e3) + " .. "
        + printf_string("%.1f k ev/s", rate(0.1) / 1e3),
      ns.size());
}

/// A row of per-round ratios a / b (durations: > 1 means a is slower).
void ratio_row(const std::string& bench, const std::string& what,
               const std::vector<double>& a, const std::vector<double>& b) {
  samples r;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    r.add(a[i] / b[i]);
  row(bench, what, fmt_ratio(r.median()),
      fmt_ratio(r.quantile(0.1)) + " .. " + fmt_ratio(r.quantile(0.9)),
      r.size());
}

size_t size_arg(int argc, char** argv, const char* name, size_t fallback) {
  auto n = std::strtoul(option_arg(argc, argv, name, "").c_str(), nullptr, 10);
  return n > 0 ? n : fallback;
}

std::string loadavg() {
  char buf[64] = "?";
  if (auto* f = std::fopen("/proc/loadavg", "r")) {
    if (!std::fgets(buf, sizeof(buf), f))
      buf[0] = 0;
    std::fclose(f);
  }
  std::string s{buf};
  auto cut = s.find(' ', s.find(' ', s.find(' ') + 1) + 1);
  return s.substr(0, cut);
}

} // namespace

int run(int argc, char** argv) {
  auto policy = policy_arg(argc, argv);
  auto rounds = rounds_arg(argc, argv, 200);
  auto cold_rounds = size_arg(argc, argv, "--cold", 10);
  auto stream_rounds = size_arg(argc, argv, "--stream-rounds", 30);
  auto node_count = size_arg(argc, argv, "--nodes", 50);
  auto per_node = size_arg(argc, argv, "--containers", 20);
  auto snapshot_size = size_arg(argc, argv, "--snapshot", 2000);
  auto live_size = size_arg(argc, argv, "--live", 500);
  auto load_before = loadavg();
  auto t_start = clock_type::now();

  test::temp_dir dir{"nw-remote-bench"};
  // fail() exits: the keys go with the directory then too.
  static std::string dir_path;
  dir_path = dir.path().string();
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(dir_path, ignored);
  });
  std::string error;
  if (!init_certs(dir.path().string(), false, error))
    fail("certs init: " + error);
  auto files = tls_paths(dir.path().string());

  // The agents of every transport, alive for the whole run.
  std::map<transport, std::unique_ptr<servers>> srv;
  for (auto t : all_transports)
    srv[t] = std::make_unique<servers>(t, files, policy, node_count, per_node,
                                       snapshot_size);

  auto bench = "remote fan-out `ps` (" + std::to_string(node_count)
               + " nodes x " + std::to_string(per_node) + ")";

  // -- first fan-out: a fresh controller each time ---------------------------
  std::map<transport, samples> cold;
  std::map<transport, std::vector<double>> cold_seq;
  for (size_t r = 0; r < cold_rounds; ++r)
    for (size_t k = 0; k < 3; ++k) {
      auto t = networked[(r + k) % 3];
      controller c{t, files, policy, *srv[t]};
      auto ns = c.fan_out(per_node);
      cold[t].add(ns);
      cold_seq[t].push_back(ns);
    }

  // -- warm fan-out -----------------------------------------------------------
  std::map<transport, std::unique_ptr<controller>> ctl;
  for (auto t : all_transports) {
    ctl[t] = std::make_unique<controller>(t, files, policy, *srv[t]);
    ctl[t]->fan_out(per_node); // connects
  }
  std::map<transport, samples> warm;
  std::map<transport, std::vector<double>> warm_seq;
  for (size_t r = 0; r < rounds; ++r)
    for (size_t k = 0; k < 4; ++k) {
      auto t = all_transports[(r + k) % 4];
      auto ns = ctl[t]->fan_out(per_node);
      warm[t].add(ns);
      warm_seq[t].push_back(ns);
    }

  // -- streams ----------------------------------------------------------------
  std::map<transport, node_actor> stream_facade;
  for (auto t : all_transports)
    stream_facade[t] = ctl[t]->facade(ctl[t]->stream_at);
  std::map<transport, samples> snap, live;
  std::map<transport, std::vector<double>> snap_seq, live_seq;
  // Ids above the snapshot's (mount namespaces must not collide).
  uint64_t next_id = uint64_t{1} << 20;
  for (size_t r = 0; r < stream_rounds; ++r)
    for (size_t k = 0; k < 4; ++k) {
      auto t = all_transports[(r + k) % 4];
      auto x = stream_round(*ctl[t], *srv[t], stream_facade[t], snapshot_size,
                            live_size, next_id);
      next_id += live_size;
      snap[t].add(x.snapshot);
      snap_seq[t].push_back(x.snapshot);
      live[t].add(x.live);
      live_seq[t].push_back(x.live);
    }

  auto bytes = static_cast<double>(event_bytes(*ctl[transport::tcp]->sys));

  // -- rows -------------------------------------------------------------------
  for (auto t : networked)
    time_row(bench,
             p99_case(std::string{name(t)} + ", first (connects)", cold[t]),
             cold[t]);
  for (auto t : all_transports)
    time_row(bench, p99_case(std::string{name(t)} + ", warm", warm[t]),
             warm[t]);
  ratio_row(bench, "warm: mutual TLS / anonymous TLS",
            warm_seq[transport::mutual_tls],
            warm_seq[transport::anonymous_tls]);
  ratio_row(bench, "warm: mutual TLS / plain TCP",
            warm_seq[transport::mutual_tls], warm_seq[transport::tcp]);
  ratio_row(bench, "warm: plain TCP / in-process", warm_seq[transport::tcp],
            warm_seq[transport::local]);
  ratio_row(bench, "first: mutual TLS / anonymous TLS",
            cold_seq[transport::mutual_tls],
            cold_seq[transport::anonymous_tls]);

  auto sbench = "remote event stream";
  auto snap_what = "snapshot of " + std::to_string(snapshot_size);
  auto live_what = "live " + std::to_string(live_size) + " adds + removes";
  for (auto t : all_transports)
    rate_row(sbench, snap_what + ", " + name(t), snap[t],
             static_cast<double>(snapshot_size), bytes);
  for (auto t : all_transports)
    rate_row(sbench, live_what + ", " + name(t), live[t],
             2.0 * static_cast<double>(live_size), bytes);
  ratio_row(sbench, "snapshot time: mutual TLS / anonymous TLS",
            snap_seq[transport::mutual_tls],
            snap_seq[transport::anonymous_tls]);
  ratio_row(sbench, "snapshot time: mutual TLS / plain TCP",
            snap_seq[transport::mutual_tls], snap_seq[transport::tcp]);
  ratio_row(sbench, "live time: mutual TLS / anonymous TLS",
            live_seq[transport::mutual_tls],
            live_seq[transport::anonymous_tls]);
  ratio_row(sbench, "live time: mutual TLS / in-process",
            live_seq[transport::mutual_tls], live_seq[transport::local]);

  ctl.clear();
  srv.clear();
  auto secs = ns_between(t_start, clock_type::now()) / 1e9;
  note("remote_bench: " + std::to_string(node_count)
       + " agents per transport, each an actor system (one CAF node, one "
         "worker) in this process; controllers in their own systems; "
       + std::to_string(static_cast<size_t>(bytes))
       + " B per serialized event; load " + load_before + " before, "
       + loadavg() + " after; " + printf_string("%.0f s", secs));
  return 0;
}

} // namespace nw::bench

int main(int argc, char** argv) {
  return nw::bench::run(argc, argv);
}
