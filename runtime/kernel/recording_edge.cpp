#include "runtime/kernel/recording_edge.hpp"

#include <map>
#include <set>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace nw {

namespace {

using answer_atom = caf::atom_constant<caf::atom("nw_answer")>;

/// The recorder: the edge to the actors, every watcher to the real edge,
/// and the sink of the host view's answers.
using recorder_actor = edge_actor::extend<
  caf::reacts_to<runtime_exec>, caf::reacts_to<state_appeared>,
  caf::reacts_to<pidfile_read>, caf::reacts_to<process_exited>,
  caf::reacts_to<answer_atom, std::string, std::string>>;

using exit_key = std::pair<uint32_t, uint64_t>;

struct recorder_state {
  edge_actor inner;
  std::shared_ptr<record_writer> writer;
  const caf::actor_clock* clock = nullptr;
  caf::actor_clock::time_point t0;
  /// The runtime watcher given by `play` (null once it is gone).
  runtime_watcher_actor watcher;
  /// Pidfile watches by path, with the watcher that holds each.
  std::map<std::string, pidfile_watcher_actor> pidfile_watches;
  std::set<caf::actor_addr> monitored;
  /// Exit watches, by pid and start time.
  std::multimap<exit_key, exit_watcher_actor> exit_watches;

  uint64_t elapsed_ms() const {
    return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock->now() - t0)
        .count());
  }

  ~recorder_state() {
    if (writer)
      writer->end(elapsed_ms());
  }

  static inline const char* name = "nw.recorder";
};

using recorder_ptr = recorder_actor::stateful_pointer<recorder_state>;

recorder_actor::behavior_type recorder(recorder_ptr self, edge_actor inner,
                                       std::shared_ptr<record_writer> writer) {
  auto& st = self->state;
  st.inner = std::move(inner);
  st.writer = std::move(writer);
  st.clock = &self->clock();
  st.t0 = self->clock().now();
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.watcher && dm.source == st.watcher.address())
      st.watcher = nullptr;
    if (st.monitored.erase(dm.source) == 0)
      return;
    // As the real edge does: a watcher that died drops its watches.
    for (auto i = st.pidfile_watches.begin(); i != st.pidfile_watches.end();) {
      if (i->second.address() == dm.source) {
        self->send(st.inner, unwatch_atom::value, i->first);
        i = st.pidfile_watches.erase(i);
      } else {
        ++i;
      }
    }
  });
  return {
    // -- from the assembly -----------------------------------------------
    [self](play_atom, runtime_watcher_actor& watcher) {
      auto& st = self->state;
      st.watcher = std::move(watcher);
      self->monitor(st.watcher);
      self->send(st.inner, play_atom::value,
                 caf::actor_cast<runtime_watcher_actor>(self));
    },
    [self](get_atom, counters_atom) {
      return self->delegate(self->state.inner, get_atom::value,
                            counters_atom::value);
    },
    // -- from the actors, to the real edge --------------------------------
    [self](verdict_atom, uint64_t token) {
      self->send(self->state.inner, verdict_atom::value, token);
    },
    [self](watch_atom, std::string& path, pidfile_watcher_actor& watcher) {
      auto& st = self->state;
      if (st.monitored.insert(watcher.address()).second)
        self->monitor(watcher);
      st.pidfile_watches[path] = std::move(watcher);
      self->send(st.inner, watch_atom::value, std::move(path),
                 caf::actor_cast<pidfile_watcher_actor>(self));
    },
    [self](unwatch_atom, const std::string& path) {
      // Only the watcher that holds the watch may drop it.
      auto& st = self->state;
      auto i = st.pidfile_watches.find(path);
      if (i == st.pidfile_watches.end()
          || i->second.address()
               != caf::actor_cast<caf::actor_addr>(self->current_sender()))
        return;
      st.pidfile_watches.erase(i);
      self->send(st.inner, unwatch_atom::value, path);
    },
    [self](watch_atom, uint32_t pid, uint64_t start_time,
           exit_watcher_actor& watcher) {
      auto& st = self->state;
      st.exit_watches.emplace(exit_key{pid, start_time}, std::move(watcher));
      return self->delegate(st.inner, watch_atom::value, pid, start_time,
                            caf::actor_cast<exit_watcher_actor>(self));
    },
    [self](unwatch_atom, uint32_t pid, uint64_t start_time) {
      // The watcher knows the process is gone (its poller saw it before
      // the edge did, or the edge could not watch it): a replay learns it
      // from an `exit` record.
      auto& st = self->state;
      if (st.exit_watches.erase(exit_key{pid, start_time}) > 0)
        st.writer->exit(st.elapsed_ms(), process_exited{pid, start_time});
      self->send(st.inner, unwatch_atom::value, pid, start_time);
    },
    // -- from the real edge, to the actors --------------------------------
    [self](runtime_exec& ev) {
      auto& st = self->state;
      st.writer->exec(st.elapsed_ms(), ev);
      if (st.watcher)
        self->send(st.watcher, std::move(ev));
      else if (ev.token != 0)
        self->send(st.inner, verdict_atom::value, ev.token);
    },
    [self](state_appeared& ev) {
      auto& st = self->state;
      st.writer->state(st.elapsed_ms(), ev);
      if (st.watcher)
        self->send(st.watcher, std::move(ev));
    },
    [self](pidfile_read& ev) {
      auto& st = self->state;
      auto i = st.pidfile_watches.find(ev.path);
      if (i == st.pidfile_watches.end()) {
        // Unwatched meanwhile: nobody to hand it to (a replay, too, lets
        // an unwatched read pass).
        if (ev.token != 0)
          self->send(st.inner, verdict_atom::value, ev.token);
        return;
      }
      st.writer->pidfile(st.elapsed_ms(), ev);
      self->send(i->second, std::move(ev));
    },
    [self](process_exited& ev) {
      auto& st = self->state;
      auto i = st.exit_watches.find(exit_key{ev.pid, ev.start_time});
      if (i == st.exit_watches.end())
        return; // unwatched meanwhile: already recorded then
      st.writer->exit(st.elapsed_ms(), ev);
      auto watcher = std::move(i->second);
      st.exit_watches.erase(i);
      self->send(watcher, std::move(ev));
    },
    // -- from the host view ------------------------------------------------
    [self](answer_atom, std::string& key, std::string& record) {
      self->state.writer->answer(
        host_answer{std::move(key), std::move(record)});
    },
  };
}

