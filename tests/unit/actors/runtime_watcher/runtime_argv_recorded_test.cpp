// parse_runtime_argv on argvs recorded on this host (strace -f -e execve)
// from the managers the integration tests drive: containerd 1.6.20's
// containerd-shim-runc-v2, podman 4.3.1's conmon and runc, crun 1.8.1.
// The conmon argv is cut to the BPF capture's first max_argv_entries
// entries, as the agent sees it. The synthetic shapes are in
// runtime_argv_test.cpp.
#define BOOST_TEST_MODULE runtime_argv_recorded
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "actors/runtime_watcher/runtime_argv.hpp"
#include "tests/support/text.hpp"

using namespace nw;

namespace nw {

// For BOOST_TEST's failure messages.
std::ostream& operator<<(std::ostream& os, runtime_command_kind x) {
  return os << to_string(x);
}

} // namespace nw

namespace {

using argv_t = std::vector<std::string>;

const std::string podman_id
  = "4b5c568a85e2b8d1966ebfc73fd0cdf32dd5b2145eeef52dc7e3c86ab01c4c0d";

runtime_command parse_ok(const argv_t& argv) {
  auto res = parse_runtime_argv(argv);
  BOOST_TEST_REQUIRE(res.ok(), "unexpected rejection: " << res.error());
  return std::move(res).value();
}

/// The first max_argv_entries entries, as bpf/execruntime captures them.
argv_t captured(argv_t argv) {
  if (argv.size() > max_argv_entries)
    argv.resize(max_argv_entries);
  return argv;
}

} // namespace

BOOST_AUTO_TEST_CASE(containerd_shim_runc_create_with_a_private_runc_root) {
  // ctr run -d --runc-root /tmp/mgrx/cd/runc IMAGE nwt-c2 ...: the shim
  // appends the namespace to the runc root.
  auto task = std::string{"/tmp/mgrx/cd/state/io.containerd.runtime.v2.task/"
                          "default/nwt-c2"};
  auto cmd
    = parse_ok({"runc", "--root", "/tmp/mgrx/cd/runc/default", "--log",
                task + "/log.json", "--log-format", "json", "create",
                "--bundle", task, "--pid-file", task + "/init.pid", "nwt-c2"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "runc");
  BOOST_TEST(cmd.id == "nwt-c2");
  BOOST_TEST(cmd.bundle == task);
  BOOST_TEST(cmd.pid_file == task + "/init.pid");
  BOOST_TEST(cmd.root == "/tmp/mgrx/cd/runc/default");
  BOOST_TEST(!cmd.argv_capped);
}

BOOST_AUTO_TEST_CASE(containerd_shim_runc_start_kill_delete_are_other) {
  auto task = std::string{"/tmp/mgrx/cd/state/io.containerd.runtime.v2.task/"
                          "default/nwt-c2"};
  argv_t head{"runc",  "--root",           "/tmp/mgrx/cd/runc/default",
              "--log", task + "/log.json", "--log-format",
              "json"};
  for (auto tail :
       {argv_t{"start", "nwt-c2"}, argv_t{"kill", "nwt-c2", "9"},
        argv_t{"delete", "nwt-c2"}, argv_t{"delete", "--force", "nwt-c2"}}) {
    auto argv = head;
    argv.insert(argv.end(), tail.begin(), tail.end());
    auto cmd = parse_ok(argv);
    BOOST_TEST(cmd.kind == runtime_command_kind::other);
    BOOST_TEST(cmd.subcommand == tail.front());
  }
  BOOST_TEST(parse_ok({"runc", "init"}).kind == runtime_command_kind::other);
  BOOST_TEST(parse_ok({"/proc/self/exe", "init"}).kind
             == runtime_command_kind::ignored);
}

BOOST_AUTO_TEST_CASE(podman_conmon_as_captured) {
  // podman --root /tmp/mgrx/pr --runroot /tmp/mgrx/prr --tmpdir
  // /tmp/mgrx/ptmp run -d --runtime runc --network none ... --name nwt-p1:
  // 62 entries, of which the capture keeps 20 (ending at --log-level,
  // whose value is cut off).
  auto bundle = "/tmp/mgrx/pr/overlay-containers/" + podman_id + "/userdata";
  auto run = "/tmp/mgrx/prr/overlay-containers/" + podman_id + "/userdata";
  argv_t argv{"/usr/bin/conmon",
              "--api-version",
              "1",
              "-c",
              podman_id,
              "-u",
              podman_id,
              "-r",
              "/usr/bin/runc",
              "-b",
              bundle,
              "-p",
              run + "/pidfile",
              "-n",
              "nwt-p1",
              "--exit-dir",
              "/tmp/mgrx/ptmp/exits",
              "--full-attach",
              "-l",
              "k8s-file:" + bundle + "/ctr.log",
              "--log-level",
              "warning",
              "--runtime-arg",
              "--log-format=json",
              "--runtime-arg",
              "--log",
              "--runtime-arg=" + run + "/oci-log",
              "--conmon-pidfile",
              run + "/conmon.pid",
              "--exit-command",
              "/usr/bin/podman"};
  auto cmd = parse_ok(captured(argv));
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.argv_capped);
  BOOST_TEST(cmd.id == podman_id);
  BOOST_TEST(cmd.name == "nwt-p1");
  BOOST_TEST(cmd.bundle == bundle);
  BOOST_TEST(cmd.pid_file == run + "/pidfile");
  BOOST_TEST(cmd.runtime_path == "/usr/bin/runc");
  // Podman passes runc no --root: runc's default (/run/runc).
  BOOST_TEST(cmd.root == "");
  // conmon's `--version` probe, which podman runs before each container.
  BOOST_TEST(parse_ok({"/usr/bin/conmon", "--version"}).kind
             == runtime_command_kind::other);
}

