#define BOOST_TEST_MODULE runtime_argv
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "actors/runtime_watcher/runtime_argv.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw;

namespace nw {

// For BOOST_TEST's failure messages.
std::ostream& operator<<(std::ostream& os, runtime_command_kind x) {
  return os << to_string(x);
}

} // namespace nw

namespace {

using argv_t = std::vector<std::string>;

const std::string id64
  = "3f2a9c1e5b7d4a6f8e0c2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a";

runtime_command parse_ok(const argv_t& argv) {
  auto res = parse_runtime_argv(argv);
  BOOST_TEST_REQUIRE(res.ok(), "unexpected rejection: " << res.error());
  BOOST_TEST(res.error().empty());
  return std::move(res).value();
}

std::string parse_err(const argv_t& argv) {
  auto res = parse_runtime_argv(argv);
  BOOST_TEST_REQUIRE(!res.ok(), "unexpectedly accepted");
  BOOST_TEST(!res.error().empty());
  BOOST_TEST(res.error().find('\n') == std::string::npos);
  return res.error();
}

} // namespace

// -- real argv shapes ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(containerd_shim_create) {
  auto task = "/run/containerd/io.containerd.runtime.v2.task/default/" + id64;
  auto cmd
    = parse_ok({"runc", "--root", "/run/containerd/runc/default", "--log",
                task + "/log.json", "--log-format", "json", "create",
                "--bundle", task, "--pid-file", task + "/init.pid", id64});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "runc");
  BOOST_TEST(cmd.subcommand == "create");
  BOOST_TEST(cmd.id == id64);
  BOOST_TEST(cmd.bundle == task);
  BOOST_TEST(cmd.pid_file == task + "/init.pid");
  BOOST_TEST(cmd.root == "/run/containerd/runc/default");
  BOOST_TEST(cmd.config.empty());
  BOOST_TEST(cmd.name.empty());
  BOOST_TEST(!cmd.argv_capped);
}

BOOST_AUTO_TEST_CASE(containerd_k8s_create_with_systemd_cgroup) {
  auto task = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + id64;
  auto cmd = parse_ok({"/usr/bin/runc", "--root", "/run/containerd/runc/k8s.io",
                       "--log", task + "/log.json", "--log-format", "json",
                       "--systemd-cgroup", "create", "--bundle", task,
                       "--pid-file", task + "/init.pid", id64});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "runc");
  BOOST_TEST(cmd.root == "/run/containerd/runc/k8s.io");
  BOOST_TEST(cmd.id == id64);
}

BOOST_AUTO_TEST_CASE(podman_runc_create) {
  auto userdata
    = "/var/lib/containers/storage/overlay-containers/" + id64 + "/userdata";
  auto cmd = parse_ok(
    {"/usr/bin/runc", "--root", "/run/runc", "--systemd-cgroup", "create",
     "--bundle", userdata, "--pid-file",
     "/run/containers/storage/overlay-containers/" + id64 + "/userdata/pidfile",
     id64});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.bundle == userdata);
  BOOST_TEST(cmd.root == "/run/runc");
  BOOST_TEST(cmd.id == id64);
}

BOOST_AUTO_TEST_CASE(podman_conmon_within_the_cap) {
  auto userdata
    = "/var/lib/containers/storage/overlay-containers/" + id64 + "/userdata";
  auto cmd = parse_ok(
    {"/usr/bin/conmon", "--api-version", "1", "-c", id64, "-u", id64, "-r",
     "/usr/bin/runc", "-b", userdata, "-p",
     "/run/containers/storage/overlay-containers/" + id64 + "/userdata/pidfile",
     "-n", "web", "--full-attach", "-s", "--runtime-arg", "--log-format=json"});
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.runtime == "conmon");
  BOOST_TEST(cmd.subcommand.empty());
  BOOST_TEST(cmd.id == id64);
  BOOST_TEST(cmd.name == "web");
  BOOST_TEST(cmd.bundle == userdata);
  BOOST_TEST(cmd.pid_file
             == "/run/containers/storage/overlay-containers/" + id64
                  + "/userdata/pidfile");
  BOOST_TEST(cmd.runtime_path == "/usr/bin/runc");
  BOOST_TEST(cmd.root.empty());
}

