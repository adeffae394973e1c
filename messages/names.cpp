// String forms of the vocabulary's enums.
#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "messages/container_event.hpp"
#include "messages/errors.hpp"

namespace nw {

const char* to_string(event_kind x) {
  switch (x) {
    case event_kind::added:
      return "added";
    case event_kind::removed:
      return "removed";
    case event_kind::detection_failed:
      return "detection_failed";
  }
  return "unknown";
}

bool from_string(const std::string& text, event_kind& out) {
  for (auto k :
       {event_kind::added, event_kind::removed, event_kind::detection_failed})
    if (text == to_string(k)) {
      out = k;
      return true;
    }
  return false;
}

const char* to_string(errc x) {
  switch (x) {
    case errc::none:
      return "none";
    case errc::unknown_container:
      return "unknown_container";
    case errc::ambiguous_container:
      return "ambiguous_container";
    case errc::bad_selector:
      return "bad_selector";
    case errc::bad_input:
      return "bad_input";
    case errc::kernel_refused:
      return "kernel_refused";
    case errc::shutting_down:
      return "shutting_down";
    case errc::mntns_in_use:
      return "mntns_in_use";
  }
  return "unknown";
}

std::string render(const caf::error& err) {
  if (!err)
    return "no error";
  std::string ctx;
  if (err.context().match_elements<std::string>())
    ctx = err.context().get_as<std::string>(0);
  std::string what;
  if (err.category() == error_category)
    what = to_string(static_cast<errc>(err.code()));
  else if (err.category() == caf::atom("system"))
    what = caf::to_string(static_cast<caf::sec>(err.code()));
  else
    what = caf::to_string(err);
  return ctx.empty() ? what : what + ": " + ctx;
}

} // namespace nw
