// record_writer on a hand-driven sequence: the exact lines it writes (timed
// records at least 1 ms apart, host answers once unless changed, a changed
// answer in force from 1 ms after its key's previous read, errors), that
// the output is a valid scenario whose scripted host answers by time, and
// the size cap (recording stops with an `end`, the file stays valid).
#define BOOST_TEST_MODULE record_writer
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/kernel/record_writer.hpp"
#include "runtime/kernel/scenario.hpp"

namespace {

using strings = std::vector<std::string>;

struct written {
  std::ostringstream* text = nullptr;
  std::unique_ptr<nw::record_writer> writer;
};

written make_writer(uint64_t max_bytes = nw::default_record_max_bytes) {
  auto out = std::make_unique<std::ostringstream>();
  written w;
  w.text = out.get();
  w.writer
    = std::make_unique<nw::record_writer>(std::move(out), "test", max_bytes);
  return w;
}

strings lines(const std::string& text) {
  strings result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

nw::proc_status proc(uint32_t pid, uint64_t start_time, uint64_t mntns) {
  nw::proc_status p;
  p.pid = pid;
  p.start_time = start_time;
  p.comm = "sh";
  p.state = 'S';
  p.mntns = mntns;
  p.netns = 77;
  p.mntns_id64 = mntns + 1000;
  p.host_netns = 78;
  p.cgroup = "/c";
  p.cgroup_id = 5;
  return p;
}

} // namespace

BOOST_AUTO_TEST_CASE(writes_a_replayable_scenario) {
  auto w = make_writer();
  auto& rec = *w.writer;
  rec.header({"t", 1000, {"/run/runc"}});
  // The start-up scan's reads, before any timed record.
  rec.answer(nw::dir_answer("/run/runc", true, {}, ""));
  rec.answer(nw::proc_answer_of(1, true, proc(1, 1, 10), ""));
  rec.answer(nw::file_answer("/run/crun", false, "", ""));
  // A create, its config.json, its pidfile read in the same millisecond.
  nw::runtime_exec ev;
  ev.token = 42; // tokens are not recorded
  ev.tid = 9;
  ev.argv = {"runc", "create", "--bundle", "/b", "--pid-file", "/b/p", "c1"};
  ev.caller_comm = "shim";
  ev.mntns = 10;
  rec.exec(5, ev);
  rec.answer(nw::file_answer("/b/config.json", true, "{}", ""));
  rec.pidfile(5, nw::pidfile_read{7, "/b/p", "100\n"});
  rec.answer(nw::proc_answer_of(100, true, proc(100, 500, 20), ""));
  // Read again unchanged: not written again.
  rec.answer(nw::proc_answer_of(100, true, proc(100, 500, 20), ""));
  rec.answer(nw::file_answer("/b/config.json", true, "{}", ""));
  // An exec without argv (allowed unread) is not a scenario record.
  rec.exec(6, nw::runtime_exec{});
  rec.exit(30, nw::process_exited{100, 500});
  rec.state(31, nw::state_appeared{"/run/runc/c2", "c2"});
  // pid 100 reused: in force from 1 ms after its previous read (at 6).
  rec.pidfile(40, nw::pidfile_read{8, "/b/p", "100\n"});
  rec.answer(nw::proc_answer_of(100, true, proc(100, 900, 30), ""));
  // A later error for the same pid.
  rec.answer(nw::proc_answer_of(100, false, {}, "no such process"));
  rec.end(35); // earlier than the last record: the end is at it
  rec.end(99); // idempotent
  BOOST_TEST(rec.stopped());
  auto got = lines(w.text->str());
  strings want = {
    R"({"nodewatch_scenario":1,"name":"t","start_ns":1000,"state_roots":["/run/runc"]})",
    R"({"kind":"dir","path":"/run/runc","entries":[]})",
    R"({"kind":"proc","pid":1,"start_time":1,"comm":"sh","state":"S","mntns":10,"netns":77,"mntns_id64":1010,"host_netns":78,"cgroup":"/c","cgroup_id":5})",
    R"({"kind":"file","path":"/run/crun","error":"no such file or directory"})",
    R"({"kind":"exec","at_ms":5,"tid":9,"argv":["runc","create","--bundle","/b","--pid-file","/b/p","c1"],"caller_comm":"shim","mntns":10,"euid":0})",
    R"({"kind":"file","path":"/b/config.json","content":"{}"})",
    R"({"kind":"pidfile_read","at_ms":6,"path":"/b/p","content":"100\n"})",
    R"({"kind":"proc","pid":100,"start_time":500,"comm":"sh","state":"S","mntns":20,"netns":77,"mntns_id64":1020,"host_netns":78,"cgroup":"/c","cgroup_id":5})",
    R"({"kind":"exit","at_ms":30,"pid":100,"start_time":500})",
    R"({"kind":"state","at_ms":31,"dir":"/run/runc/c2","id":"c2"})",
    R"({"kind":"pidfile_read","at_ms":40,"path":"/b/p","content":"100\n"})",
    R"({"kind":"proc","pid":100,"start_time":900,"comm":"sh","state":"S","mntns":30,"netns":77,"mntns_id64":1030,"host_netns":78,"cgroup":"/c","cgroup_id":5,"at_ms":7})",
    R"({"kind":"proc","pid":100,"error":"no such process","at_ms":41})",
    R"({"kind":"end","at_ms":40})",
  };
  BOOST_TEST(got == want, boost::test_tools::per_element());
  BOOST_TEST(rec.records() == want.size());
  BOOST_TEST(rec.bytes() == w.text->str().size());

  // The output is a scenario; its host answers by the timeline's clock.
  nw::scenario sc;
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::parse_scenario(w.text->str(), sc, error), error);
  BOOST_TEST(sc.has_state_roots);
  BOOST_TEST(sc.state_roots == strings{"/run/runc"});
  BOOST_REQUIRE_EQUAL(sc.timeline.size(), 6u);
  BOOST_TEST((sc.timeline[3].what == nw::scenario_step::kind::state));
  BOOST_TEST(sc.timeline[3].state.id == "c2");
  uint64_t now = 0;
  auto host = nw::make_scripted_host(sc, [&now] { return now; });
  nw::proc_status p;
  BOOST_TEST(host->proc(100, p, error)); // the first answer, from the start
  BOOST_TEST(p.start_time == 500u);
  BOOST_TEST(p.state == 'S');
  now = 6;
  BOOST_TEST(host->proc(100, p, error));
  BOOST_TEST(p.start_time == 500u);
  now = 40;
  BOOST_TEST(host->proc(100, p, error));
  BOOST_TEST(p.start_time == 900u);
  BOOST_TEST(p.mntns_id64 == 1030u);
  BOOST_TEST(p.host_netns == 78u);
  BOOST_TEST(p.cgroup_id == 5u);
  BOOST_TEST(p.cgroup == "/c");
  now = 41;
  BOOST_TEST(!host->proc(100, p, error));
  BOOST_TEST(error == "no such process");
  BOOST_TEST(!host->exists("/run/crun"));
  std::string content;
  BOOST_TEST(!host->read_file("/run/crun", 100, content, error));
  BOOST_TEST(error == "no such file or directory");
  BOOST_TEST(host->exists("/run/runc"));
  BOOST_TEST(host->read_file("/b/config.json", 100, content, error));
  BOOST_TEST(content == "{}");
}

