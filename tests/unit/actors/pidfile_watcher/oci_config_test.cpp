#define BOOST_TEST_MODULE oci_config
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "actors/pidfile_watcher/oci_config.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

using namespace nw;

namespace {

oci_config parse_ok(std::string_view text) {
  auto res = parse_oci_config(text);
  BOOST_TEST_REQUIRE(res.ok(), "unexpected rejection: " << res.error());
  return std::move(res).value();
}

std::string parse_err(std::string_view text) {
  auto res = parse_oci_config(text);
  BOOST_TEST_REQUIRE(!res.ok(), "unexpectedly accepted");
  BOOST_TEST(!res.error().empty());
  BOOST_TEST(res.error().find('\n') == std::string::npos);
  BOOST_TEST(res.error().size() < 512u);
  return res.error();
}

// Trimmed from what containerd 1.6's CRI plugin writes for a pod sandbox.
constexpr std::string_view containerd_sandbox_json = R"({
  "ociVersion": "1.0.2-dev",
  "process": {"user": {"uid": 65535, "gid": 65535}, "args": ["/pause"],
              "cwd": "/", "capabilities": {"bounding": ["CAP_CHOWN"]},
              "noNewPrivileges": true, "oomScoreAdj": -998},
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "web-7d4b9c",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "annotations": {
    "io.kubernetes.cri.container-type": "sandbox",
    "io.kubernetes.cri.sandbox-id": "1111aaaa",
    "io.kubernetes.cri.sandbox-log-directory": "/var/log/pods/shop_web_0a1b",
    "io.kubernetes.cri.sandbox-name": "web-7d4b9c",
    "io.kubernetes.cri.sandbox-namespace": "shop",
    "io.kubernetes.cri.sandbox-uid": "0a1b2c3d-0000-4000-8000-000000000001"
  },
  "linux": {
    "resources": {"cpu": {"shares": 2}},
    "cgroupsPath": "kubepods-besteffort-pod0a1b.slice:cri-containerd:1111aaaa",
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "network"}],
    "maskedPaths": ["/proc/acpi"]
  }
})";

// Trimmed from containerd's CRI plugin, a workload container of that pod.
constexpr std::string_view containerd_container_json = R"({
  "ociVersion": "1.0.2-dev",
  "process": {"args": ["nginx", "-g", "daemon off;"], "cwd": "/",
              "env": ["PATH=/usr/bin"]},
  "root": {"path": "rootfs"},
  "annotations": {
    "io.kubernetes.cri.container-name": "nginx",
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25",
    "io.kubernetes.cri.sandbox-id": "1111aaaa",
    "io.kubernetes.cri.sandbox-name": "web-7d4b9c",
    "io.kubernetes.cri.sandbox-namespace": "shop",
    "io.kubernetes.cri.sandbox-uid": "0a1b2c3d-0000-4000-8000-000000000001"
  },
  "linux": {
    "cgroupsPath": "/kubepods/besteffort/pod0a1b/2222bbbb",
    "namespaces": [{"type": "pid"},
                   {"type": "ipc", "path": "/proc/4242/ns/ipc"},
                   {"type": "uts", "path": "/proc/4242/ns/uts"},
                   {"type": "mount"},
                   {"type": "network", "path": "/proc/4242/ns/net"}]
  }
})";

// Trimmed from what CRI-O 1.26 writes for a pod's infra container.
constexpr std::string_view crio_sandbox_json = R"({
  "ociVersion": "1.0.2-dev",
  "process": {"args": ["/pause"], "cwd": "/"},
  "hostname": "db-0",
  "annotations": {
    "io.container.manager": "cri-o",
    "io.kubernetes.container.name": "POD",
    "io.kubernetes.cri-o.Annotations": "{\"kubernetes.io/config.seen\":\"1\"}",
    "io.kubernetes.cri-o.ContainerName": "k8s_POD_db-0_data_9f8e_0",
    "io.kubernetes.cri-o.ContainerType": "sandbox",
    "io.kubernetes.cri-o.HostNetwork": "false",
    "io.kubernetes.cri-o.SandboxID": "3333cccc",
    "io.kubernetes.pod.name": "db-0",
    "io.kubernetes.pod.namespace": "data",
    "io.kubernetes.pod.uid": "9f8e7d6c-0000-4000-8000-000000000002"
  },
  "linux": {
    "cgroupsPath": "kubepods-pod9f8e.slice:crio:3333cccc",
    "namespaces": [{"type": "pid"},
                   {"type": "network", "path": "/var/run/netns/7c1e-netns"},
                   {"type": "ipc", "path": "/var/run/ipcns/7c1e"},
                   {"type": "uts", "path": "/var/run/utsns/7c1e"},
                   {"type": "mount"}]
  }
})";

