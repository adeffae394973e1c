// linux_host's directory listings (the start-up scan's reads of state
// roots): sorted, without "." and "..", bounded, under the host root, and
// a clear error for a missing path or a file.
#define BOOST_TEST_MODULE linux_host
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "runtime/kernel/host_view.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

namespace {

struct tree {
  nw::test::temp_dir root{"nw-linux-host"};

  tree() {
    std::filesystem::create_directories(root.path() / "run/runc/c2");
    std::filesystem::create_directories(root.path() / "run/runc/c1");
    std::filesystem::create_directories(root.path() / "run/runc/a0");
    std::ofstream{root.path() / "run/runc/file"} << "x";
  }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(lists_sorted_under_the_host_root, tree) {
  auto host = nw::make_linux_host(root.path().string() + "/");
  std::vector<std::string> names;
  bool truncated = true;
  std::string error;
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 100, names, truncated, error),
                     error);
  BOOST_TEST(names == (std::vector<std::string>{"a0", "c1", "c2", "file"}),
             boost::test_tools::per_element());
  BOOST_TEST(!truncated);
  BOOST_TEST(host->exists("/run/runc/c1"));
}

BOOST_FIXTURE_TEST_CASE(bounded, tree) {
  auto host = nw::make_linux_host(root.path().string());
  std::vector<std::string> names;
  bool truncated = false;
  std::string error;
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 2, names, truncated, error),
                     error);
  BOOST_TEST(names.size() == 2u);
  BOOST_TEST(truncated);
  BOOST_TEST_REQUIRE(host->list_dir("/run/runc", 4, names, truncated, error),
                     error);
  BOOST_TEST(names.size() == 4u);
  BOOST_TEST(!truncated);
}

BOOST_FIXTURE_TEST_CASE(errors, tree) {
  auto host = nw::make_linux_host(root.path().string());
  std::vector<std::string> names{"stale"};
  bool truncated = false;
  std::string error;
  BOOST_TEST(!host->list_dir("/run/crun", 10, names, truncated, error));
  BOOST_TEST(contains(error, "No such file or directory"));
  BOOST_TEST(!host->list_dir("/run/runc/file", 10, names, truncated, error));
  BOOST_TEST(contains(error, "Not a directory"));
  BOOST_TEST(names == std::vector<std::string>{"stale"}); // untouched
}
