// parse_oci_config + extract_k8s + container_display_name on whole
// config.json files in tests/data/oci/: recorded from real containers of
// this host's managers (containerd's `ctr run`, podman) by the fixtures of
// tests/integration/support, and hand-made containerd-CRI and CRI-O pods
// (a sandbox and a workload container each) on those skeletons. The
// trimmed inline cases are in oci_config_test.cpp.
#define BOOST_TEST_MODULE oci_recorded
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "actors/pidfile_watcher/oci_config.hpp"

using namespace nw;

namespace {

constexpr const char* pod_uid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// tests/data/oci/NAME, read whole.
std::string data(const std::string& name) {
  std::ifstream in{std::string{NW_OCI_DATA} + "/" + name, std::ios::binary};
  BOOST_TEST_REQUIRE(in.good(), "cannot open tests/data/oci/" << name);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

oci_config parse_file(const std::string& name) {
  auto res = parse_oci_config(data(name));
  BOOST_TEST_REQUIRE(res.ok(), name << " rejected: " << res.error());
  return std::move(res).value();
}

std::string sandbox_of(const std::string& hex2) {
  std::string id;
  for (int i = 0; i < 32; ++i)
    id += hex2;
  return id;
}

} // namespace

BOOST_AUTO_TEST_CASE(containerd_ctr_recorded) {
  // `ctr run -d ... IMAGE nwt-ctr-kill-PID-N /bin/sleep 60`: no
  // annotations at all.
  auto cfg = parse_file("containerd-ctr.json");
  BOOST_TEST(cfg.annotations.empty());
  BOOST_TEST(cfg.annotations_dropped == 0u);
  BOOST_TEST(cfg.process_args == (std::vector<std::string>{"/bin/sleep", "60"}),
             boost::test_tools::per_element());
  // ctr's cgroup: /NAMESPACE/ID.
  BOOST_TEST(cfg.cgroups_path.rfind("/nwt/nwt-ctr-", 0) == 0u);
  BOOST_TEST(!cfg.host_network);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "");
  BOOST_TEST(k8s.pod == "");
  BOOST_TEST(k8s.container == "");
  // No conmon, no annotations: the id.
  BOOST_TEST(container_display_name(k8s, "", "nwt-ctr-kill-1-1")
             == "nwt-ctr-kill-1-1");
}

BOOST_AUTO_TEST_CASE(podman_recorded) {
  // `podman run -d --network none ... --name nwt-pod-kill-PID-N IMAGE
  // /bin/sleep 60` with runc.
  auto cfg = parse_file("podman.json");
  BOOST_TEST(cfg.annotations.at("io.container.manager") == "libpod");
  BOOST_TEST(cfg.annotations.count("io.kubernetes.cri-o.TTY") == 1u);
  BOOST_TEST(cfg.hostname.size() == 12u); // the id's first 12 hex digits
  BOOST_TEST(cfg.process_args == (std::vector<std::string>{"/bin/sleep", "60"}),
             boost::test_tools::per_element());
  BOOST_TEST(cfg.cgroups_path.rfind("/libpod_parent/libpod-", 0) == 0u);
  // --network none: a network namespace of its own.
  BOOST_TEST(!cfg.host_network);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "podman");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "");
  BOOST_TEST(k8s.pod == "");
  BOOST_TEST(k8s.container == "");
  BOOST_TEST(k8s.name_hint == "");
  // The name is conmon's -n; without it, the id.
  BOOST_TEST(container_display_name(k8s, "nwt-pod-kill-1-1", "4ad060b4")
             == "nwt-pod-kill-1-1");
  BOOST_TEST(container_display_name(k8s, "", "4ad060b4") == "4ad060b4");
}

BOOST_AUTO_TEST_CASE(containerd_cri_sandbox) {
  auto cfg = parse_file("containerd-cri-sandbox.json");
  BOOST_TEST(cfg.process_args == (std::vector<std::string>{"/pause"}),
             boost::test_tools::per_element());
  BOOST_TEST(cfg.hostname == "web-7d4b9c-x2k9p");
  BOOST_TEST(!cfg.host_network);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "containerd-cri");
  BOOST_TEST(k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c-x2k9p");
  BOOST_TEST(k8s.container == "");
  BOOST_TEST(k8s.pod_uid == pod_uid);
  BOOST_TEST(k8s.sandbox_id == sandbox_of("a1"));
  // A sandbox has no container name: the id.
  BOOST_TEST(container_display_name(k8s, "", sandbox_of("a1"))
             == sandbox_of("a1"));
}

BOOST_AUTO_TEST_CASE(containerd_cri_container) {
  auto cfg = parse_file("containerd-cri-container.json");
  BOOST_TEST(cfg.process_args.size() == 3u);
  // Joins the sandbox's network namespace by path.
  BOOST_TEST(!cfg.host_network);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "containerd-cri");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c-x2k9p");
  BOOST_TEST(k8s.container == "nginx");
  BOOST_TEST(k8s.pod_uid == pod_uid);
  BOOST_TEST(k8s.sandbox_id == sandbox_of("a1"));
  BOOST_TEST(container_display_name(k8s, "", sandbox_of("c7")) == "nginx");
}

BOOST_AUTO_TEST_CASE(crio_sandbox) {
  auto cfg = parse_file("crio-sandbox.json");
  BOOST_TEST(cfg.process_args == (std::vector<std::string>{"/pause"}),
             boost::test_tools::per_element());
  BOOST_TEST(cfg.cgroups_path.find(":crio:") != std::string::npos);
  BOOST_TEST(!cfg.host_network);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "cri-o");
  BOOST_TEST(k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c-x2k9p");
  // CRI-O names its infra container "POD".
  BOOST_TEST(k8s.container == "POD");
  BOOST_TEST(k8s.pod_uid == pod_uid);
  BOOST_TEST(k8s.sandbox_id == sandbox_of("a1"));
  BOOST_TEST(k8s.name_hint
             == std::string{"k8s_POD_web-7d4b9c-x2k9p_shop_"} + pod_uid + "_0");
  // The Kubernetes container name wins over conmon's -n.
  BOOST_TEST(container_display_name(k8s, "k8s_POD_web", sandbox_of("a1"))
             == "POD");
}

BOOST_AUTO_TEST_CASE(crio_container) {
  auto cfg = parse_file("crio-container.json");
  BOOST_TEST(cfg.process_args.size() == 3u);
  auto k8s = extract_k8s(cfg.annotations);
  BOOST_TEST(k8s.manager == "cri-o");
  BOOST_TEST(!k8s.sandbox);
  BOOST_TEST(k8s.namespace_ == "shop");
  BOOST_TEST(k8s.pod == "web-7d4b9c-x2k9p");
  BOOST_TEST(k8s.container == "nginx");
  BOOST_TEST(k8s.pod_uid == pod_uid);
  BOOST_TEST(k8s.sandbox_id == sandbox_of("a1"));
  BOOST_TEST(k8s.name_hint
             == std::string{"k8s_nginx_web-7d4b9c-x2k9p_shop_"} + pod_uid
                  + "_0");
  BOOST_TEST(container_display_name(k8s, "k8s_nginx_web", sandbox_of("c7"))
             == "nginx");
  // CRI-O's nested JSON annotations are kept as strings.
  BOOST_TEST(cfg.annotations.at("io.kubernetes.cri-o.Volumes").front() == '[');
}