// Trimmed from CRI-O, a workload container in that pod.
constexpr std::string_view crio_container_json = R"({
  "ociVersion": "1.0.2-dev",
  "process": {"args": ["postgres"], "cwd": "/"},
  "annotations": {
    "io.container.manager": "cri-o",
    "io.kubernetes.container.name": "postgres",
    "io.kubernetes.cri-o.ContainerName": "k8s_postgres_db-0_data_9f8e_0",
    "io.kubernetes.cri-o.ContainerType": "container",
    "io.kubernetes.cri-o.SandboxID": "3333cccc",
    "io.kubernetes.pod.name": "db-0",
    "io.kubernetes.pod.namespace": "data",
    "io.kubernetes.pod.uid": "9f8e7d6c-0000-4000-8000-000000000002"
  },
  "linux": {
    "namespaces": [{"type": "pid"},
                   {"type": "network", "path": "/var/run/netns/7c1e-netns"},
                   {"type": "mount"}]
  }
})";

// Trimmed from podman 4.3 `podman run --network host --name web`.
constexpr std::string_view podman_host_network_json = R"({
  "ociVersion": "1.0.2-dev",
  "process": {"args": ["/bin/sh", "-c", "sleep 1d"]},
  "hostname": "host1",
  "annotations": {
    "io.container.manager": "libpod",
    "io.kubernetes.cri.container-name": "spoofed",
    "io.kubernetes.pod.namespace": "kube-system",
    "org.opencontainers.image.stopSignal": "15"
  },
  "linux": {
    "cgroupsPath": "machine.slice:libpod:4444dddd",
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"},
                   {"type": "uts"}]
  }
})";

std::string nested(size_t depth) {
  return R"({"annotations": {}, "x": )" + std::string(depth - 1, '[')
         + std::string(depth - 1, ']') + "}";
}

} // namespace

// -- real configs -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(containerd_cri_sandbox) {
  auto cfg = parse_ok(containerd_sandbox_json);
  BOOST_TEST(cfg.hostname == "web-7d4b9c");
  BOOST_TEST(cfg.process_args == std::vector<std::string>{"/pause"});
  BOOST_TEST(!cfg.process_args_truncated);
  BOOST_TEST(cfg.annotations.size() == 6u);
  BOOST_TEST(cfg.annotations_dropped == 0u);
  BOOST_TEST(cfg.namespaces.size() == 5u);
  BOOST_TEST(cfg.namespaces[4].type == "network");
  BOOST_TEST(cfg.namespaces[4].path.empty());
  BOOST_TEST(!cfg.host_network); // a new network namespace
  BOOST_TEST(cfg.cgroups_path
             == "kubepods-besteffort-pod0a1b.slice:cri-containerd:1111aaaa");
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "containerd-cri");
  BOOST_TEST(k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c");
  BOOST_TEST(k8s.container.empty());
  BOOST_TEST(k8s.pod_uid == "0a1b2c3d-0000-4000-8000-000000000001");
  BOOST_TEST(k8s.sandbox_id == "1111aaaa");
  BOOST_TEST(container_display_name(k8s, "", "1111aaaa") == "1111aaaa");
}

BOOST_AUTO_TEST_CASE(containerd_cri_container) {
  auto cfg = parse_ok(containerd_container_json);
  BOOST_TEST(cfg.hostname.empty());
  BOOST_TEST((cfg.process_args
              == std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  BOOST_TEST(!cfg.host_network); // joins the sandbox's
  BOOST_TEST(cfg.namespaces[4].path == "/proc/4242/ns/net");
  BOOST_TEST(cfg.cgroups_path == "/kubepods/besteffort/pod0a1b/2222bbbb");
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "containerd-cri");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.container == "nginx");
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c");
  BOOST_TEST(k8s.sandbox_id == "1111aaaa");
  BOOST_TEST(container_display_name(k8s, "ignored", "2222bbbb") == "nginx");
}

