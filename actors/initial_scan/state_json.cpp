#include "actors/initial_scan/state_json.hpp"

#include <exception>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/runtime_watcher/runtime_argv.hpp"

namespace nw {

namespace {

using json = nlohmann::json;

/// One JSON value as the reader reports it; `text` only for strings.
struct json_value {
  enum class kind {
    null,
    boolean,
    negative,
    unsigned_,
    floating,
    string,
    object,
    array
  };
  kind what = kind::null;
  uint64_t number = 0;
  const std::string* text = nullptr;
};

const char* type_name(json_value::kind k) {
  switch (k) {
    case json_value::kind::null:
      return "null";
    case json_value::kind::boolean:
      return "boolean";
    case json_value::kind::negative:
      return "negative number";
    case json_value::kind::unsigned_:
      return "number";
    case json_value::kind::floating:
      return "number (not an integer)";
    case json_value::kind::string:
      return "string";
    case json_value::kind::object:
      return "object";
    case json_value::kind::array:
      return "array";
  }
  return "value";
}

std::string wrong_type(std::string_view field, std::string_view expected,
                       const json_value& got) {
  return std::string{field} + ": expected " + std::string{expected} + ", got "
         + type_name(got.what);
}

/// Called for every value at most three levels deep with its path ("" for
/// the document, "id", "config.labels", "config.labels[]"); returns why the
/// file is rejected, or "" to go on.
using value_handler
  = std::function<std::string(const std::string&, const json_value&)>;

/// A SAX reader: the file's values as events, with their paths, and no
/// document built. Deeper values are passed over unseen: no field read lives
/// deeper than `config.labels[]`. Stops at max_state_depth.
class state_reader : public nlohmann::json_sax<json> {
public:
  explicit state_reader(value_handler on_value)
      : on_value_(std::move(on_value)) {}

  const std::string& error() const {
    return error_;
  }

  bool null() override {
    return report({json_value::kind::null});
  }

  bool boolean(bool) override {
    return report({json_value::kind::boolean});
  }

  bool number_integer(number_integer_t) override {
    // The lexer reports non-negative integers as unsigned.
    return report({json_value::kind::negative});
  }

  bool number_unsigned(number_unsigned_t x) override {
    return report({json_value::kind::unsigned_, x});
  }

  bool number_float(number_float_t, const string_t&) override {
    return report({json_value::kind::floating});
  }

  bool string(string_t& x) override {
    return report({json_value::kind::string, 0, &x});
  }

  bool binary(binary_t&) override {
    return fail("binary values are not JSON"); // unreachable for JSON text
  }

  bool start_object(std::size_t) override {
    return open(json_value::kind::object, false);
  }

  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }

  bool end_object() override {
    frames_.pop_back();
    return true;
  }

  bool start_array(std::size_t) override {
    return open(json_value::kind::array, true);
  }

  bool end_array() override {
    frames_.pop_back();
    return true;
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // The message quotes the last token read; quote_input() bounds and
    // escapes it.
    return fail("not valid JSON: " + quote_input(ex.what(), 160));
  }

private:
  struct frame {
    bool array = false;
    /// The path of this container ("" for the document); set only for
    /// containers shallow enough to matter.
    std::string path;
    /// The member being read, in an object.
    std::string key;
  };

  bool fail(std::string why) {
    if (error_.empty())
      error_ = std::move(why);
    return false;
  }

  /// Sets `out` to the path of the next value; false when it is too deep
  /// to matter.
  bool path_of_next(std::string& out) const {
    if (frames_.empty()) {
      out.clear();
      return true;
    }
    if (frames_.size() > 3)
      return false;
    auto& top = frames_.back();
    out = top.path;
    if (top.array) {
      out += "[]";
    } else {
      if (!out.empty())
        out += '.';
      out += top.key;
    }
    return true;
  }

  bool report(const json_value& v) {
    std::string path;
    if (!path_of_next(path))
      return true;
    if (auto why = on_value_(path, v); !why.empty())
      return fail(std::move(why));
    return true;
  }

  bool open(json_value::kind k, bool array) {
    if (frames_.size() == max_state_depth)
      return fail("nests arrays/objects deeper than "
                  + std::to_string(max_state_depth) + " levels");
    frame f;
    f.array = array;
    std::string path;
    if (path_of_next(path)) {
      if (auto why = on_value_(path, {k}); !why.empty())
        return fail(std::move(why));
      f.path = std::move(path);
    }
    frames_.push_back(std::move(f));
    return true;
  }

