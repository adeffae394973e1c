// The containers map's RAII class (runtime/kernel/containers_map) on the
// real kernel: created and pinned root-only, a stale pin replaced, entries
// put, looked up and deleted (bpftool sees exactly them), strings cut at 255
// bytes, a full map refusing with E2BIG, and the pin gone when it is
// destroyed. Each case uses its own pin directory on bpffs.
#define BOOST_TEST_MODULE containers_map
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstring>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "runtime/kernel/containers_map.hpp"
#include "tests/integration/support/pin_dir.hpp"
#include "tests/support/temp_dir.hpp"

using nw::kernel::containers_map;
using nw::kernel::containers_map_entry;

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::unique_ptr<containers_map> make(const std::string& dir,
                                     uint32_t max_entries = 64) {
  std::string error;
  auto m = containers_map::create(dir, error, max_entries);
  BOOST_TEST_REQUIRE(static_cast<bool>(m), error);
  return m;
}

/// The id of the map pinned at `pin` (0: none).
uint32_t pinned_id(const std::string& pin) {
  int fd = ::bpf_obj_get(pin.c_str());
  if (fd < 0)
    return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  uint32_t id = ::bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
  ::close(fd);
  return id;
}

} // namespace

BOOST_AUTO_TEST_CASE(created_pinned_root_only_and_unpinned_when_destroyed) {
  nw::test::pin_dir pins{"create"};
  // A directory below the test's, made by the map itself.
  auto dir = pins.path() + "/sub";
  {
    auto m = make(dir);
    BOOST_TEST(m->pin_path() == dir + "/containers");
    BOOST_TEST(!m->replaced_stale());
    BOOST_TEST(pinned_id(m->pin_path()) == m->id());
    struct stat st {};
    BOOST_TEST_REQUIRE(::stat(dir.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0700u);
    BOOST_TEST(st.st_uid == 0u);
    BOOST_TEST(nw::test::bpftool_dump(m->pin_path()).empty());
  }
  BOOST_TEST(!exists(dir + "/containers"), "the pin outlived the map");
}

BOOST_AUTO_TEST_CASE(a_stale_pin_is_replaced_and_left_to_its_new_owner) {
  nw::test::pin_dir pins{"stale"};
  auto old_map = make(pins.path());
  BOOST_TEST_REQUIRE(old_map->put(1, {"old", "", "", "old"}) == 0);
  auto new_map = make(pins.path());
  BOOST_TEST(new_map->replaced_stale());
  BOOST_TEST(new_map->id() != old_map->id());
  BOOST_TEST(pinned_id(new_map->pin_path()) == new_map->id());
  // The stale map's entries are not in the new one.
  BOOST_TEST(nw::test::bpftool_dump(new_map->pin_path()).empty());
  // Destroying the old map leaves the new owner's pin alone.
  old_map.reset();
  BOOST_TEST(pinned_id(new_map->pin_path()) == new_map->id());
  auto pin = new_map->pin_path();
  new_map.reset();
  BOOST_TEST(!exists(pin));
}

BOOST_AUTO_TEST_CASE(a_stale_file_in_place_of_the_pin_is_replaced) {
  nw::test::pin_dir pins{"stalefile"};
  // What a crashed agent leaves: a pinned map nobody holds any more.
  {
    std::string error;
    auto m = containers_map::create(pins.path(), error);
    BOOST_TEST_REQUIRE(static_cast<bool>(m), error);
    BOOST_TEST_REQUIRE(::bpf_obj_pin(m->fd(), (pins.path() + "/x").c_str())
                       == 0);
  }
  BOOST_TEST_REQUIRE(::rename((pins.path() + "/x").c_str(),
                              (pins.path() + "/containers").c_str())
                     == 0);
  auto m = make(pins.path());
  BOOST_TEST(m->replaced_stale());
  BOOST_TEST(pinned_id(m->pin_path()) == m->id());
}

BOOST_AUTO_TEST_CASE(put_lookup_delete_and_bpftool_sees_exactly_them) {
  nw::test::pin_dir pins{"entries"};
  auto m = make(pins.path());
  BOOST_TEST(m->put(4026532291, {"c0ffee", "default", "web-0", "web"}) == 0);
  BOOST_TEST(m->put(4026532300, {"beef", "", "", "beef"}) == 0);
  // Replacing an entry is a put too.
  BOOST_TEST(m->put(4026532300, {"beef", "", "", "renamed"}) == 0);
  nw_container_entry v;
  BOOST_TEST_REQUIRE(m->lookup(4026532291, v) == 0);
  BOOST_TEST(std::string{v.container_id} == "c0ffee");
  BOOST_TEST(std::string{v.k8s_namespace} == "default");
  BOOST_TEST(std::string{v.k8s_pod} == "web-0");
  BOOST_TEST(std::string{v.container_name} == "web");
  BOOST_TEST(m->lookup(1, v) == ENOENT);
  auto dump = nw::test::bpftool_dump(m->pin_path());
  BOOST_TEST_REQUIRE(dump.size() == 2u);
  BOOST_TEST(dump[4026532291].container_id == "c0ffee");
  BOOST_TEST(dump[4026532291].k8s_namespace == "default");
  BOOST_TEST(dump[4026532291].k8s_pod == "web-0");
  BOOST_TEST(dump[4026532291].container_name == "web");
  BOOST_TEST(dump[4026532300].container_name == "renamed");
  BOOST_TEST(m->remove(4026532291) == 0);
  BOOST_TEST(m->remove(4026532291) == ENOENT);
  dump = nw::test::bpftool_dump(m->pin_path());
  BOOST_TEST(dump.size() == 1u);
  BOOST_TEST(dump.count(4026532300) == 1u);
}

BOOST_AUTO_TEST_CASE(strings_are_cut_at_255_bytes_and_nul_terminated) {
  nw::test::pin_dir pins{"cut"};
  auto m = make(pins.path());
  std::string longer(300, 'a');
  std::string exact(255, 'b');
  std::string one_more(256, 'c');
  BOOST_TEST_REQUIRE(m->put(7, {longer, exact, one_more, "x"}) == 0);
  nw_container_entry v;
  BOOST_TEST_REQUIRE(m->lookup(7, v) == 0);
  BOOST_TEST(v.container_id[255] == '\0');
  BOOST_TEST(std::string{v.container_id} == std::string(255, 'a'));
  BOOST_TEST(std::string{v.k8s_namespace} == exact);
  BOOST_TEST(std::string{v.k8s_pod} == std::string(255, 'c'));
  // Zero-filled after the string.
  BOOST_TEST(v.container_name[1] == '\0');
  BOOST_TEST(v.container_name[255] == '\0');
  auto dump = nw::test::bpftool_dump(m->pin_path());
  BOOST_TEST(dump[7].container_id == std::string(255, 'a'));
}

BOOST_AUTO_TEST_CASE(a_full_map_refuses_with_e2big) {
  nw::test::pin_dir pins{"full"};
  auto m = make(pins.path(), 2);
  BOOST_TEST(m->put(1, {"a", "", "", "a"}) == 0);
  BOOST_TEST(m->put(2, {"b", "", "", "b"}) == 0);
  BOOST_TEST(m->put(3, {"c", "", "", "c"}) == E2BIG);
  // An existing key can still be replaced, and a freed slot reused.
  BOOST_TEST(m->put(2, {"b", "", "", "b2"}) == 0);
  BOOST_TEST(m->remove(1) == 0);
  BOOST_TEST(m->put(3, {"c", "", "", "c"}) == 0);
  BOOST_TEST(nw::test::bpftool_dump(m->pin_path()).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_relative_or_non_bpffs_pin_path_is_refused) {
  nw::test::pin_dir pins{"refuse"}; // root and bpffs, or skipped
  std::string error;
  BOOST_TEST(!containers_map::create("relative/dir", error));
  BOOST_TEST(error.find("absolute") != std::string::npos, error);
  nw::test::temp_dir tmp{"nw-cmap"};
  error.clear();
  BOOST_TEST(!containers_map::create(tmp.path().string(), error));
  BOOST_TEST(error.find("not on a bpffs") != std::string::npos, error);
}
