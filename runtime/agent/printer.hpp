// The printer: a registry subscriber that writes each event as a line
// (`agent -o json`, `simulate`).
#pragma once

#include <functional>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "runtime/agent/output.hpp"

namespace nw {

/// Where printed lines go (stdout in the CLI; a buffer in tests).
using line_sink = std::function<void(const std::string&)>;

/// Spawns a printer subscribed to every event of `registry`.
subscriber_actor spawn_printer(caf::actor_system& sys, registry_actor registry,
                               output_format fmt, line_sink out);

} // namespace nw
