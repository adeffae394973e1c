// make_container_info: what /proc told is copied into the record (the
// 64-bit mount namespace id, the cgroup and its id), and host_network is
// decided by the namespaces when both inodes are known, else by config.json.
#define BOOST_TEST_MODULE container_record
#include <boost/test/unit_test.hpp>

#include "actors/pidfile_watcher/pidfile_watcher.hpp"

namespace {

nw::pidfile_watch_request request() {
  nw::pidfile_watch_request req;
  req.id = "c1";
  req.bundle = "/run/b/c1";
  req.runtime = "runc";
  return req;
}

nw::oci_config config(bool host_network) {
  nw::oci_config cfg;
  cfg.host_network = host_network;
  return cfg;
}

nw::proc_status proc(uint64_t netns, uint64_t host_netns) {
  nw::proc_status p;
  p.pid = 4242;
  p.start_time = 987654;
  p.mntns = 4026532301;
  p.mntns_id64 = 77;
  p.netns = netns;
  p.host_netns = host_netns;
  p.cgroup = "/kubepods/pod1/c1";
  p.cgroup_id = 9001;
  return p;
}

bool host_network(bool config_says, uint64_t netns, uint64_t host_netns) {
  return nw::make_container_info(request(), config(config_says),
                                 proc(netns, host_netns))
    .host_network;
}

} // namespace

BOOST_AUTO_TEST_CASE(copies_what_proc_told) {
  auto info = nw::make_container_info(request(), config(false),
                                      proc(4026532294, 4026531833));
  BOOST_TEST(info.id == "c1");
  BOOST_TEST(info.pid == 4242u);
  BOOST_TEST(info.start_time == 987654u);
  BOOST_TEST(info.mntns == 4026532301u);
  BOOST_TEST(info.mntns_id64 == 77u);
  BOOST_TEST(info.netns == 4026532294u);
  BOOST_TEST(info.cgroup_path == "/kubepods/pod1/c1");
  BOOST_TEST(info.cgroup_id == 9001u);
}

BOOST_AUTO_TEST_CASE(host_network_from_the_namespaces_when_known) {
  // No "network" entry, and the init is in the host's namespace.
  BOOST_TEST(host_network(true, 4026531833, 4026531833));
  // No "network" entry, but the runtime (so the container) was in another
  // namespace than the host's.
  BOOST_TEST(!host_network(true, 4026532294, 4026531833));
  // A "network" entry whose path is the host's namespace.
  BOOST_TEST(host_network(false, 4026531833, 4026531833));
  // A new or a pod's namespace.
  BOOST_TEST(!host_network(false, 4026532294, 4026531833));
}

BOOST_AUTO_TEST_CASE(host_network_from_config_json_otherwise) {
  // The host's namespace unknown (a scripted host that does not say).
  BOOST_TEST(host_network(true, 4026532294, 0));
  BOOST_TEST(!host_network(false, 4026532294, 0));
  // The init's namespace unreadable.
  BOOST_TEST(host_network(true, 0, 4026531833));
  BOOST_TEST(!host_network(false, 0, 4026531833));
}