BOOST_AUTO_TEST_CASE(crio_sandbox) {
  auto cfg = parse_ok(crio_sandbox_json);
  BOOST_TEST(!cfg.host_network);
  BOOST_TEST(cfg.namespaces[1].path == "/var/run/netns/7c1e-netns");
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "cri-o");
  BOOST_TEST(k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "data");
  BOOST_TEST(k8s.pod == "db-0");
  BOOST_TEST(k8s.container == "POD");
  BOOST_TEST(k8s.pod_uid == "9f8e7d6c-0000-4000-8000-000000000002");
  BOOST_TEST(k8s.sandbox_id == "3333cccc");
  BOOST_TEST(k8s.name_hint == "k8s_POD_db-0_data_9f8e_0");
}

BOOST_AUTO_TEST_CASE(crio_container) {
  auto cfg = parse_ok(crio_container_json);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "cri-o");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.container == "postgres");
  BOOST_TEST(k8s.sandbox_id == "3333cccc");
  BOOST_TEST(
    container_display_name(k8s, "k8s_postgres_db-0_data_9f8e_0", "5555eeee")
    == "postgres");
  // CRI-O recognised by its ContainerType alone.
  auto no_manager = cfg.annotations;
  no_manager.erase("io.container.manager");
  BOOST_TEST(extract_k8s(no_manager).manager == "cri-o");
}

BOOST_AUTO_TEST_CASE(podman_never_yields_k8s_names) {
  auto cfg = parse_ok(podman_host_network_json);
  BOOST_TEST(cfg.host_network);
  BOOST_TEST(cfg.namespaces.size() == 4u);
  BOOST_TEST((cfg.process_args
              == std::vector<std::string>{"/bin/sh", "-c", "sleep 1d"}));
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "podman");
  BOOST_TEST(k8s.namespace_.empty());
  BOOST_TEST(k8s.container.empty());
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(container_display_name(k8s, "web", "4444dddd") == "web");
  // A podman pod's infra container.
  auto infra = cfg.annotations;
  infra["io.kubernetes.cri-o.ContainerType"] = "sandbox";
  infra["io.kubernetes.cri-o.SandboxID"] = "6666ffff";
  k8s = extract_k8s(infra);
  BOOST_TEST(k8s.manager == "podman");
  BOOST_TEST(k8s.sandbox);
  BOOST_TEST(k8s.sandbox_id == "6666ffff");
}

BOOST_AUTO_TEST_CASE(no_manager) {
  auto k8s = extract_k8s({});
  BOOST_TEST(k8s.manager.empty());
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(container_display_name(k8s, "", "abc") == "abc");
  BOOST_TEST(container_display_name(k8s, "named", "abc") == "named");
  k8s.name_hint = "hint";
  BOOST_TEST(container_display_name(k8s, "", "abc") == "hint");
  BOOST_TEST(container_display_name(k8s, "named", "abc") == "named");
}

BOOST_AUTO_TEST_CASE(minimal_and_null_fields) {
  auto cfg = parse_ok("{}");
  BOOST_TEST(cfg.annotations.empty());
  BOOST_TEST(cfg.host_network); // no network namespace entry
  BOOST_TEST(cfg.namespaces.empty());
  cfg = parse_ok(R"({"annotations": null, "process": null, "linux": null,
                     "hostname": null})");
  BOOST_TEST(cfg.host_network);
  cfg = parse_ok(R"({"linux": {"namespaces": [{"type": "network",
                     "path": ""}]}})");
  BOOST_TEST(!cfg.host_network);
  BOOST_TEST(cfg.namespaces[0].path.empty());
  // Unused fields are not checked.
  cfg = parse_ok(R"({"mounts": 7, "root": "x", "process": {"env": 1}})");
  BOOST_TEST(cfg.process_args.empty());
}

