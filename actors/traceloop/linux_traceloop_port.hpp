// traceloop's real kernel: the recorder and rings of ring.hpp, the capture
// spec and decoding from this kernel's tracefs formats (formats.hpp,
// decode.hpp). Destroying it frees every ring and detaches the programs.
#pragma once

#include <memory>

#include "actors/traceloop/traceloop_port.hpp"

namespace nw {

std::unique_ptr<traceloop_port> make_linux_traceloop_port();

} // namespace nw
