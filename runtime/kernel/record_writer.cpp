#include "runtime/kernel/record_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "runtime/kernel/log.hpp"
#include "runtime/kernel/scenario.hpp"

namespace nw {

namespace {

using ojson = nlohmann::ordered_json;

/// Room kept for the `end` record when the cap is near.
constexpr uint64_t end_reserve = 64;

/// One line of JSON. Bytes that are not UTF-8 (JSON strings cannot hold
/// them) become U+FFFD.
std::string line_of(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

} // namespace

host_answer file_answer(const std::string& path, bool ok,
                        const std::string& content, const std::string& error) {
  ojson j;
  j["kind"] = "file";
  j["path"] = path;
  if (ok)
    j["content"] = content;
  else
    j["error"] = error.empty() ? "no such file or directory" : error;
  return {"path:" + path, line_of(j)};
}

host_answer dir_answer(const std::string& path, bool ok,
                       const std::vector<std::string>& entries,
                       const std::string& error) {
  ojson j;
  j["kind"] = "dir";
  j["path"] = path;
  if (ok)
    j["entries"] = entries;
  else
    j["error"] = error.empty() ? "no such directory" : error;
  return {"path:" + path, line_of(j)};
}

host_answer proc_answer_of(uint32_t pid, bool ok, const proc_status& p,
                           const std::string& error) {
  ojson j;
  j["kind"] = "proc";
  j["pid"] = pid;
  if (ok) {
    j["start_time"] = p.start_time;
    j["comm"] = p.comm;
    j["state"] = std::string(1, p.state);
    j["mntns"] = p.mntns;
    j["netns"] = p.netns;
    j["mntns_id64"] = p.mntns_id64;
    j["host_netns"] = p.host_netns;
    j["cgroup"] = p.cgroup;
    j["cgroup_id"] = p.cgroup_id;
  } else {
    j["error"] = error.empty() ? "no such process" : error;
  }
  return {"pid:" + std::to_string(pid), line_of(j)};
}

record_writer::record_writer(std::unique_ptr<std::ostream> out,
                             std::string name, uint64_t max_bytes)
    : out_(std::move(out)), name_(std::move(name)), max_bytes_(max_bytes) {}

std::unique_ptr<record_writer> record_writer::open(const std::string& path,
                                                   uint64_t max_bytes,
                                                   std::string& error) {
  // Owner-only: the file holds config.json contents, environment
  // variables included. Created (or an existing file narrowed) first, then
  // opened as a stream.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  S_IRUSR | S_IWUSR);
  if (fd < 0) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return nullptr;
  }
  auto narrowed = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;
  auto err = errno;
  ::close(fd);
  if (!narrowed) {
    error = "cannot make '" + path + "' owner-only: " + std::strerror(err);
    return nullptr;
  }
  auto out = std::make_unique<std::ofstream>(
    path, std::ios::binary | std::ios::trunc | std::ios::out);
  if (!*out) {
    error = "cannot write '" + path + "'";
    return nullptr;
  }
  return std::make_unique<record_writer>(std::move(out), path, max_bytes);
}

void record_writer::header(const record_header& h) {
  ojson j;
  j["nodewatch_scenario"] = scenario_version;
  j["name"] = h.name;
  j["start_ns"] = h.start_ns;
  j["state_roots"] = h.state_roots;
  put(line_of(j));
}

uint64_t record_writer::timed_at(uint64_t elapsed_ms) {
  last_at_ = std::max(elapsed_ms, last_at_ + 1);
  return last_at_;
}

void record_writer::exec(uint64_t elapsed_ms, const runtime_exec& ev) {
  // A scenario's exec has an argv; an exec without one was allowed unread.
  if (stopped_ || ev.argv.empty())
    return;
  ojson j;
  j["kind"] = "exec";
  j["at_ms"] = timed_at(elapsed_ms);
  j["tid"] = ev.tid;
  j["argv"] = ev.argv;
  j["caller_comm"] = ev.caller_comm;
  j["mntns"] = ev.mntns;
  j["euid"] = ev.euid;
  put(line_of(j));
}

void record_writer::pidfile(uint64_t elapsed_ms, const pidfile_read& ev) {
  if (stopped_)
    return;
  ojson j;
  j["kind"] = "pidfile_read";
  j["at_ms"] = timed_at(elapsed_ms);
  j["path"] = ev.path;
  j["content"] = ev.content;
  put(line_of(j));
}

void record_writer::exit(uint64_t elapsed_ms, const process_exited& ev) {
  if (stopped_)
    return;
  ojson j;
  j["kind"] = "exit";
  j["at_ms"] = timed_at(elapsed_ms);
  j["pid"] = ev.pid;
  j["start_time"] = ev.start_time;
  put(line_of(j));
}

void record_writer::state(uint64_t elapsed_ms, const state_appeared& ev) {
  if (stopped_ || ev.dir.empty() || ev.id.empty())
    return;
  ojson j;
  j["kind"] = "state";
  j["at_ms"] = timed_at(elapsed_ms);
  j["dir"] = ev.dir;
  j["id"] = ev.id;
  put(line_of(j));
}

void record_writer::answer(const host_answer& a) {
  if (stopped_)
    return;
  auto hash = std::hash<std::string>{}(a.record);
  auto i = answers_.find(a.key);
  if (i != answers_.end() && i->second.hash == hash) {
    i->second.last_read_at = last_at_;
    return;
  }
  if (i == answers_.end()) {
    if (put(a.record))
      answers_.emplace(a.key, seen{hash, last_at_});
    return;
  }
  // A changed answer: in force from just after the previous read.
  auto j = ojson::parse(a.record);
  j["at_ms"] = i->second.last_read_at + 1;
  if (put(line_of(j)))
    i->second = seen{hash, last_at_};
}

void record_writer::end(uint64_t elapsed_ms) {
  if (stopped_)
    return;
  ojson j;
  j["kind"] = "end";
  j["at_ms"] = std::max(elapsed_ms, last_at_);
  put(line_of(j), true);
  stopped_ = true;
}

bool record_writer::put(const std::string& line, bool is_end) {
  if (stopped_)
    return false;
  if (!is_end && bytes_ + line.size() + end_reserve > max_bytes_) {
    log::warn("recording stopped: the record file reached its size cap; the "
              "agent keeps running",
              {{"file", name_},
               {"bytes", std::to_string(bytes_)},
               {"cap", std::to_string(max_bytes_)}});
    ojson j;
    j["kind"] = "end";
    j["at_ms"] = last_at_;
    put(line_of(j), true);
    stopped_ = true;
    return false;
  }
  out_->write(line.data(), static_cast<std::streamsize>(line.size()));
  out_->flush();
  if (!*out_) {
    log::error("recording stopped: cannot write the record file",
               {{"file", name_}});
    stopped_ = true;
    return false;
  }
  bytes_ += line.size();
  ++records_;
  return true;
}

} // namespace nw
