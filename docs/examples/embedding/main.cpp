// nw_example_embedding: the nodewatch agent graph inside this program's own
// actor system (include/nodewatch/embed.hpp). It plays a scenario on the
// scripted kernel, subscribes to the node facade with a typed event sink,
// prints every event, and exits once the scenario has played (or after N
// events), within a deadline.
//
//   nw_example_embedding SCENARIO [--all] [--json] [--events N]
//                        [--deadline-ms MS]
//
// stdout: one line per event, `TYPE seq=N name=NAME id=ID pid=PID`, or with
// --json the JSON line of CONTRACTS.md ("Event lines"). stderr: what the
// program does, and the agent's own log lines. Exit 0 when the scenario
// ended (or N events came), 1 at the deadline, 2 on bad usage or when the
// agent cannot start.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/event_json.hpp"
#include "nodewatch/embed.hpp"

namespace {

// Private messages between the sink, the scenario's end and main(). Atoms
// need no registration; keep them in a namespace of your own.
using printed_atom = caf::atom_constant<caf::atom("ex_printed")>;
using ended_atom = caf::atom_constant<caf::atom("ex_ended")>;

struct sink_state {
  uint64_t printed = 0;
  static inline const char* name = "example.sink";
};

/// The typed event sink the facade streams to: the snapshot of matching
/// containers as `added` events first, then live events, in `seq` order.
nw::event_sink_actor::behavior_type
sink(nw::event_sink_actor::stateful_pointer<sink_state> self, caf::actor main,
     bool json) {
  return {
    [=](nw::event_atom, const nw::container_event& ev) {
      std::string line;
      if (json) {
        line = nw::to_json_line(ev);
      } else {
        line = std::string{nw::to_string(ev.kind)}
               + " seq=" + std::to_string(ev.seq) + " name=" + ev.info->name
               + " id=" + ev.info->id + " pid=" + std::to_string(ev.info->pid);
        if (!ev.reason.empty())
          line += " reason=\"" + ev.reason + "\"";
      }
      line += '\n';
      // One sink, one thread at a time: lines never interleave.
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
      // A typed actor may send() only to typed actors: main's scoped actor
      // is dynamically typed.
      caf::anon_send(main, printed_atom::value, ++self->state.printed);
    },
  };
}

int usage() {
  std::fprintf(stderr, "usage: nw_example_embedding SCENARIO [--all] [--json] "
                       "[--events N] [--deadline-ms MS]\n");
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  std::string scenario;
  bool all = false;
  bool json = false;
  uint64_t limit = 0; // 0: until the scenario ends
  long deadline_ms = 10000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--all") {
      all = true;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--events" && i + 1 < argc) {
      limit = std::strtoull(argv[++i], nullptr, 10);
      if (limit == 0)
        return usage();
    } else if (arg == "--deadline-ms" && i + 1 < argc) {
      deadline_ms = std::strtol(argv[++i], nullptr, 10);
      if (deadline_ms <= 0)
        return usage();
    } else if (!arg.empty() && arg.front() != '-' && scenario.empty()) {
      scenario = arg;
    } else {
      return usage();
    }
  }
  if (scenario.empty())
    return usage();

  // 1. The host's own actor system, with nodewatch's types registered. The
  // scheduler is ours to choose; `nodewatch agent` uses sharing workers,
  // which sleep when idle instead of spinning.
  caf::actor_system_config cfg;
  nw::embed::configure(cfg);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  // 2. The graph, paused: subscribe before the timeline plays, so that no
  // event goes by unseen.
  nw::embed::options opts;
  opts.scenario = scenario;
  opts.paused = true;
  opts.on_scenario_end = [main = caf::actor_cast<caf::actor>(self)] {
    // On an actor's thread: a message, never a blocking call.
    caf::anon_send(main, ended_atom::value);
  };
  auto agent = nw::embed::start(sys, opts);
  if (!agent) {
    std::fprintf(stderr, "cannot start the agent: %s\n",
                 nw::render(agent.error()).c_str());
    return 2;
  }
  nw::node_actor node = agent->node();

  // 3. Subscribe the sink through the facade: a typed request.
  auto printer = sys.spawn(sink, caf::actor_cast<caf::actor>(self), json);
  bool subscribed = false;
  self
    ->request(node, std::chrono::seconds{5}, nw::subscribe_atom::value,
              nw::selector{}, all, printer)
    .receive(
      [&](uint64_t snapshot) {
        subscribed = true;
        std::fprintf(stderr, "subscribed: %llu container(s) already there\n",
                     static_cast<unsigned long long>(snapshot));
      },
      [&](caf::error& err) {
        std::fprintf(stderr, "cannot subscribe: %s\n", nw::render(err).c_str());
      });
  if (!subscribed) {
    caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
    agent->stop();
    return 2;
  }
  agent->play();

  // 4. Wait: for N events, or for the scenario's end and then the events
  // still on their way (registry -> forwarder -> sink), or the deadline.
  auto deadline
    = std::chrono::steady_clock::now() + std::chrono::milliseconds{deadline_ms};
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  };
  uint64_t printed = 0;
  bool ended = false;
  bool done = false;
  bool late = false;
  while (!done && !late) {
    if (left().count() <= 0) {
      late = true;
      break;
    }
    self->receive(
      [&](printed_atom, uint64_t n) {
        printed = n;
        done = limit != 0 && printed >= limit;
      },
      [&](ended_atom) { ended = true; },
      caf::after(left()) >> [&] { late = true; });
    if (ended && limit == 0) {
      // A round trip through the facade to the registry: everything the
      // registry published before it answered is on its way to the sink.
      // Then wait until the sink has been quiet for a moment.
      self
        ->request(node, std::chrono::seconds{5}, nw::list_atom::value,
                  nw::selector{}, true)
        .receive([](std::vector<nw::container_event>&) {}, [](caf::error&) {});
      for (bool quiet = false; !quiet;)
        self->receive([&](printed_atom, uint64_t n) { printed = n; },
                      caf::after(std::chrono::milliseconds{200}) >>
                        [&] { quiet = true; });
      done = true;
    }
  }

  // 5. Another typed request: what runs in this agent.
  self->request(node, std::chrono::seconds{5}, nw::status_atom::value)
    .receive(
      [&](const nw::node_status& st) {
        std::string on;
        for (auto& [name, enabled] : st.features)
          if (enabled)
            on += (on.empty() ? "" : ",") + name;
        std::fprintf(stderr, "status: version %s, features on: %s\n",
                     st.version.c_str(), on.c_str());
      },
      [](caf::error&) {});
  std::fprintf(stderr, "%s: %llu event(s) printed\n",
               late ? "deadline passed" : "done",
               static_cast<unsigned long long>(printed));

  // 6. Stop the graph before the actor system goes (its destructor waits
  // for every actor), then our own sink.
  agent->stop();
  caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
  return late ? 1 : 0;
}
