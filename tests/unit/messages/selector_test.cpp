// SELECTOR (CONTRACTS.md): `key=v1,v2;key2=!v3`, keys namespace, pod,
// container (the name), runtime; AND across clauses, OR within a list, `!`
// excludes.
#define BOOST_TEST_MODULE selector
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "messages/selector.hpp"
#include "tests/support/text.hpp"

using nw::test::contains;

namespace nw {

// Prints selectors in failed BOOST_TEST comparisons (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os,
                                           const selector& x) {
  return os << '\'' << to_string(x) << '\'';
}

} // namespace nw

using namespace nw;

namespace {

selector parse(const std::string& text) {
  selector sel;
  std::string error;
  BOOST_REQUIRE_MESSAGE(parse_selector(text, sel, error),
                        "'" << text << "' did not parse: " << error);
  return sel;
}

/// The error text for `text`; fails the test if it parses.
std::string parse_error(const std::string& text) {
  selector sel;
  sel.clauses.resize(3); // must stay untouched on error
  std::string error;
  BOOST_REQUIRE_MESSAGE(!parse_selector(text, sel, error),
                        "'" << text << "' parsed as '" << to_string(sel)
                            << "'");
  BOOST_TEST(sel.clauses.size() == 3u);
  BOOST_TEST(!error.empty());
  return error;
}

container_info make(std::string name, std::string ns, std::string pod,
                    std::string runtime) {
  container_info x;
  x.id = "id-" + name;
  x.name = std::move(name);
  x.k8s.namespace_ = std::move(ns);
  x.k8s.pod = std::move(pod);
  x.runtime = std::move(runtime);
  return x;
}

// A small pod fleet used by the matching tests.
const container_info web = make("web", "prod", "web-0", "runc");
const container_info db = make("db", "prod", "db-0", "crun");
const container_info dns = make("coredns", "kube-system", "coredns-1", "runc");
const container_info bare = make("bare", "", "", "crun");

/// The names of the fleet that `text` selects, in fleet order.
std::vector<std::string> selected(const std::string& text) {
  auto sel = parse(text);
  std::vector<std::string> result;
  for (auto* c : {&web, &db, &dns, &bare})
    if (matches(sel, *c))
      result.push_back(c->name);
  return result;
}

using names = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(parsing)

BOOST_AUTO_TEST_CASE(each_key_and_value_kind) {
  auto sel = parse("namespace=prod;pod=web-0,web-1;container=!sidecar;"
                   "runtime=runc,!crun");
  BOOST_REQUIRE_EQUAL(sel.clauses.size(), 4u);
  BOOST_TEST((sel.clauses[0].key == selector_key::namespace_));
  BOOST_TEST(sel.clauses[0].include == names({"prod"}),
             boost::test_tools::per_element());
  BOOST_TEST(sel.clauses[0].exclude.empty());
  BOOST_TEST((sel.clauses[1].key == selector_key::pod));
  BOOST_TEST(sel.clauses[1].include == names({"web-0", "web-1"}),
             boost::test_tools::per_element());
  BOOST_TEST((sel.clauses[2].key == selector_key::container));
  BOOST_TEST(sel.clauses[2].include.empty());
  BOOST_TEST(sel.clauses[2].exclude == names({"sidecar"}),
             boost::test_tools::per_element());
  BOOST_TEST((sel.clauses[3].key == selector_key::runtime));
  BOOST_TEST(sel.clauses[3].include == names({"runc"}),
             boost::test_tools::per_element());
  BOOST_TEST(sel.clauses[3].exclude == names({"crun"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_text_is_the_match_all_selector) {
  BOOST_TEST(parse("").clauses.empty());
  BOOST_TEST(parse("  ").clauses.empty());
  BOOST_TEST(parse(";").clauses.empty());
  BOOST_TEST(parse(";;").clauses.empty());
}

BOOST_AUTO_TEST_CASE(blanks_and_empty_clauses_are_tolerated) {
  auto expected = parse("namespace=a,!b;pod=c");
  BOOST_TEST(parse(" namespace = a , ! b ; pod=c ") == expected);
  BOOST_TEST(parse("namespace=a,!b;;pod=c") == expected);
  BOOST_TEST(parse("namespace=a,!b;pod=c;") == expected);
  BOOST_TEST(parse(";namespace=a,!b;pod=c") == expected);
  BOOST_TEST(parse("\tnamespace=a,!b;\tpod=c\t") == expected);
}

BOOST_AUTO_TEST_CASE(values_keep_everything_but_separators) {
  auto sel = parse("container=a=b,x y");
  BOOST_REQUIRE_EQUAL(sel.clauses.size(), 1u);
  BOOST_TEST(sel.clauses[0].include == names({"a=b", "x y"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_selectors_name_the_clause) {
  auto e = parse_error("namespace");
  BOOST_TEST(contains(e, "'namespace'"), e);
  e = parse_error("pod=a;colour=blue");
  BOOST_TEST(contains(e, "'colour'"), e);
  e = parse_error("Namespace=a"); // keys are case-sensitive
  BOOST_TEST(contains(e, "'Namespace'"), e);
  e = parse_error("=a");
  BOOST_TEST(contains(e, "''"), e);
  e = parse_error("pod=");
  BOOST_TEST(contains(e, "'pod='"), e);
  e = parse_error("pod=a,,b");
  BOOST_TEST(contains(e, "'pod=a,,b'"), e);
  e = parse_error("pod=a,");
  BOOST_TEST(contains(e, "'pod=a,'"), e);
  e = parse_error("pod=!");
  BOOST_TEST(contains(e, "'pod=!'"), e);
  e = parse_error("pod= ! ");
  BOOST_TEST(contains(e, "empty value"), e);
}

BOOST_AUTO_TEST_CASE(nul_bytes_and_huge_texts_are_rejected) {
  auto e = parse_error(std::string{"pod=a\0b", 7});
  BOOST_TEST(contains(e, "NUL"), e);
  std::string longest = "pod=" + std::string(max_selector_length - 4, 'x');
  BOOST_TEST(parse(longest).clauses.size() == 1u);
  e = parse_error(longest + "x");
  BOOST_TEST(contains(e, std::to_string(max_selector_length)), e);
}

BOOST_AUTO_TEST_CASE(to_string_is_canonical_and_parses_back) {
  for (auto text : {"", "namespace=prod", "pod=a,b;container=!c,!d",
                    "runtime=runc,!crun;namespace=x", " pod = a , !b ;;"}) {
    auto sel = parse(text);
    auto canonical = to_string(sel);
    BOOST_TEST(parse(canonical) == sel, "via '" << canonical << "'");
    BOOST_TEST(to_string(parse(canonical)) == canonical);
  }
  BOOST_TEST(to_string(parse(" pod = !b , a ;;")) == "pod=a,!b");
  BOOST_TEST(to_string(parse("container=x;runtime=!y"))
             == "container=x;runtime=!y");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(matching)

BOOST_AUTO_TEST_CASE(empty_selector_matches_everything) {
  BOOST_TEST(selected("") == names({"web", "db", "coredns", "bare"}),
             boost::test_tools::per_element());
  BOOST_TEST(matches(selector{}, container_info{}));
}

BOOST_AUTO_TEST_CASE(each_key_reads_its_field) {
  BOOST_TEST(selected("namespace=prod") == names({"web", "db"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("pod=coredns-1") == names({"coredns"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("runtime=crun") == names({"db", "bare"}),
             boost::test_tools::per_element());
  // `container` matches the name, not the id.
  BOOST_TEST(selected("container=web") == names({"web"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("container=id-web").empty());
}

BOOST_AUTO_TEST_CASE(comma_lists_are_or) {
  BOOST_TEST(selected("container=web,coredns") == names({"web", "coredns"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("namespace=prod,kube-system")
               == names({"web", "db", "coredns"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("namespace=nope,prod") == names({"web", "db"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(clauses_are_and) {
  BOOST_TEST(selected("namespace=prod;runtime=runc") == names({"web"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("namespace=prod;runtime=runc;container=db").empty());
  // The same key twice: both must hold.
  BOOST_TEST(selected("container=web,db;container=db,coredns") == names({"db"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bang_excludes) {
  BOOST_TEST(selected("namespace=!kube-system") == names({"web", "db", "bare"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("namespace=!kube-system,!prod") == names({"bare"}),
             boost::test_tools::per_element());
  BOOST_TEST(selected("container=!web;runtime=runc") == names({"coredns"}),
             boost::test_tools::per_element());
  // Includes and excludes in one clause: in the list and not excluded.
  BOOST_TEST(selected("namespace=prod,!prod").empty());
  BOOST_TEST(selected("runtime=runc,!crun") == names({"web", "coredns"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_empty_strings) {
  // `bare` has no k8s identity: a plain value never selects it, an
  // exclusion never drops it.
  BOOST_TEST(selected("pod=!web-0") == names({"db", "coredns", "bare"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(matching_is_exact) {
  BOOST_TEST(selected("container=we").empty());
  BOOST_TEST(selected("container=WEB").empty());
  BOOST_TEST(selected("container=web*").empty());
}

BOOST_AUTO_TEST_SUITE_END()
