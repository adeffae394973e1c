#include "runtime/kernel/scenario.hpp"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

namespace nw {

namespace {

using json = nlohmann::json;

// Bounds on what a scenario may hold: it is input from outside.
constexpr size_t max_records = 1'000'000;
constexpr size_t max_string = 1u << 20;
// A file's content may be as large as the largest file an actor reads
// (config.json: 16 MiB).
constexpr size_t max_content = 16u << 20;
constexpr size_t max_list = 4096;

/// A parse failure, carrying the text for the user.
struct bad_record {
  std::string what;
};

/// Reads one record's fields with their types checked and unknown keys
/// rejected, so a typo fails loudly instead of being ignored.
class record_reader {
public:
  record_reader(const json& j, size_t line) : j_(j), line_(line) {
    if (!j_.is_object())
      fail("", "expected a JSON object");
  }

  [[noreturn]] void fail(std::string_view field, std::string_view what) const {
    std::string msg = "record " + std::to_string(line_);
    if (!field.empty())
      msg += ", field '" + std::string{field} + "'";
    msg += ": ";
    msg += what;
    throw bad_record{std::move(msg)};
  }

  bool has(const char* key) const {
    return j_.contains(key);
  }

  uint64_t u64(const char* key, bool required = true) {
    seen_.insert(key);
    if (!j_.contains(key)) {
      if (required)
        fail(key, "missing");
      return 0;
    }
    auto& v = j_.at(key);
    if (!v.is_number_unsigned())
      fail(key, "expected a non-negative integer");
    return v.get<uint64_t>();
  }

  uint32_t u32(const char* key, bool required = true) {
    auto v = u64(key, required);
    if (v > UINT32_MAX)
      fail(key, "out of range (at most 4294967295)");
    return static_cast<uint32_t>(v);
  }

  std::string str(const char* key, bool required = true,
                  size_t max = max_string) {
    seen_.insert(key);
    if (!j_.contains(key)) {
      if (required)
        fail(key, "missing");
      return {};
    }
    auto& v = j_.at(key);
    if (!v.is_string())
      fail(key, "expected a string");
    auto& s = v.get_ref<const std::string&>();
    if (s.size() > max)
      fail(key, max == max_string ? "longer than 1 MiB" : "longer than 16 MiB");
    return s;
  }

  std::vector<std::string> strs(const char* key) {
    seen_.insert(key);
    if (!j_.contains(key))
      fail(key, "missing");
    auto& v = j_.at(key);
    if (!v.is_array())
      fail(key, "expected an array of strings");
    if (v.size() > max_list)
      fail(key, "more than 4096 entries");
    std::vector<std::string> result;
    for (auto& x : v) {
      if (!x.is_string())
        fail(key, "expected an array of strings");
      result.push_back(x.get<std::string>());
      if (result.back().size() > max_string)
        fail(key, "an entry is longer than 1 MiB");
    }
    return result;
  }

