// `nodewatch certs init` and the TLS directory check (runtime/agent/certs):
// the six files with their modes, the directory 0700; certificates that the
// openssl CLI verifies and that carry the extensions docs/tls.md promises;
// refusal to overwrite and --force; refusal of a loose or foreign directory;
// check_tls_dir catching a loosened key, a missing file, a certificate from
// another CA and a key that does not match. The TLS round trip over
// caf::openssl is tests/integration/tls/certs_tls_test.
#define BOOST_TEST_MODULE certs
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "runtime/agent/certs.hpp"
#include "tests/support/temp_dir.hpp"

using namespace nw;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> all_files{
  "ca.crt", "ca.key", "node.crt", "node.key", "client.crt", "client.key"};

mode_t mode_of(const fs::path& p) {
  struct stat st;
  BOOST_REQUIRE_MESSAGE(::stat(p.c_str(), &st) == 0, "stat " << p);
  return st.st_mode & 07777;
}

std::string slurp(const fs::path& p) {
  std::ifstream in{p};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void init_ok(const fs::path& dir, bool force = false) {
  std::string error;
  std::vector<std::string> written;
  BOOST_REQUIRE_MESSAGE(init_certs(dir.string(), force, error, &written),
                        error);
  BOOST_REQUIRE_EQUAL(written.size(), all_files.size());
  for (size_t i = 0; i < all_files.size(); ++i)
    BOOST_CHECK_EQUAL(written[i], (dir / all_files[i]).string());
}

std::string check(const fs::path& dir) {
  std::string error;
  if (check_tls_dir(dir.string(), error))
    return "";
  BOOST_CHECK(!error.empty());
  return error;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct x509_free {
  void operator()(X509* p) const {
    X509_free(p);
  }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;

x509_ptr read_cert(const fs::path& p) {
  std::unique_ptr<FILE, int (*)(FILE*)> f{std::fopen(p.c_str(), "r"),
                                          &std::fclose};
  BOOST_REQUIRE(f);
  x509_ptr cert{PEM_read_X509(f.get(), nullptr, nullptr, nullptr)};
  BOOST_REQUIRE(cert);
  return cert;
}

/// The text of extension `nid` as `openssl x509 -text` prints it.
std::string ext_text(X509* cert, int nid, bool* critical = nullptr) {
  int idx = X509_get_ext_by_NID(cert, nid, -1);
  if (idx < 0)
    return "";
  auto ext = X509_get_ext(cert, idx);
  if (critical)
    *critical = X509_EXTENSION_get_critical(ext) != 0;
  std::unique_ptr<BIO, int (*)(BIO*)> bio{BIO_new(BIO_s_mem()), &BIO_free};
  X509V3_EXT_print(bio.get(), ext, 0, 0);
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

int run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

bool have_openssl_cli() {
  return run("command -v openssl") == 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(default_dir_from_environment) {
  ::unsetenv("NODEWATCH_TLS_DIR");
  BOOST_CHECK_EQUAL(default_tls_dir(), "/var/lib/nodewatch/tls");
  ::setenv("NODEWATCH_TLS_DIR", "", 1);
  BOOST_CHECK_EQUAL(default_tls_dir(), "/var/lib/nodewatch/tls");
  ::setenv("NODEWATCH_TLS_DIR", "/etc/nw-tls", 1);
  BOOST_CHECK_EQUAL(default_tls_dir(), "/etc/nw-tls");
  ::unsetenv("NODEWATCH_TLS_DIR");
  auto p = tls_paths("/x/");
  BOOST_CHECK_EQUAL(p.ca_cert, "/x/ca.crt");
  BOOST_CHECK_EQUAL(p.client_key, "/x/client.key");
}

BOOST_AUTO_TEST_CASE(files_modes_and_directory) {
  test::temp_dir tmp{"nw-certs"};
  auto dir = tmp.path() / "a" / "b" / "tls"; // parents made as needed
  auto old_umask = ::umask(0);               // modes must not depend on it
  init_ok(dir);
  ::umask(old_umask);
  BOOST_CHECK_EQUAL(mode_of(dir), 0700u);
  for (auto& name : all_files) {
    auto want = name.size() > 4 && name.substr(name.size() - 4) == ".key"
                  ? 0600u
                  : 0644u;
    BOOST_CHECK_MESSAGE(mode_of(dir / name) == want,
                        name << " has mode " << std::oct
                             << mode_of(dir / name));
  }
  // No temporary files left behind.
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator{dir})
    ++entries;
  BOOST_CHECK_EQUAL(entries, all_files.size());
  BOOST_CHECK(contains(slurp(dir / "node.key"), "BEGIN PRIVATE KEY"));
  BOOST_CHECK_EQUAL(check(dir), "");
}

BOOST_AUTO_TEST_CASE(trailing_slash_and_relative_paths) {
  test::temp_dir tmp{"nw-certs"};
  init_ok(tmp.path().string() + "/x/tls/");
  BOOST_CHECK_EQUAL(mode_of(tmp.path() / "x" / "tls"), 0700u);
  auto cwd = fs::current_path();
  fs::current_path(tmp.path());
  init_ok("rel/tls");
  fs::current_path(cwd);
  BOOST_CHECK_EQUAL(mode_of(tmp.path() / "rel" / "tls"), 0700u);
  BOOST_CHECK_EQUAL(check(tmp.path() / "rel" / "tls"), "");
}

BOOST_AUTO_TEST_CASE(umask_077_still_gives_readable_certs) {
  test::temp_dir tmp{"nw-certs"};
  auto old_umask = ::umask(077);
  init_ok(tmp.path() / "tls");
  ::umask(old_umask);
  BOOST_CHECK_EQUAL(mode_of(tmp.path() / "tls" / "ca.crt"), 0644u);
  BOOST_CHECK_EQUAL(mode_of(tmp.path() / "tls"), 0700u);
}

BOOST_AUTO_TEST_CASE(certificate_contents) {
  test::temp_dir tmp{"nw-certs"};
  init_ok(tmp.path());
  auto ca = read_cert(tmp.path() / "ca.crt");
  auto node = read_cert(tmp.path() / "node.crt");
  auto client = read_cert(tmp.path() / "client.crt");

  // Keys: EC P-256, signatures ECDSA with SHA-256.
  for (auto* cert : {ca.get(), node.get(), client.get()}) {
    auto key = X509_get0_pubkey(cert);
    BOOST_REQUIRE(key);
    BOOST_CHECK(EVP_PKEY_is_a(key, "EC"));
    char group[64] = {0};
    size_t len = 0;
    BOOST_CHECK(EVP_PKEY_get_group_name(key, group, sizeof(group), &len));
    BOOST_CHECK_EQUAL(std::string(group), "prime256v1");
    BOOST_CHECK_EQUAL(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    BOOST_CHECK_EQUAL(X509_get_version(cert), X509_VERSION_3);
    // notBefore is in the past (backdated), so the files work at once.
    BOOST_CHECK_LT(X509_cmp_current_time(X509_get0_notBefore(cert)), 0);
    // Serials: positive, 16 bytes.
    auto serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    BOOST_CHECK(!BN_is_negative(serial));
    BOOST_CHECK_EQUAL(BN_num_bytes(serial), 16);
    BN_free(serial);
    // Issued by the CA.
    BOOST_CHECK_EQUAL(X509_check_issued(ca.get(), cert), X509_V_OK);
  }
  BOOST_CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(node.get()),
                               X509_get0_serialNumber(client.get()))
              != 0);

  bool critical = false;
  BOOST_CHECK_EQUAL(X509_check_ca(ca.get()), 1);
  BOOST_CHECK(
    contains(ext_text(ca.get(), NID_basic_constraints, &critical), "CA:TRUE"));
  BOOST_CHECK(critical);
  auto ku = ext_text(ca.get(), NID_key_usage, &critical);
  BOOST_CHECK(contains(ku, "Certificate Sign") && contains(ku, "CRL Sign"));
  BOOST_CHECK(critical);
  BOOST_CHECK(!ext_text(ca.get(), NID_subject_key_identifier).empty());
  BOOST_CHECK(!ext_text(ca.get(), NID_authority_key_identifier).empty());

  auto ca_skid = ext_text(ca.get(), NID_subject_key_identifier);
  for (auto* cert : {node.get(), client.get()}) {
    BOOST_CHECK_EQUAL(X509_check_ca(cert), 0);
    BOOST_CHECK(
      contains(ext_text(cert, NID_basic_constraints, &critical), "CA:FALSE"));
    BOOST_CHECK(critical);
    BOOST_CHECK_EQUAL(ext_text(cert, NID_key_usage), "Digital Signature");
    BOOST_CHECK(!ext_text(cert, NID_subject_key_identifier).empty());
    // The authority key id is the CA's subject key id.
    BOOST_CHECK(contains(ext_text(cert, NID_authority_key_identifier),
                         ca_skid.substr(0, ca_skid.find('\n'))));
  }
  BOOST_CHECK_EQUAL(ext_text(node.get(), NID_ext_key_usage),
                    "TLS Web Server Authentication");
  BOOST_CHECK_EQUAL(ext_text(client.get(), NID_ext_key_usage),
                    "TLS Web Client Authentication");

  // Each init makes a new CA with its own name.
  init_ok(tmp.path() / "other");
  auto other_ca = read_cert(tmp.path() / "other" / "ca.crt");
  BOOST_CHECK(X509_NAME_cmp(X509_get_subject_name(ca.get()),
                            X509_get_subject_name(other_ca.get()))
              != 0);
}

BOOST_AUTO_TEST_CASE(openssl_cli_verifies) {
  if (!have_openssl_cli()) {
    BOOST_TEST_MESSAGE("no openssl CLI: skipping the CLI check");
    return;
  }
  test::temp_dir tmp{"nw-certs"};
  init_ok(tmp.path());
  auto d = tmp.path().string();
  BOOST_CHECK_EQUAL(run("openssl verify -CAfile " + d + "/ca.crt " + d
                        + "/node.crt " + d + "/client.crt"),
                    0);
  BOOST_CHECK_EQUAL(run("openssl verify -purpose sslserver -CAfile " + d
                        + "/ca.crt " + d + "/node.crt"),
                    0);
  BOOST_CHECK_EQUAL(run("openssl verify -purpose sslclient -CAfile " + d
                        + "/ca.crt " + d + "/client.crt"),
                    0);
  // The purposes are not interchangeable: a client certificate cannot serve.
  BOOST_CHECK_NE(run("openssl verify -purpose sslserver -CAfile " + d
                     + "/ca.crt " + d + "/client.crt"),
                 0);
  // Another CA does not verify these.
  init_ok(tmp.path() / "other");
  BOOST_CHECK_NE(
    run("openssl verify -CAfile " + d + "/other/ca.crt " + d + "/node.crt"), 0);
  // The keys are what the openssl CLI reads as EC keys.
  BOOST_CHECK_EQUAL(run("openssl pkey -noout -in " + d + "/node.key"), 0);
}

BOOST_AUTO_TEST_CASE(refuses_to_overwrite_and_force_replaces) {
  test::temp_dir tmp{"nw-certs"};
  init_ok(tmp.path());
  auto before = slurp(tmp.path() / "ca.crt");
  auto before_key = slurp(tmp.path() / "node.key");
  std::string error;
  std::vector<std::string> written{"stale"};
  BOOST_CHECK(!init_certs(tmp.path().string(), false, error, &written));
  BOOST_TEST_MESSAGE("refusal: " << error);
  BOOST_CHECK(written.empty());
  for (auto& name : all_files)
    BOOST_CHECK_MESSAGE(contains(error, (tmp.path() / name).string()),
                        "error names " << name << ": " << error);
  BOOST_CHECK(contains(error, "force"));
  BOOST_CHECK_EQUAL(slurp(tmp.path() / "ca.crt"), before);

  // One leftover file is enough to refuse, and only it is named.
  test::temp_dir tmp2{"nw-certs"};
  { std::ofstream{tmp2.path() / "client.key"} << "x"; }
  BOOST_CHECK(!init_certs(tmp2.path().string(), false, error));
  BOOST_CHECK(contains(error, "client.key"));
  BOOST_CHECK(!contains(error, "ca.crt"));
  BOOST_CHECK(!fs::exists(tmp2.path() / "ca.crt"));

  // force: everything replaced, modes as new, the set consistent again.
  fs::permissions(tmp.path() / "node.key", fs::perms::owner_read
                                             | fs::perms::group_read
                                             | fs::perms::others_read);
  init_ok(tmp.path(), true);
  BOOST_CHECK_NE(slurp(tmp.path() / "ca.crt"), before);
  BOOST_CHECK_NE(slurp(tmp.path() / "node.key"), before_key);
  BOOST_CHECK_EQUAL(mode_of(tmp.path() / "node.key"), 0600u);
  BOOST_CHECK_EQUAL(check(tmp.path()), "");
  init_ok(tmp2.path(), true);
  BOOST_CHECK_EQUAL(check(tmp2.path()), "");
}

BOOST_AUTO_TEST_CASE(refuses_loose_or_odd_directories) {
  test::temp_dir tmp{"nw-certs"};
  auto loose = tmp.path() / "loose";
  fs::create_directory(loose);
  ::chmod(loose.c_str(), 0755);
  std::string error;
  BOOST_CHECK(!init_certs(loose.string(), false, error));
  BOOST_TEST_MESSAGE("loose dir: " << error);
  BOOST_CHECK(contains(error, "0755"));
  BOOST_CHECK(contains(error, "chmod 700 " + loose.string()));
  BOOST_CHECK(fs::is_empty(loose));
  BOOST_CHECK_EQUAL(mode_of(loose), 0755u); // not changed behind our back
  ::chmod(loose.c_str(), 0700);
  init_ok(loose);

  auto file = tmp.path() / "file";
  { std::ofstream{file} << "x"; }
  BOOST_CHECK(!init_certs(file.string(), false, error));
  BOOST_CHECK(contains(error, "not a directory"));
  BOOST_CHECK(!init_certs("", false, error));

  if (::geteuid() == 0) {
    auto theirs = tmp.path() / "theirs";
    fs::create_directory(theirs);
    ::chmod(theirs.c_str(), 0700);
    BOOST_REQUIRE_EQUAL(::chown(theirs.c_str(), 65534, 65534), 0);
    BOOST_CHECK(!init_certs(theirs.string(), false, error));
    BOOST_TEST_MESSAGE("foreign owner: " << error);
    BOOST_CHECK(contains(error, "owned by uid 65534"));
  }
}

BOOST_AUTO_TEST_CASE(check_catches_loose_key_modes) {
  test::temp_dir tmp{"nw-certs"};
  init_ok(tmp.path());
  for (auto name : {"node.key", "client.key", "ca.key"}) {
    auto key = tmp.path() / name;
    for (mode_t loose : {0640u, 0604u, 0660u, 0602u}) {
      ::chmod(key.c_str(), loose);
      auto error = check(tmp.path());
      BOOST_CHECK_MESSAGE(contains(error, key.string())
                            && contains(error, "chmod 600 " + key.string()),
                          name << " " << std::oct << loose << ": " << error);
    }
    ::chmod(key.c_str(), 0600);
    BOOST_CHECK_EQUAL(check(tmp.path()), "");
  }
  ::chmod((tmp.path() / "node.key").c_str(), 0644);
  auto error = check(tmp.path());
  BOOST_TEST_MESSAGE("loose key: " << error);
  // 0400 (e.g. a Kubernetes secret with defaultMode 0400) is fine.
  ::chmod((tmp.path() / "node.key").c_str(), 0400);
  BOOST_CHECK_EQUAL(check(tmp.path()), "");
  // ca.key is optional: nodes should not carry it.
  fs::remove(tmp.path() / "ca.key");
  BOOST_CHECK_EQUAL(check(tmp.path()), "");
}

BOOST_AUTO_TEST_CASE(check_catches_missing_and_garbage) {
  test::temp_dir tmp{"nw-certs"};
  auto error = check(tmp.path() / "nowhere");
  BOOST_TEST_MESSAGE("missing dir: " << error);
  BOOST_CHECK(contains(error, "nodewatch certs init"));
  init_ok(tmp.path());
  fs::remove(tmp.path() / "client.crt");
  error = check(tmp.path());
  BOOST_CHECK(contains(error, (tmp.path() / "client.crt").string()));
  BOOST_CHECK(!contains(error, "node.crt"));
  BOOST_CHECK(contains(error, "nodewatch certs init"));
  init_ok(tmp.path(), true);
  { std::ofstream{tmp.path() / "node.crt"} << "not a certificate\n"; }
  error = check(tmp.path());
  BOOST_CHECK(contains(error, (tmp.path() / "node.crt").string()));
  init_ok(tmp.path(), true);
  { std::ofstream{tmp.path() / "client.key", std::ios::trunc} << "garbage\n"; }
  error = check(tmp.path());
  BOOST_CHECK(contains(error, (tmp.path() / "client.key").string()));
}

BOOST_AUTO_TEST_CASE(check_catches_a_certificate_from_another_ca) {
  test::temp_dir a{"nw-certs"}, b{"nw-certs"};
  init_ok(a.path());
  init_ok(b.path());
  // node.crt and node.key from B (a matching pair), ca.crt from A.
  for (auto name : {"node.crt", "node.key"})
    fs::copy_file(b.path() / name, a.path() / name,
                  fs::copy_options::overwrite_existing);
  auto error = check(a.path());
  BOOST_TEST_MESSAGE("foreign CA: " << error);
  BOOST_CHECK(contains(error, (a.path() / "node.crt").string()));
  BOOST_CHECK(contains(error, "does not verify against"));
  BOOST_CHECK(contains(error, (a.path() / "ca.crt").string()));

  // The same for the client side.
  init_ok(a.path(), true);
  for (auto name : {"client.crt", "client.key"})
    fs::copy_file(b.path() / name, a.path() / name,
                  fs::copy_options::overwrite_existing);
  error = check(a.path());
  BOOST_CHECK(contains(error, (a.path() / "client.crt").string()));
  BOOST_CHECK(contains(error, "does not verify against"));

  // And a node certificate used as the client certificate: right CA, wrong
  // purpose (TLS clients need clientAuth).
  init_ok(a.path(), true);
  for (auto [from, to] : {std::pair{"node.crt", "client.crt"},
                          std::pair{"node.key", "client.key"}})
    fs::copy_file(a.path() / from, a.path() / to,
                  fs::copy_options::overwrite_existing);
  error = check(a.path());
  BOOST_TEST_MESSAGE("wrong purpose: " << error);
  BOOST_CHECK(contains(error, (a.path() / "client.crt").string()));
  BOOST_CHECK(contains(error, "purpose"));
}

BOOST_AUTO_TEST_CASE(check_catches_a_key_that_does_not_match) {
  test::temp_dir a{"nw-certs"}, b{"nw-certs"};
  init_ok(a.path());
  init_ok(b.path());
  fs::copy_file(b.path() / "node.key", a.path() / "node.key",
                fs::copy_options::overwrite_existing);
  auto error = check(a.path());
  BOOST_TEST_MESSAGE("mismatched key: " << error);
  BOOST_CHECK(contains(error, (a.path() / "node.key").string()));
  BOOST_CHECK(contains(error, "does not match"));

  init_ok(a.path(), true);
  fs::copy_file(a.path() / "node.key", a.path() / "client.key",
                fs::copy_options::overwrite_existing);
  error = check(a.path());
  BOOST_CHECK(contains(error, (a.path() / "client.key").string()));
  BOOST_CHECK(contains(error, "does not match"));
}
