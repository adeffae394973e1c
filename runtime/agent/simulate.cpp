// `nodewatch simulate FILE`: the whole agent on a scripted kernel, on CAF's
// deterministic scheduler in virtual time, so the output is byte-identical
// from run to run.
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "runtime/agent/assembly.hpp"
#include "runtime/agent/commands.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

std::string simulate_output(std::shared_ptr<const scenario> script,
                            output_format fmt,
                            std::shared_ptr<record_writer> record) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_nodewatch_types(cfg);
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto t0 = sched.clock().now();
  std::string out;
  graph_options opts;
  opts.script = script;
  opts.realtime_ns = [&sched, t0, start = script->start_ns] {
    auto elapsed = sched.clock().now() - t0;
    return start
           + static_cast<uint64_t>(
             std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
               .count());
  };
  opts.print = true;
  opts.record = std::move(record);
  opts.fmt = fmt;
  opts.out = [&out](const std::string& line) { out += line; };
  // The header's roots (a recording's), else the agent's defaults, as the
  // scenario's `dir` records list them.
  opts.state_roots
    = script->has_state_roots ? script->state_roots : default_state_roots();
  auto g = *spawn_graph(sys, opts); // a scripted graph cannot fail
  g.play();
  // Run until nothing is left to do: every message handled, every timer
  // (timeline steps, deadlines, grace periods) fired in virtual time.
  do
    sched.run();
  while (sched.trigger_timeout());
  g.shutdown();
  sched.run();
  return out;
}

int run_simulate(const std::string& path, output_format fmt) {
  auto script = std::make_shared<scenario>();
  std::string error;
  if (!load_scenario(path, *script, error)) {
    log::error("cannot load the scenario", {{"error", error}});
    return 2;
  }
  write_stdout(simulate_output(script, fmt));
  return 0;
}

} // namespace nw