/// A host view that tells the recorder every answer it gives.
class recording_host : public host_view {
public:
  recording_host(std::shared_ptr<const host_view> host, recorder_actor rec)
      : host_(std::move(host)), rec_(std::move(rec)) {}

  bool read_file(const std::string& path, size_t max_bytes, std::string& out,
                 std::string& error) const override {
    auto ok = host_->read_file(path, max_bytes, out, error);
    report(file_answer(path, ok, ok ? out : std::string{}, error));
    return ok;
  }

  bool exists(const std::string& path) const override {
    auto ok = host_->exists(path);
    // A path that is there is recorded when it is read; one that is not,
    // now, as an error record (so a later appearance does not answer
    // earlier questions).
    if (!ok)
      report(file_answer(path, false, {}, "no such file or directory"));
    return ok;
  }

  bool list_dir(const std::string& path, size_t max_entries,
                std::vector<std::string>& out, bool& truncated,
                std::string& error) const override {
    auto ok = host_->list_dir(path, max_entries, out, truncated, error);
    report(dir_answer(path, ok, out, error));
    return ok;
  }

  bool proc(uint32_t pid, proc_status& out, std::string& error) const override {
    auto ok = host_->proc(pid, out, error);
    report(proc_answer_of(pid, ok, out, error));
    return ok;
  }

private:
  void report(host_answer a) const {
    caf::anon_send(rec_, answer_atom::value, std::move(a.key),
                   std::move(a.record));
  }

  std::shared_ptr<const host_view> host_;
  recorder_actor rec_;
};

} // namespace

recording spawn_recording_edge(caf::actor_system& sys, edge_actor inner,
                               std::shared_ptr<const host_view> host,
                               std::shared_ptr<record_writer> writer) {
  auto rec = sys.spawn(recorder, std::move(inner), std::move(writer));
  recording r;
  r.edge = caf::actor_cast<edge_actor>(rec);
  r.host = std::make_shared<recording_host>(std::move(host), rec);
  return r;
}

} // namespace nw