BOOST_AUTO_TEST_CASE(a_path_that_appears_later_is_missing_before) {
  auto w = make_writer();
  auto& rec = *w.writer;
  rec.header({"t", 0, {}});
  rec.answer(nw::file_answer("/x", false, "", "")); // exists() said no
  rec.exec(3, nw::runtime_exec{0, 1, {"runc", "start", "c"}, "", 1, 0});
  rec.answer(nw::file_answer("/x", true, "hi", ""));
  rec.end(10);
  nw::scenario sc;
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::parse_scenario(w.text->str(), sc, error), error);
  uint64_t now = 0;
  auto host = nw::make_scripted_host(sc, [&now] { return now; });
  BOOST_TEST(!host->exists("/x"));
  now = 1;
  BOOST_TEST(host->exists("/x"));
}

BOOST_AUTO_TEST_CASE(the_cap_stops_recording_and_keeps_the_file_valid) {
  auto w = make_writer(400);
  auto& rec = *w.writer;
  rec.header({"t", 0, {}});
  nw::runtime_exec ev{0, 1, {"runc", "start", "some-container-id"}, "", 1, 0};
  uint64_t t = 1;
  while (!rec.stopped())
    rec.exec(t++, ev);
  auto text = w.text->str();
  BOOST_TEST(text.size() <= 400u);
  auto got = lines(text);
  BOOST_REQUIRE(got.size() >= 3u);
  BOOST_TEST(got.back().rfind(R"({"kind":"end",)", 0) == 0u);
  // Nothing after the stop.
  rec.exec(t + 5, ev);
  rec.answer(nw::file_answer("/y", true, "z", ""));
  BOOST_TEST(w.text->str() == text);
  nw::scenario sc;
  std::string error;
  BOOST_TEST_MESSAGE(text);
  BOOST_REQUIRE_MESSAGE(nw::parse_scenario(text, sc, error), error);
  BOOST_TEST(sc.timeline.size() == got.size() - 1);
}

BOOST_AUTO_TEST_CASE(bytes_json_cannot_hold_become_replacement_characters) {
  auto w = make_writer();
  w.writer->header({"t", 0, {}});
  w.writer->answer(nw::file_answer("/bin", true, std::string{"a\xff"}, ""));
  w.writer->end(0);
  nw::scenario sc;
  std::string error;
  BOOST_REQUIRE_MESSAGE(nw::parse_scenario(w.text->str(), sc, error), error);
  BOOST_TEST(sc.files.at("/bin") == "a\xef\xbf\xbd");
}

BOOST_AUTO_TEST_CASE(an_unwritable_path_is_an_error) {
  std::string error;
  auto w = nw::record_writer::open("/nonexistent-dir/x/rec.jsonl",
                                   nw::default_record_max_bytes, error);
  BOOST_TEST(!w);
  BOOST_TEST(error
             == "cannot write '/nonexistent-dir/x/rec.jsonl': No such file or "
                "directory");
}

BOOST_AUTO_TEST_CASE(the_file_is_owner_only_and_truncated) {
  char dir_template[] = "/tmp/nw-rec-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string path = std::string{dir_template} + "/rec.jsonl";
  {
    std::ofstream old{path};
    old << "old contents that must go\n";
  }
  ::chmod(path.c_str(), 0644);
  std::string error;
  auto w = nw::record_writer::open(path, nw::default_record_max_bytes, error);
  BOOST_REQUIRE_MESSAGE(w, error);
  w->header({"t", 0, {}});
  w->end(0);
  w.reset();
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  BOOST_TEST(text.str().find("old contents") == std::string::npos);
  nw::scenario sc;
  BOOST_TEST(nw::parse_scenario(text.str(), sc, error));
  ::unlink(path.c_str());
  ::rmdir(dir_template);
}