  value_handler on_value_;
  std::vector<frame> frames_;
  std::string error_;
};

/// Reads a pid: an integer in 1..INT32_MAX (pid_t; PID_MAX_LIMIT is 2^22).
std::string read_pid(std::string_view field, const json_value& v,
                     uint32_t& out) {
  if (v.what != json_value::kind::unsigned_
      && v.what != json_value::kind::negative)
    return wrong_type(field, "an integer", v);
  constexpr uint64_t max_pid = std::numeric_limits<int32_t>::max();
  if (v.what == json_value::kind::negative || v.number == 0
      || v.number > max_pid)
    return std::string{field} + " is out of range (1.."
           + std::to_string(max_pid) + ")";
  out = static_cast<uint32_t>(v.number);
  return {};
}

std::string read_start(std::string_view field, const json_value& v,
                       uint64_t& out) {
  if (v.what == json_value::kind::negative)
    return std::string{field} + " is negative";
  if (v.what != json_value::kind::unsigned_)
    return wrong_type(field, "an integer", v);
  out = v.number;
  return {};
}

/// Marks `field` seen; an error if it was already.
std::string once(bool& seen, std::string_view field) {
  if (seen)
    return std::string{field} + " appears twice";
  seen = true;
  return {};
}

/// The checks both formats share once a file has been read.
parse_result<runtime_state> finish(runtime_state st, std::string_view dir_name,
                                   const char* id_field) {
  if (auto err = check_container_id(dir_name))
    return parse_error{"the directory name is no container id: " + err->reason};
  if (st.id.empty()) {
    st.id = std::string{dir_name};
  } else {
    if (auto err = check_container_id(st.id))
      return parse_error{std::string{id_field} + ": " + err->reason};
    if (st.id != dir_name)
      return parse_error{std::string{id_field} + " " + quote_input(st.id)
                         + " differs from the directory name "
                         + quote_input(dir_name)};
  }
  if (auto err = check_absolute_path(st.bundle, "bundle"); !err.empty())
    return parse_error{std::move(err)};
  return parse_result<runtime_state>{std::move(st)};
}

/// Runs the reader over `text`; "" when the whole file was read.
std::string read_all(std::string_view text, value_handler on_value) {
  if (text.size() > max_state_file_bytes)
    return "the file is " + std::to_string(text.size()) + " bytes (at most "
           + std::to_string(max_state_file_bytes) + ")";
  state_reader reader{std::move(on_value)};
  if (!json::sax_parse(text.begin(), text.end(), &reader))
    return reader.error().empty() ? "not valid JSON" : reader.error();
  return {};
}

} // namespace

parse_result<runtime_state> parse_runc_state(std::string_view text,
                                             std::string_view dir_name) try {
  runtime_state st;
  st.runtime = "runc";
  bool seen_id = false;
  bool seen_pid = false;
  bool seen_start = false;
  bool seen_labels = false;
  bool seen_bundle = false;
  size_t labels = 0;
  auto on_value
    = [&](const std::string& path, const json_value& v) -> std::string {
    using k = json_value::kind;
    if (path.empty())
      return v.what == k::object ? "" : wrong_type("top level", "an object", v);
    if (path == "id") {
      if (auto err = once(seen_id, path); !err.empty())
        return err;
      if (v.what != k::string)
        return wrong_type(path, "a string", v);
      if (v.text->empty())
        return "id is empty";
      st.id = *v.text;
      return {};
    }
    if (path == "init_process_pid") {
      if (auto err = once(seen_pid, path); !err.empty())
        return err;
      return read_pid(path, v, st.pid);
    }
    if (path == "init_process_start") {
      if (auto err = once(seen_start, path); !err.empty())
        return err;
      return read_start(path, v, st.start_time);
    }
    if (path == "config")
      return v.what == k::object || v.what == k::null
               ? ""
               : wrong_type(path, "an object", v);
    if (path == "config.labels") {
      if (auto err = once(seen_labels, path); !err.empty())
        return err;
      return v.what == k::array || v.what == k::null
               ? ""
               : wrong_type(path, "an array", v);
    }
    if (path == "config.labels[]") {
      if (++labels > max_state_labels)
        return "config.labels: more than " + std::to_string(max_state_labels)
               + " entries";
      if (v.what != k::string)
        return wrong_type("config.labels[" + std::to_string(labels - 1) + "]",
                          "a string", v);
      // libcontainer's labels are KEY=VALUE; runc puts the bundle there.
      constexpr std::string_view prefix = "bundle=";
      if (v.text->compare(0, prefix.size(), prefix) != 0)
        return {};
      if (auto err = once(seen_bundle, "the label bundle="); !err.empty())
        return err;
      st.bundle = v.text->substr(prefix.size());
    }
    return {};
  };
  if (auto err = read_all(text, on_value); !err.empty())
    return parse_error{std::move(err)};
  if (!seen_id)
    return parse_error{"id is missing"};
  if (!seen_pid)
    return parse_error{"init_process_pid is missing"};
  if (!seen_start)
    return parse_error{"init_process_start is missing"};
  if (!seen_bundle)
    return parse_error{"config.labels has no bundle= label"};
  return finish(std::move(st), dir_name, "id");
} catch (const std::exception& e) {
  // Only std::bad_alloc can get here; an actor must not die of it.
  return parse_error{std::string{"state.json parser failed: "} + e.what()};
}

parse_result<runtime_state> parse_crun_status(std::string_view text,
                                              std::string_view dir_name) try {
  runtime_state st;
  st.runtime = "crun";
  bool seen_pid = false;
  bool seen_start = false;
  bool seen_bundle = false;
  auto on_value
    = [&](const std::string& path, const json_value& v) -> std::string {
    using k = json_value::kind;
    if (path.empty())
      return v.what == k::object ? "" : wrong_type("top level", "an object", v);
    if (path == "pid") {
      if (auto err = once(seen_pid, path); !err.empty())
        return err;
      return read_pid(path, v, st.pid);
    }
    if (path == "process-start-time") {
      if (auto err = once(seen_start, path); !err.empty())
        return err;
      return read_start(path, v, st.start_time);
    }
    if (path == "bundle") {
      if (auto err = once(seen_bundle, path); !err.empty())
        return err;
      if (v.what != k::string)
        return wrong_type(path, "a string", v);
      st.bundle = *v.text;
    }
    return {};
  };
  if (auto err = read_all(text, on_value); !err.empty())
    return parse_error{std::move(err)};
  if (!seen_pid)
    return parse_error{"pid is missing"};
  if (!seen_start)
    return parse_error{"process-start-time is missing"};
  if (!seen_bundle)
    return parse_error{"bundle is missing"};
  return finish(std::move(st), dir_name, "id");
} catch (const std::exception& e) {
  return parse_error{std::string{"crun status parser failed: "} + e.what()};
}

} // namespace nw