BOOST_AUTO_TEST_CASE(config_json_candidates) {
  using v = std::vector<std::string>;
  BOOST_TEST((config_json_paths("/run/containerd/task/default/abc")
              == v{"/run/containerd/task/default/abc/config.json",
                   "/run/containerd/task/default/abc/userdata/config.json"}));
  BOOST_TEST(
    (config_json_paths("/var/lib/containers/storage/overlay-containers/abc/"
                       "userdata")
     == v{"/var/lib/containers/storage/overlay-containers/abc/userdata/"
          "config.json"}));
  BOOST_TEST(
    (config_json_paths("/b/userdata//") == v{"/b/userdata/config.json"}));
  BOOST_TEST((config_json_paths("/b/")
              == v{"/b/config.json", "/b/userdata/config.json"}));
  BOOST_TEST(
    (config_json_paths("/") == v{"/config.json", "/userdata/config.json"}));
  BOOST_TEST((config_json_paths("userdata") == v{"userdata/config.json"}));
  BOOST_TEST(config_json_paths("").empty());
}

// -- bounds -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(size_limit) {
  std::string big = R"({"hostname": "h", "pad": ")";
  big += std::string(max_config_bytes, 'x');
  big += "\"}";
  BOOST_TEST(contains(parse_err(big), "at most 16777216"));
  // Exactly at the bound is fine.
  std::string edge = R"({"pad": ")";
  edge += std::string(max_config_bytes - edge.size() - 2, 'x');
  edge += "\"}";
  BOOST_REQUIRE_EQUAL(edge.size(), max_config_bytes);
  parse_ok(edge);
}

BOOST_AUTO_TEST_CASE(depth_limit) {
  parse_ok(nested(max_json_depth));
  BOOST_TEST(contains(parse_err(nested(max_json_depth + 1)), "deeper than 64"));
  // A million brackets: rejected before any DOM is built.
  BOOST_TEST(contains(parse_err(std::string(1'000'000, '[')), "deeper"));
  // Brackets inside strings do not count, escaped quotes included.
  parse_ok(R"({"hostname": "[[[[", "x": ")" + std::string(100, '[')
           + R"(\"[[[[", "y": ")" + std::string(100, '{') + "\"}");
}

BOOST_AUTO_TEST_CASE(annotation_bounds) {
  std::string many = R"({"annotations": {)";
  for (size_t i = 0; i <= max_annotations; ++i)
    many += (i ? "," : "") + ("\"k" + std::to_string(i) + "\": \"v\"");
  many += "}}";
  BOOST_TEST(contains(parse_err(many), "1025 entries"));
  // Over-long keys and values are dropped and counted, the rest kept.
  std::string text
    = R"({"annotations": {"io.kubernetes.cri.container-type": "container",)"
      R"( "big": ")"
      + std::string(max_annotation_value_bytes + 1, 'v') + R"(", ")"
      + std::string(max_annotation_key_bytes + 1, 'k') + R"(": "v", "edge": ")"
      + std::string(max_annotation_value_bytes, 'v') + "\"}}";
  auto cfg = parse_ok(text);
  BOOST_TEST(cfg.annotations_dropped == 2u);
  BOOST_TEST(cfg.annotations.size() == 2u);
  BOOST_TEST(cfg.annotations.count("edge") == 1u);
  BOOST_TEST(extract_k8s(cfg.annotations).manager == "containerd-cri");
}

BOOST_AUTO_TEST_CASE(process_args_bounds) {
  std::string text = R"({"process": {"args": [)";
  for (size_t i = 0; i < max_process_args + 10; ++i)
    text += (i ? "," : "") + std::string{"\"a\""};
  text += "]}}";
  auto cfg = parse_ok(text);
  BOOST_TEST(cfg.process_args.size() == max_process_args);
  BOOST_TEST(cfg.process_args_truncated);
  // A long arg is cut on a UTF-8 boundary: "é" is 2 bytes, so an arg of
  // 'x' + 4095 bytes of "é..." is cut back to 4095 bytes, not mid-character.
  std::string arg = "x";
  while (arg.size() < max_process_arg_bytes + 8)
    arg += "\xc3\xa9";
  cfg = parse_ok(R"({"process": {"args": [")" + arg + "\"]}}");
  BOOST_TEST(cfg.process_args_truncated);
  BOOST_TEST(cfg.process_args[0].size() == max_process_arg_bytes - 1);
  BOOST_TEST((static_cast<unsigned char>(cfg.process_args[0].back()) == 0xa9));
  // A wrong type after the kept ones is still an error.
  text.resize(text.size() - 3);
  text += ", 5]}}";
  BOOST_TEST(contains(parse_err(text), "process.args[266]"));
}

// -- rejections ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(wrong_types_name_the_field) {
  struct {
    const char* text;
    const char* field;
  } cases[] = {
    {R"([])", "top level: expected an object, got array"},
    {R"("x")", "top level"},
    {R"({"annotations": []})", "annotations: expected an object, got array"},
    {R"({"annotations": {"a": 1}})", "annotations['a']: expected a string"},
    {R"({"annotations": {"a": null}})", "got null"},
    {R"({"hostname": 5})", "hostname: expected a string, got number"},
    {R"({"process": "x"})", "process: expected an object"},
    {R"({"process": {"args": "sh"}})", "process.args: expected an array"},
    {R"({"process": {"args": ["sh", true]}})", "process.args[1]"},
    {R"({"linux": []})", "linux: expected an object"},
    {R"({"linux": {"namespaces": {}}})", "linux.namespaces: expected an array"},
    {R"({"linux": {"namespaces": ["pid"]}})", "linux.namespaces[0]: expected"},
    {R"({"linux": {"namespaces": [{"path": "/x"}]}})",
     "linux.namespaces[0].type is missing"},
    {R"({"linux": {"namespaces": [{"type": 1}]}})", "namespaces[0].type"},
    {R"({"linux": {"namespaces": [{"type": "pid", "path": 1}]}})",
     "namespaces[0].path: expected a string"},
    {R"({"linux": {"cgroupsPath": {}}})", "linux.cgroupsPath: expected"},
  };
  for (auto& c : cases)
    BOOST_TEST(contains(parse_err(c.text), c.field), c.text);
}