BOOST_AUTO_TEST_CASE(podman_conmon_with_a_runtime_root_flag) {
  // podman --runtime-flag root=/tmp/mgrx/prunc: conmon passes it on as
  // `--runtime-arg --root=...`, still inside the capture.
  auto bundle = "/tmp/mgrx/pr/overlay-containers/" + podman_id + "/userdata";
  auto run = "/tmp/mgrx/prr/overlay-containers/" + podman_id + "/userdata";
  argv_t argv{"/usr/bin/conmon",
              "--api-version",
              "1",
              "-c",
              podman_id,
              "-u",
              podman_id,
              "-r",
              "/usr/bin/runc",
              "-b",
              bundle,
              "-p",
              run + "/pidfile",
              "-n",
              "nwt-p2",
              "--exit-dir",
              "/tmp/mgrx/ptmp/exits",
              "--full-attach",
              "--runtime-arg",
              "--root=/tmp/mgrx/prunc",
              "-l",
              "k8s-file:" + bundle + "/ctr.log"};
  auto cmd = parse_ok(captured(argv));
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.name == "nwt-p2");
  BOOST_TEST(cmd.root == "/tmp/mgrx/prunc");
}

BOOST_AUTO_TEST_CASE(podman_runc_create_and_start) {
  auto bundle = "/tmp/mgrx/pr/overlay-containers/" + podman_id + "/userdata";
  auto run = "/tmp/mgrx/prr/overlay-containers/" + podman_id + "/userdata";
  auto cmd = parse_ok({"/usr/bin/runc", "--log-format=json", "--log",
                       run + "/oci-log", "create", "--bundle", bundle,
                       "--pid-file", run + "/pidfile", podman_id});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "runc");
  BOOST_TEST(cmd.id == podman_id);
  BOOST_TEST(cmd.bundle == bundle);
  BOOST_TEST(cmd.pid_file == run + "/pidfile");
  BOOST_TEST(cmd.root == "");
  auto with_root
    = parse_ok({"/usr/bin/runc", "--root=/tmp/mgrx/prunc", "--log-format=json",
                "--log", run + "/oci-log", "create", "--bundle", bundle,
                "--pid-file", run + "/pidfile", podman_id});
  BOOST_TEST(with_root.kind == runtime_command_kind::create);
  BOOST_TEST(with_root.root == "/tmp/mgrx/prunc");
  BOOST_TEST(parse_ok({"/usr/bin/runc", "start", podman_id}).kind
             == runtime_command_kind::other);
}

BOOST_AUTO_TEST_CASE(crun_create) {
  // crun_fixture.hpp's wrapper execs crun with the fixture's argv.
  auto cmd = parse_ok({"/usr/bin/crun", "--root", "/tmp/mgrx/crunroot",
                       "create", "--bundle", "/tmp/mgrx/cb", "--pid-file",
                       "/tmp/mgrx/cb/init.pid", "nwt-cr1"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "crun");
  BOOST_TEST(cmd.id == "nwt-cr1");
  BOOST_TEST(cmd.bundle == "/tmp/mgrx/cb");
  BOOST_TEST(cmd.pid_file == "/tmp/mgrx/cb/init.pid");
  BOOST_TEST(cmd.root == "/tmp/mgrx/crunroot");
}

BOOST_AUTO_TEST_CASE(a_create_without_an_id_says_where_its_argv_ends) {
  // Seen (rarely) in the podman test's log as just "create without a
  // container id": the reason now tells a cut argv from a missing id.
  auto res = parse_runtime_argv({"/usr/bin/runc", "--log-format=json", "create",
                                 "--bundle", "/b", "--pid-file", "/b/pidfile"});
  BOOST_TEST_REQUIRE(!res.ok());
  BOOST_TEST(res.error()
             == "create without a container id (7 argv entries, the last "
                "'/b/pidfile')");
  auto bad = parse_runtime_argv(
    {"runc", "create", "--bundle", "/b", "--pid-file", "\x1b[2J"});
  BOOST_TEST_REQUIRE(!bad.ok());
  BOOST_TEST(nw::test::contains(bad.error(), "6 argv entries"));
  BOOST_TEST(bad.error().find('\x1b') == std::string::npos);
}