  /// Rejects any key not read so far.
  void done() const {
    for (auto& [key, value] : j_.items())
      if (seen_.count(key) == 0)
        fail(key, "unknown field");
  }

private:
  const json& j_;
  size_t line_;
  std::set<std::string> seen_;
};

void parse_header(record_reader& r, scenario& sc) {
  auto version = r.u64("nodewatch_scenario");
  if (version != scenario_version)
    r.fail("nodewatch_scenario", "version " + std::to_string(version)
                                   + " is not supported (this "
                                     "build reads version "
                                   + std::to_string(scenario_version) + ")");
  sc.name = r.str("name", false);
  sc.start_ns = r.u64("start_ns", false);
  if (r.has("state_roots")) {
    sc.has_state_roots = true;
    sc.state_roots = r.strs("state_roots");
  }
  r.done();
}

void parse_record(record_reader& r, scenario& sc, uint64_t& last_at,
                  bool& ended) {
  auto kind = r.str("kind");
  auto timed = [&](scenario_step::kind k) {
    scenario_step step;
    step.what = k;
    step.at_ms = r.u64("at_ms");
    if (step.at_ms < last_at)
      r.fail("at_ms", "goes back in time (" + std::to_string(step.at_ms) + " < "
                        + std::to_string(last_at) + ")");
    if (ended)
      r.fail("kind", "a timed record after 'end'");
    last_at = step.at_ms;
    return step;
  };
  if (kind == "file" || kind == "dir") {
    // A static answer, from `at_ms` on (0: from the start).
    path_answer a;
    a.at_ms = r.u64("at_ms", false);
    auto path = r.str("path");
    const char* body = kind == "file" ? "content" : "entries";
    if (r.has("error")) {
      if (r.has(body))
        r.fail("error",
               std::string{"give either '"} + body + "' or 'error', not both");
      a.what = path_answer::kind::error;
      a.error = r.str("error");
    } else if (kind == "file") {
      a.what = path_answer::kind::file;
      a.content = r.str("content", true, max_content);
      sc.files[path] = a.content;
    } else {
      a.what = path_answer::kind::dir;
      a.entries = r.strs("entries");
      sc.dirs[path] = a.entries;
    }
    sc.path_answers[path].push_back(std::move(a));
  } else if (kind == "proc") {
    proc_answer a;
    a.at_ms = r.u64("at_ms", false);
    auto& p = a.status;
    p.pid = r.u32("pid");
    if (p.pid == 0)
      r.fail("pid", "must not be 0");
    if (r.has("error")) {
      a.error = r.str("error");
      if (a.error.empty())
        r.fail("error", "must not be empty");
    } else {
      p.start_time = r.u64("start_time");
      p.comm = r.str("comm", false);
      if (r.has("state")) {
        auto state = r.str("state");
        if (state.size() != 1)
          r.fail("state", "expected one character (R, S, D, Z, X, ...)");
        p.state = state[0];
      }
      p.mntns = r.u64("mntns");
      p.netns = r.u64("netns");
      p.mntns_id64 = r.u64("mntns_id64", false);
      p.host_netns = r.u64("host_netns", false);
      p.cgroup = r.str("cgroup", false);
      p.cgroup_id = r.u64("cgroup_id", false);
      sc.procs[p.pid] = p;
    }
    sc.proc_answers[p.pid].push_back(std::move(a));
  } else if (kind == "exec") {
    auto step = timed(scenario_step::kind::exec);
    step.exec.tid = r.u32("tid");
    step.exec.argv = r.strs("argv");
    if (step.exec.argv.empty())
      r.fail("argv", "must not be empty");
    step.exec.caller_comm = r.str("caller_comm", false);
    step.exec.mntns = r.u64("mntns");
    step.exec.euid = r.u32("euid", false);
    sc.timeline.push_back(std::move(step));
  } else if (kind == "pidfile_read") {
    auto step = timed(scenario_step::kind::pidfile_read);
    step.pidfile.path = r.str("path");
    step.pidfile.content = r.str("content", true, max_content);
    sc.timeline.push_back(std::move(step));
  } else if (kind == "exit") {
    auto step = timed(scenario_step::kind::exit);
    step.exit.pid = r.u32("pid");
    step.exit.start_time = r.u64("start_time", false);
    sc.timeline.push_back(std::move(step));
  } else if (kind == "state") {
    auto step = timed(scenario_step::kind::state);
    step.state.dir = r.str("dir");
    step.state.id = r.str("id");
    if (step.state.dir.empty() || step.state.id.empty())
      r.fail(step.state.dir.empty() ? "dir" : "id", "must not be empty");
    sc.timeline.push_back(std::move(step));
  } else if (kind == "end") {
    auto step = timed(scenario_step::kind::end);
    ended = true;
    sc.timeline.push_back(std::move(step));
  } else {
    r.fail("kind", "unknown kind '" + kind
                     + "' (expected file, dir, proc, exec, pidfile_read, "
                       "exit, state or end)");
  }
  r.done();
}

/// Splits the input into JSON values, one per record.
std::vector<std::pair<size_t, json>> split(std::string_view bytes) {
  std::vector<std::pair<size_t, json>> records;
  auto first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    throw bad_record{"the scenario is empty"};
  if (bytes[first] == '{') {
    size_t line = 0;
    size_t pos = 0;
    while (pos < bytes.size()) {
      auto end = bytes.find('\n', pos);
      if (end == std::string_view::npos)
        end = bytes.size();
      auto text = bytes.substr(pos, end - pos);
      pos = end + 1;
      ++line;
      if (text.find_first_not_of(" \t\r") == std::string_view::npos)
        continue;
      if (records.size() == max_records)
        throw bad_record{"more than 1000000 records"};
      auto j = json::parse(text.begin(), text.end(), nullptr, false);
      if (j.is_discarded())
        throw bad_record{"record " + std::to_string(line)
                         + ": not valid JSON (one object per line)"};
      records.emplace_back(line, std::move(j));
    }
    return records;
  }
  // msgpack: a stream of maps. Each is re-encoded and read by the same JSON
  // reader, so both encodings obey one set of rules.
  size_t offset = 0;
  size_t index = 0;
  while (offset < bytes.size()) {
    ++index;
    if (records.size() == max_records)
      throw bad_record{"more than 1000000 records"};
    msgpack::object_handle handle;
    size_t before = offset;
    try {
      handle = msgpack::unpack(bytes.data(), bytes.size(), offset);
    } catch (const std::exception& e) {
      throw bad_record{"record " + std::to_string(index)
                       + ": not valid msgpack (" + e.what() + ")"};
    }
    auto j = json::from_msgpack(bytes.begin() + before, bytes.begin() + offset,
                                true, false);
    if (j.is_discarded())
      throw bad_record{"record " + std::to_string(index)
                       + ": msgpack value JSON cannot hold"};
    records.emplace_back(index, std::move(j));
  }
  return records;
}

} // namespace

bool parse_scenario(std::string_view bytes, scenario& out, std::string& error) {
  if (bytes.size() > max_scenario_bytes) {
    error = "the scenario is larger than 64 MiB";
    return false;
  }
  try {
    auto records = split(bytes);
    scenario sc;
    {
      record_reader header{records.front().second, records.front().first};
      if (!header.has("nodewatch_scenario"))
        header.fail("nodewatch_scenario",
                    "missing: the first record must be the header "
                    "{\"nodewatch_scenario\": 1, ...}");
      parse_header(header, sc);
    }
    uint64_t last_at = 0;
    bool ended = false;
    for (size_t i = 1; i < records.size(); ++i) {
      record_reader r{records[i].second, records[i].first};
      parse_record(r, sc, last_at, ended);
      if (!sc.timeline.empty())
        sc.timeline.back().line = records[i].first;
    }
    // Each path's and pid's answers in time order; file order among equal
    // times, so a later record for the same time replaces an earlier one.
    for (auto& [path, answers] : sc.path_answers)
      std::stable_sort(answers.begin(), answers.end(),
                       [](const path_answer& a, const path_answer& b) {
                         return a.at_ms < b.at_ms;
                       });
    for (auto& [pid, answers] : sc.proc_answers)
      std::stable_sort(answers.begin(), answers.end(),
                       [](const proc_answer& a, const proc_answer& b) {
                         return a.at_ms < b.at_ms;
                       });
    if (!ended) {
      scenario_step end;
      end.what = scenario_step::kind::end;
      end.at_ms = last_at;
      sc.timeline.push_back(end);
    }
    out = std::move(sc);
    return true;
  } catch (const bad_record& e) {
    error = e.what;
  } catch (const std::exception& e) {
    error = e.what();
  }
  return false;
}

bool load_scenario(const std::string& path, scenario& out, std::string& error) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = "cannot open '" + path + "'";
    return false;
  }
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0 || static_cast<size_t>(size) > max_scenario_bytes) {
    error = "'" + path + "' is larger than 64 MiB or not a regular file";
    return false;
  }
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), size);
  if (!in) {
    error = "cannot read '" + path + "'";
    return false;
  }
  if (!parse_scenario(bytes, out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

namespace {

/// The answer in force at `now`: the last with `at_ms` <= now, else the
/// first (a path's first record answers from the start).
template <class T>
const T* answer_at(const std::vector<T>& answers, uint64_t now) {
  if (answers.empty())
    return nullptr;
  const T* found = &answers.front();
  for (auto& a : answers) {
    if (a.at_ms > now)
      break;
    found = &a;
  }
  return found;
}

class scripted_host : public host_view {
public:
  scripted_host(const scenario& sc, std::function<uint64_t()> now_ms)
      : paths_(sc.path_answers), procs_(sc.proc_answers),
        now_ms_(std::move(now_ms)) {}

  bool read_file(const std::string& path, size_t max_bytes, std::string& out,
                 std::string& error) const override {
    auto a = find(path);
    if (a == nullptr || a->what == path_answer::kind::dir) {
      error = a == nullptr ? "no such file: " + path : path + " is a directory";
      return false;
    }
    if (a->what == path_answer::kind::error) {
      error = a->error;
      return false;
    }
    if (a->content.size() > max_bytes) {
      error = path + " is larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
    out = a->content;
    return true;
  }

  bool exists(const std::string& path) const override {
    auto a = find(path);
    return a != nullptr && a->what != path_answer::kind::error;
  }

  bool list_dir(const std::string& path, size_t max_entries,
                std::vector<std::string>& out, bool& truncated,
                std::string& error) const override {
    auto a = find(path);
    if (a == nullptr || a->what == path_answer::kind::file) {
      error = a == nullptr ? "no such directory: " + path
                           : path + " is not a directory";
      return false;
    }
    if (a->what == path_answer::kind::error) {
      error = a->error;
      return false;
    }
    // As a directory would list them: once each, sorted, bounded.
    std::vector<std::string> names = a->entries;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    names.erase(std::remove_if(
                  names.begin(), names.end(),
                  [](const std::string& x) { return x == "." || x == ".."; }),
                names.end());
    truncated = names.size() > max_entries;
    if (truncated)
      names.resize(max_entries);
    out = std::move(names);
    return true;
  }

  bool proc(uint32_t pid, proc_status& out, std::string& error) const override {
    auto i = procs_.find(pid);
    auto a = i == procs_.end() ? nullptr : answer_at(i->second, now());
    if (a == nullptr) {
      error = "no such process: " + std::to_string(pid);
      return false;
    }
    if (!a->error.empty()) {
      error = a->error;
      return false;
    }
    out = a->status;
    return true;
  }

private:
  uint64_t now() const {
    return now_ms_ ? now_ms_() : 0;
  }

  const path_answer* find(const std::string& path) const {
    auto i = paths_.find(path);
    return i == paths_.end() ? nullptr : answer_at(i->second, now());
  }

  std::map<std::string, std::vector<path_answer>> paths_;
  std::map<uint32_t, std::vector<proc_answer>> procs_;
  std::function<uint64_t()> now_ms_;
};

} // namespace

std::shared_ptr<const host_view>
make_scripted_host(const scenario& sc, std::function<uint64_t()> now_ms) {
  return std::make_shared<scripted_host>(sc, std::move(now_ms));
}

} // namespace nw