BOOST_AUTO_TEST_CASE(bad_values) {
  auto with_namespaces = [](const std::string& entries) {
    return R"({"linux": {"namespaces": [)" + entries + "]}}";
  };
  BOOST_TEST(contains(
    parse_err(with_namespaces(R"({"type": "pid"}, {"type": "bogus"})")),
    "linux.namespaces[1].type: unknown namespace type 'bogus'"));
  BOOST_TEST(
    contains(parse_err(with_namespaces(R"({"type": "pid"}, {"type": "pid"})")),
             "appears twice"));
  BOOST_TEST(contains(
    parse_err(with_namespaces(R"({"type": "network", "path": "netns/x"})")),
    "linux.namespaces[0].path 'netns/x' is not an absolute path"));
  BOOST_TEST(contains(
    parse_err(with_namespaces(R"({"type": "network", "path": "/a\u0000b"})")),
    "NUL"));
  BOOST_TEST(
    contains(parse_err(R"({"linux": {"cgroupsPath": "/a\u0000"}})"), "NUL"));
  BOOST_TEST(
    contains(parse_err(R"({"linux": {"cgroupsPath": ")"
                       + std::string(max_path_bytes + 1, 'c') + "\"}}"),
             "linux.cgroupsPath is 4096 bytes"));
  BOOST_TEST(
    contains(parse_err(R"({"hostname": ")" + std::string(65, 'h') + "\"}"),
             "hostname is 65 bytes"));
  parse_ok(R"({"hostname": ")" + std::string(64, 'h') + "\"}");
}

BOOST_AUTO_TEST_CASE(invalid_json) {
  for (const auto& text : std::vector<std::string>{
         "", " ", "{", "{\"a\": }", "{\"a\": 1,}", "{} {}", "nul",
         "{\"a\": \"\xff\"}", "{\"a\": \"\\ud800\"}", "// c\n{}",
         std::string{"{\"a\": \"\0\"}", 10}}) {
    auto err = parse_err(text);
    BOOST_TEST(contains(err, "not valid JSON"), err);
  }
  // Control bytes from the input are escaped in the reason.
  auto err = parse_err("{\"a\": x\x1b[2J}");
  BOOST_TEST(err.find('\x1b') == std::string::npos);
}