BOOST_AUTO_TEST_CASE(podman_conmon_cut_at_the_cap) {
  // Podman's real conmon argv is ~40 entries; the capture keeps the first
  // 20, which here end with `-l` whose value was cut off.
  auto userdata
    = "/var/lib/containers/storage/overlay-containers/" + id64 + "/userdata";
  argv_t argv{"/usr/bin/conmon",
              "--api-version",
              "1",
              "-c",
              id64,
              "-u",
              id64,
              "-r",
              "/usr/bin/runc",
              "-b",
              userdata,
              "-p",
              userdata + "/pidfile",
              "-n",
              "web",
              "--exit-dir",
              "/run/libpod/exits",
              "--full-attach",
              "-s",
              "-l"};
  BOOST_REQUIRE_EQUAL(argv.size(), max_argv_entries);
  auto cmd = parse_ok(argv);
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.argv_capped);
  BOOST_TEST(cmd.id == id64);
  BOOST_TEST(cmd.name == "web");
  BOOST_TEST(cmd.pid_file == userdata + "/pidfile");
  // The same argv one entry short is not capped: a missing value is an error.
  argv.pop_back();
  argv.back() = "-l";
  BOOST_TEST(contains(parse_err(argv), "'-l' needs a value"));
}

BOOST_AUTO_TEST_CASE(crio_conmon_root_from_runtime_arg) {
  auto bundle
    = "/run/containers/storage/overlay-containers/" + id64 + "/userdata";
  // CRI-O's real argv is longer; this keeps the flags that matter here.
  auto cmd = parse_ok({"/usr/bin/conmon", "-b", bundle, "-c", id64, "-l",
                       "/var/log/pods/ns_pod_uid/app/0.log", "-n",
                       "k8s_app_pod_ns_uid_0", "-P", bundle + "/conmon-pidfile",
                       "-p", bundle + "/pidfile", "-r", "/usr/bin/runc",
                       "--runtime-arg", "--root=/run/runc", "-s"});
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.root == "/run/runc");
  BOOST_TEST(cmd.name == "k8s_app_pod_ns_uid_0");
  BOOST_TEST(cmd.pid_file == bundle + "/pidfile");
  // The two-entry form of the same pass-through.
  cmd = parse_ok({"conmon", "-c", "abc", "--runtime-arg", "--root",
                  "--runtime-arg", "/run/crun"});
  BOOST_TEST(cmd.root == "/run/crun");
}

BOOST_AUTO_TEST_CASE(conmon_long_forms) {
  auto cmd
    = parse_ok({"conmon", "--cid=abc", "--name", "db", "--bundle=/b",
                "--container-pidfile", "/b/pidfile", "--runtime",
                "/usr/bin/crun", "--conmon-pidfile", "/b/conmon.pid",
                "--socket-dir-path", "/run/sock", "--terminal", "--stdin"});
  BOOST_TEST(cmd.kind == runtime_command_kind::conmon);
  BOOST_TEST(cmd.id == "abc");
  BOOST_TEST(cmd.name == "db");
  BOOST_TEST(cmd.bundle == "/b");
  BOOST_TEST(cmd.pid_file == "/b/pidfile");
  BOOST_TEST(cmd.runtime_path == "/usr/bin/crun");
  // The deprecated --pidfile, and short groups (-ti) before a value flag.
  cmd = parse_ok({"conmon", "-ti", "-cxyz", "--pidfile", "/x/pid"});
  BOOST_TEST(cmd.id == "xyz");
  BOOST_TEST(cmd.pid_file == "/x/pid");
  // An unknown flag is taken to have no value; its value, a positional, is
  // ignored like the "1" after --api-version.
  cmd = parse_ok({"conmon", "--some-new-flag", "value", "-c", "abc"});
  BOOST_TEST(cmd.id == "abc");
}

BOOST_AUTO_TEST_CASE(conmon_exec_and_version_are_other) {
  auto cmd = parse_ok({"conmon", "--api-version", "1", "-c", "abc", "-u",
                       "session", "-r", "/usr/bin/runc", "--exec-attach",
                       "--exec", "--exec-process-spec", "/tmp/spec.json"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  BOOST_TEST(contains(cmd.reason, "exec"));
  cmd = parse_ok({"conmon", "--version"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
}

BOOST_AUTO_TEST_CASE(flag_spellings) {
  // --flag=value, -b, -bVALUE, Go's -flag and -flag=value, `--`.
  for (const auto& argv :
       {argv_t{"runc", "--root=/r", "create", "--bundle=/b", "--pid-file=/p",
               "id1"},
        argv_t{"runc", "-root", "/r", "create", "-b", "/b", "-pid-file", "/p",
               "id1"},
        argv_t{"runc", "-root=/r", "create", "-b/b", "--pid-file", "/p", "id1"},
        argv_t{"runc", "--root", "/r", "create", "-b=/b", "-pid-file=/p", "--",
               "id1"},
        // runc reorders flags after the id (urfave/cli).
        argv_t{"runc", "--root", "/r", "create", "id1", "--bundle", "/b",
               "--pid-file", "/p"}}) {
    auto cmd = parse_ok(argv);
    BOOST_TEST(cmd.kind == runtime_command_kind::create);
    BOOST_TEST(cmd.id == "id1");
    BOOST_TEST(cmd.bundle == "/b");
    BOOST_TEST(cmd.pid_file == "/p");
    BOOST_TEST(cmd.root == "/r");
  }
}

BOOST_AUTO_TEST_CASE(every_known_runc_and_crun_flag) {
  auto cmd = parse_ok({"runc", "--debug", "--log", "/l", "--log-format", "text",
                       "--criu", "/usr/sbin/criu", "--rootless", "auto",
                       "--systemd-cgroup", "create", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.id == "ctr");
  cmd = parse_ok({"runc", "create", "--console-socket", "/s.sock",
                  "--preserve-fds", "2", "--no-pivot", "--no-new-keyring",
                  "--bundle", "/b", "--pid-file", "/p", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.id == "ctr");
  BOOST_TEST(cmd.bundle == "/b");
  cmd = parse_ok({"/usr/bin/crun", "--cgroup-manager", "systemd", "--log-level",
                  "debug", "create", "--config", "/b/other.json",
                  "--no-subreaper", "-b", "/b", "--pid-file", "/p", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  BOOST_TEST(cmd.runtime == "crun");
  BOOST_TEST(cmd.config == "/b/other.json");
  // `-f config.json` is crun's default: the bundle's own config.
  cmd = parse_ok({"crun", "create", "-f", "config.json", "-b", "/b", "ctr"});
  BOOST_TEST(cmd.config.empty());
  // Without --bundle, the runtime uses its cwd: left to the caller.
  cmd = parse_ok({"runc", "create", "ctr"});
  BOOST_TEST(cmd.bundle.empty());
  BOOST_TEST(cmd.pid_file.empty());
}

BOOST_AUTO_TEST_CASE(unknown_flags_and_the_last_positional) {
  // A future value-taking flag we do not know: its value looks like a
  // positional, but the id is the last one.
  auto cmd = parse_ok(
    {"runc", "create", "--future-flag", "v", "--bundle", "/b", "ctr"});
  BOOST_TEST(cmd.id == "ctr");
  cmd = parse_ok({"runc", "create", "-Z", "--bundle", "/b", "ctr"});
  BOOST_TEST(cmd.id == "ctr");
  // A value flag's value is taken even when it starts with '-'.
  cmd = parse_ok(
    {"runc", "create", "--bundle", "/b", "--console-socket", "-weird", "ctr"});
  BOOST_TEST(cmd.id == "ctr");
}

BOOST_AUTO_TEST_CASE(other_subcommands) {
  auto cmd = parse_ok({"runc", "--root", "/run/runc", "start", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  BOOST_TEST(cmd.subcommand == "start");
  BOOST_TEST(cmd.id.empty());
  // Other subcommands are not validated beyond the argv bounds.
  cmd = parse_ok({"runc", "--root", "relative", "delete", "../bad id"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  cmd = parse_ok({"runc", "run", "--pid-file", "/p", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  BOOST_TEST(cmd.subcommand == "run");
  cmd = parse_ok({"runc", "init"}); // runc's child, re-exec'd with argv0 kept
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  cmd = parse_ok({"runc", "--version"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  cmd = parse_ok({"runc", "-v"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  cmd = parse_ok({"runc"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  BOOST_TEST(cmd.reason == "no subcommand");
  cmd = parse_ok({"runc", "create", "--help"});
  BOOST_TEST(cmd.kind == runtime_command_kind::other);
  BOOST_TEST(std::string{to_string(cmd.kind)} == "other");
}

BOOST_AUTO_TEST_CASE(ignored_commands) {
  auto cmd = parse_ok({"/proc/self/exe", "init"});
  BOOST_TEST(cmd.kind == runtime_command_kind::ignored);
  BOOST_TEST(contains(cmd.reason, "/proc/self/exe"));
  cmd = parse_ok({"", "create", "--bundle", "/b", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::ignored);
  BOOST_TEST(contains(cmd.reason, "empty basename"));
  cmd = parse_ok({"/usr/bin/", "create", "ctr"});
  BOOST_TEST(cmd.kind == runtime_command_kind::ignored);
  cmd = parse_ok({});
  BOOST_TEST(cmd.kind == runtime_command_kind::ignored);
  BOOST_TEST(std::string{to_string(cmd.kind)} == "ignored");
}

BOOST_AUTO_TEST_CASE(basenames) {
  BOOST_TEST(runtime_basename("/usr/bin/runc") == "runc");
  BOOST_TEST(runtime_basename("runc") == "runc");
  BOOST_TEST(runtime_basename("./crun") == "crun");
  BOOST_TEST(runtime_basename("/usr/libexec/podman/conmon") == "conmon");
  BOOST_TEST(runtime_basename("/usr/bin/") == "");
  BOOST_TEST(runtime_basename("") == "");
  BOOST_TEST(runtime_basename("/") == "");
}

// -- rejections ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(container_ids) {
  BOOST_TEST(!check_container_id("abc_DEF+1.2-3"));
  BOOST_TEST(!check_container_id(id64));
  BOOST_TEST(!check_container_id(std::string(max_container_id_bytes, 'a')));
  BOOST_TEST(!check_container_id("..."));
  for (const auto& bad : std::vector<std::string>{
         "", ".", "..", "a/b", "../x", "a b", "a\nb", "caf\xc3\xa9", "a;b",
         "a:b", "a*", std::string{"a\0b", 3}}) {
    auto err = check_container_id(bad);
    BOOST_TEST_REQUIRE(err.has_value(), "accepted id '" << bad << "'");
    BOOST_TEST(!err->reason.empty());
    BOOST_TEST(err->reason.find('\n') == std::string::npos);
  }
  BOOST_TEST(check_container_id(std::string(max_container_id_bytes + 1, 'a'))
               ->reason.find("1025 bytes")
             != std::string::npos);
  // Through the parser, for both create and conmon.
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle", "/b", "a/b"}),
                      "[A-Za-z0-9_+.-]"));
  BOOST_TEST(contains(parse_err({"runc", "create", ".."}), "directory"));
  BOOST_TEST(contains(parse_err({"conmon", "-c", "x y"}), "-c/--cid"));
  BOOST_TEST(contains(parse_err({"conmon", "--cid="}), "empty"));
}

BOOST_AUTO_TEST_CASE(paths) {
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle", "rel", "c"}),
                      "not an absolute path"));
  BOOST_TEST(contains(parse_err({"runc", "create", "--pid-file", "p", "c"}),
                      "--pid-file"));
  BOOST_TEST(
    contains(parse_err({"runc", "--root", "r", "create", "c"}), "--root"));
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle=", "c"}),
                      "--bundle is empty"));
  BOOST_TEST(
    contains(parse_err({"crun", "create", "-f", "my.json", "c"}), "--config"));
  BOOST_TEST(
    contains(parse_err({"conmon", "-c", "c", "-b", "b"}), "-b/--bundle"));
  BOOST_TEST(contains(parse_err({"conmon", "-c", "c", "-p", "./p"}),
                      "-p/--container-pidfile"));
  BOOST_TEST(
    contains(parse_err({"conmon", "-c", "c", "-r", "runc"}), "-r/--runtime"));
  BOOST_TEST(contains(
    parse_err({"conmon", "-c", "c", "--runtime-arg", "--root=rel"}), "--root"));
  // The checker itself also bounds length.
  BOOST_TEST(
    contains(check_absolute_path(std::string(max_path_bytes + 1, '/'), "p"),
             "4096 bytes"));
  BOOST_TEST(
    check_absolute_path(std::string(max_path_bytes, '/'), "p").empty());
  BOOST_TEST(
    contains(check_absolute_path(std::string{"/a\0b", 4}, "p"), "NUL"));
}

BOOST_AUTO_TEST_CASE(argv_bounds) {
  argv_t many{"runc"};
  many.resize(max_argv_entries + 1, "--debug");
  BOOST_TEST(contains(parse_err(many), "21 entries"));
  BOOST_TEST(contains(parse_err({"runc", "create", std::string(256, 'a')}),
                      "argv[2] is 256 bytes"));
  BOOST_TEST(
    contains(parse_err({"runc", "create", std::string{"a\0b", 3}}), "NUL"));
  // Even for commands that would be ignored: the bounds come first.
  BOOST_TEST(
    contains(parse_err({"/proc/self/exe", std::string(300, 'x')}), "300"));
}

BOOST_AUTO_TEST_CASE(possibly_truncated_entries) {
  // 255 bytes is the capture's limit: such an entry may have been cut, so a
  // value we would use from it is rejected; unused ones are fine.
  auto long_path = "/" + std::string(max_argv_entry_bytes - 1, 'p');
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle", long_path, "c"}),
                      "--bundle may have been truncated"));
  BOOST_TEST(contains(
    parse_err({"runc", "create", "--pid-file=" + long_path.substr(11), "c"}),
    "--pid-file may have been truncated"));
  BOOST_TEST(contains(
    parse_err({"runc", "create", std::string(max_argv_entry_bytes, 'i')}),
    "container id may have been truncated"));
  BOOST_TEST(contains(parse_err({"conmon", "-c", "c", "-n",
                                 std::string(max_argv_entry_bytes, 'n')}),
                      "-n/--name may have been truncated"));
  auto cmd = parse_ok({"runc", "--log", long_path, "create", "c"});
  BOOST_TEST(cmd.kind == runtime_command_kind::create);
  // 254 bytes cannot have been cut.
  cmd = parse_ok(
    {"runc", "create", "--bundle", "/" + std::string(253, 'p'), "c"});
  BOOST_TEST(cmd.bundle.size() == 254u);
}

BOOST_AUTO_TEST_CASE(missing_values_and_ids) {
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle"}),
                      "'--bundle' needs a value"));
  BOOST_TEST(contains(parse_err({"runc", "--root"}), "'--root' needs a value"));
  BOOST_TEST(contains(parse_err({"runc", "create", "-b"}), "needs a value"));
  BOOST_TEST(contains(parse_err({"runc", "create", "--bundle", "/b"}),
                      "create without a container id"));
  BOOST_TEST(contains(parse_err({"conmon", "-b", "/b", "-n", "x"}),
                      "conmon without -c/--cid"));
  // At the cap, a missing trailing value is tolerated, but the missing id
  // is still an error, with a hint why.
  argv_t capped{"runc", "--debug", "create"};
  while (capped.size() < max_argv_entries - 1) {
    capped.emplace_back("--preserve-fds");
    capped.emplace_back("0");
  }
  capped.emplace_back("--bundle");
  BOOST_REQUIRE_EQUAL(capped.size(), max_argv_entries);
  auto err = parse_err(capped);
  BOOST_TEST(contains(err, "create without a container id"));
  BOOST_TEST(contains(err, "capture limit"));
}

BOOST_AUTO_TEST_CASE(conmon_name_with_control_bytes) {
  BOOST_TEST(contains(parse_err({"conmon", "-c", "c", "-n", "a\nb"}),
                      "control character"));
  // The reason escapes the bytes it quotes.
  auto err = parse_err({"conmon", "-c", "c", "-n", "a\x1b[31mb"});
  BOOST_TEST(contains(err, "\\x1b"));
  BOOST_TEST(err.find('\x1b') == std::string::npos);
  // An empty name is no name.
  auto cmd = parse_ok({"conmon", "-c", "c", "-n", ""});
  BOOST_TEST(cmd.name.empty());
}

BOOST_AUTO_TEST_CASE(hostile_shapes_do_not_throw) {
  for (const auto& argv :
       {argv_t{"runc", "-", "--", "-="}, argv_t{"runc", "---", "create"},
        argv_t{"runc", "--=x", "create", "--=", "c"},
        argv_t{"runc", "create", "-", "c"}, argv_t{"conmon", "-", "-c", "-"},
        argv_t{"conmon", "--", "-c", "x"}, argv_t{"conmon", "-cc"},
        argv_t{"runc", "create", "-bf", "c"}, argv_t{"runc", "-h=x"}}) {
    auto res = parse_runtime_argv(argv);
    BOOST_TEST((res.ok() || !res.error().empty()));
  }
  // `conmon -- -c x`: after `--` everything is positional: no id.
  BOOST_TEST(contains(parse_err({"conmon", "--", "-c", "x"}), "without -c"));
  // `-bf`: -b takes "f" as its value, which is relative.
  BOOST_TEST(contains(parse_err({"runc", "create", "-bf", "c"}), "'f'"));
}

BOOST_AUTO_TEST_CASE(result_type) {
  parse_result<int> ok{7};
  BOOST_TEST(ok.ok());
  BOOST_TEST(static_cast<bool>(ok));
  BOOST_TEST(ok.value() == 7);
  BOOST_TEST(ok.error().empty());
  parse_result<int> bad{parse_error{"nope"}};
  BOOST_TEST(!bad.ok());
  BOOST_TEST(bad.error() == "nope");
  BOOST_CHECK_THROW(bad.value(), std::bad_variant_access);
  BOOST_TEST(quote_input("ab'\\\x01") == "'ab\\x27\\x5c\\x01'");
  BOOST_TEST(quote_input(std::string(100, 'x'), 4) == "'xxxx'...");
}
