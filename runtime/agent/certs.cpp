#include "runtime/agent/certs.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace nw {

namespace {

// -- OpenSSL ownership --------------------------------------------------------

template <class T, void (*Free)(T*)>
struct freer {
  void operator()(T* p) const {
    Free(p);
  }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;
using name_ptr = std::unique_ptr<X509_NAME, freer<X509_NAME, X509_NAME_free>>;
using ext_ptr
  = std::unique_ptr<X509_EXTENSION, freer<X509_EXTENSION, X509_EXTENSION_free>>;
using bio_ptr = std::unique_ptr<BIO, freer<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, freer<BIGNUM, BN_free>>;
using store_ptr
  = std::unique_ptr<X509_STORE, freer<X509_STORE, X509_STORE_free>>;
using store_ctx_ptr
  = std::unique_ptr<X509_STORE_CTX, freer<X509_STORE_CTX, X509_STORE_CTX_free>>;

constexpr int ca_days = 3650;   // 10 years
constexpr int leaf_days = 730;  // 2 years
constexpr long backdate = 3600; // notBefore one hour ago: clock skew

/// OpenSSL's queued errors as one line (and the queue emptied).
std::string ssl_errors() {
  std::string result;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!result.empty())
      result += "; ";
    result += buf;
  }
  return result.empty() ? "unknown OpenSSL error" : result;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// Overwrites a string holding key material before it is freed.
struct secret {
  std::string text;
  ~secret() {
    if (!text.empty())
      OPENSSL_cleanse(text.data(), text.size());
  }
};

// -- making keys and certificates ---------------------------------------------

pkey_ptr make_key(std::string& error) {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    error = "cannot generate a P-256 key: " + ssl_errors();
  return key;
}

bool pem_of_key(EVP_PKEY* key, secret& out, std::string& error) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  // Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), what caf::openssl reads without a
  // passphrase.
  if (!bio
      || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                  nullptr)
           != 1) {
    error = "cannot encode a private key: " + ssl_errors();
    return false;
  }
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  out.text.assign(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return true;
}

bool pem_of_cert(X509* cert, std::string& out, std::string& error) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    error = "cannot encode a certificate: " + ssl_errors();
    return false;
  }
  char* data = nullptr;
  auto len = BIO_get_mem_data(bio.get(), &data);
  out.assign(data, static_cast<size_t>(len));
  return true;
}

/// A random positive 128-bit serial (16 bytes, top bit clear).
bool set_random_serial(X509* cert) {
  unsigned char buf[16];
  do {
    if (RAND_bytes(buf, sizeof(buf)) != 1)
      return false;
    buf[0] &= 0x7f;
  } while (buf[0] == 0); // keep it 16 bytes long
  bn_ptr bn{BN_bin2bn(buf, sizeof(buf), nullptr)};
  return bn && BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert));
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    return "0";
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  for (auto b : buf) {
    result += digits[b >> 4];
    result += digits[b & 0xf];
  }
  return result;
}

struct cert_spec {
  std::string common_name;
  int days;
  // (NID, value in openssl.cnf syntax), added in this order.
  std::vector<std::pair<int, const char*>> extensions;
};

/// A certificate for `subject_key`, signed by `issuer_key`; self-signed when
/// `issuer` is null (then `issuer_key` must be `subject_key`).
x509_ptr make_cert(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer,
                   EVP_PKEY* issuer_key, std::string& error) {
  auto fail = [&](const char* what) {
    error = std::string{"cannot make the certificate \""} + spec.common_name
            + "\": " + what + ": " + ssl_errors();
    return x509_ptr{};
  };
  x509_ptr cert{X509_new()};
  if (!cert)
    return fail("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return fail("version");
  if (!set_random_serial(cert.get()))
    return fail("serial");
  name_ptr name{X509_NAME_new()};
  auto cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  auto org = reinterpret_cast<const unsigned char*>("nodewatch");
  if (!name
      || X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8, org, -1, -1,
                                    0)
           != 1
      || X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, cn, -1, -1,
                                    0)
           != 1
      || X509_set_subject_name(cert.get(), name.get()) != 1)
    return fail("subject");
  auto issuer_name = issuer ? X509_get_subject_name(issuer) : name.get();
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1)
    return fail("issuer");
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -backdate)
      || !X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0,
                           nullptr))
    return fail("validity");
  if (X509_set_pubkey(cert.get(), subject_key) != 1)
    return fail("public key");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr,
                 nullptr, 0);
  if (!issuer && X509V3_set_issuer_pkey(&ctx, issuer_key) != 1)
    return fail("issuer key");
  for (auto& [nid, value] : spec.extensions) {
    ext_ptr ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value)};
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1)
      return fail(OBJ_nid2sn(nid));
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
    return fail("signature");
  return cert;
}

// -- files --------------------------------------------------------------------

std::string join(const std::string& dir, const char* name) {
  if (!dir.empty() && dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

/// One file to write: `content` goes to `path` with `mode`.
struct pending_file {
  std::string path;
  mode_t mode;
  const std::string* content;
  std::string temp; // set once the temporary file exists
};

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Writes `f.content` to a new temporary file next to `f.path`, fsync-ed.
bool write_temp(const std::string& dir, pending_file& f, std::string& error) {
  auto base = std::filesystem::path{f.path}.filename().string();
  for (int attempt = 0; attempt < 16; ++attempt) {
    auto temp = join(dir, ("." + base + ".tmp-" + random_hex(6)).c_str());
    int fd
      = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, f.mode);
    if (fd < 0) {
      if (errno == EEXIST)
        continue;
      error = "cannot create " + temp + ": " + errno_text(errno);
      return false;
    }
    f.temp = temp;
    // The umask may have taken bits away; the mode is part of the contract.
    bool ok = ::fchmod(fd, f.mode) == 0 && write_all(fd, *f.content)
              && ::fsync(fd) == 0;
    int err = errno;
    if (::close(fd) != 0 && ok) {
      ok = false;
      err = errno;
    }
    if (!ok) {
      error = "cannot write " + temp + ": " + errno_text(err);
      return false;
    }
    return true;
  }
  error = "cannot create a temporary file in " + dir;
  return false;
}

/// Creates `dir` (0700, parents as needed) or checks that the existing one is
/// ours and private.
bool prepare_dir(const std::string& dir, std::string& error) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      error = "cannot use " + dir + ": " + errno_text(errno);
      return false;
    }
    auto path = std::filesystem::path{dir}.lexically_normal();
    if (!path.has_filename()) // "a/b/tls/"
      path = path.parent_path();
    auto parent = path.parent_path();
    std::error_code ec;
    if (!parent.empty())
      std::filesystem::create_directories(parent, ec);
    if (ec) {
      error = "cannot create " + parent.string() + ": " + ec.message();
      return false;
    }
    if (::mkdir(dir.c_str(), 0700) == 0) {
      // mkdir's mode went through the umask; make it exactly 0700.
      if (::chmod(dir.c_str(), 0700) != 0) {
        error = "cannot chmod 700 " + dir + ": " + errno_text(errno);
        return false;
      }
      return true;
    }
    if (errno != EEXIST) {
      error = "cannot create " + dir + ": " + errno_text(errno);
      return false;
    }
    // Someone else made it meanwhile: check it like any existing one.
    if (::stat(dir.c_str(), &st) != 0) {
      error = "cannot use " + dir + ": " + errno_text(errno);
      return false;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    error = dir + " exists and is not a directory";
    return false;
  }
  if (st.st_uid != ::geteuid()) {
    error = "refusing to use " + dir + ": it is owned by uid "
            + std::to_string(st.st_uid) + ", not by this user (uid "
            + std::to_string(::geteuid()) + ")";
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    error = "refusing to use " + dir + ": its mode is " + mode_text(st.st_mode)
            + "; a directory holding private keys must not be accessible by "
              "group or others: run `chmod 700 "
            + dir + "` or choose a new directory";
    return false;
  }
  return true;
}

bool fsync_dir(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    error = "cannot sync " + dir + ": " + errno_text(errno);
    if (fd >= 0)
      ::close(fd);
    return false;
  }
  ::close(fd);
  return true;
}

// -- reading and checking -----------------------------------------------------

/// Never prompts for a passphrase: encrypted keys simply fail to load.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot read " + path + ": " + errno_text(errno);
    return false;
  }
  out.clear();
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = "cannot read " + path + ": " + errno_text(errno);
      ::close(fd);
      return false;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) {
      error = path + " is larger than 1 MiB: not a certificate or key";
      ::close(fd);
      return false;
    }
  }
  ::close(fd);
  return true;
}

x509_ptr load_cert(const std::string& path, std::string& error) {
  std::string text;
  if (!read_file(path, text, error))
    return {};
  bio_ptr bio{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
  x509_ptr cert{
    bio ? PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)
        : nullptr};
  if (!cert) {
    ERR_clear_error();
    error = path + " is not a PEM certificate";
  }
  return cert;
}

pkey_ptr load_key(const std::string& path, std::string& error) {
  secret text;
  if (!read_file(path, text.text, error))
    return {};
  bio_ptr bio{
    BIO_new_mem_buf(text.text.data(), static_cast<int>(text.text.size()))};
  pkey_ptr key{
    bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)
        : nullptr};
  if (!key) {
    ERR_clear_error();
    error = path
            + " is not an unencrypted PEM private key (encrypted keys are not "
              "supported)";
  }
  return key;
}

/// The key at `path` has no group/other bits (or does not exist, when
/// `optional`).
bool check_key_mode(const std::string& path, bool optional,
                    std::string& error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (optional && errno == ENOENT)
      return true;
    error = "cannot use " + path + ": " + errno_text(errno);
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    error = path + " has mode " + mode_text(st.st_mode)
            + ": a private key must not be accessible by group or others; run "
              "`chmod 600 "
            + path + "`";
    return false;
  }
  return true;
}

/// `cert` chains to `ca` and may be used for `purpose` (X509_PURPOSE_*): what
/// OpenSSL checks during the TLS handshake, dates included.
bool verify_cert(X509* ca, X509* cert, int purpose, const std::string& path,
                 const std::string& ca_path, std::string& error) {
  store_ptr store{X509_STORE_new()};
  store_ctx_ptr ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1
      || X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1
      || X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    error = "cannot verify " + path + ": " + ssl_errors();
    return false;
  }
  if (X509_verify_cert(ctx.get()) == 1)
    return true;
  ERR_clear_error();
  auto code = X509_STORE_CTX_get_error(ctx.get());
  error = path + " does not verify against " + ca_path + ": "
          + X509_verify_cert_error_string(code);
  if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
      || code == X509_V_ERR_CERT_SIGNATURE_FAILURE)
    error += " (the files come from different CAs: make them with one "
             "`nodewatch certs init`)";
  else if (code == X509_V_ERR_CERT_HAS_EXPIRED
           || code == X509_V_ERR_CERT_NOT_YET_VALID)
    error += " (check the clock, or make new certificates)";
  return false;
}

bool check_key_matches(X509* cert, EVP_PKEY* key, const std::string& cert_path,
                       const std::string& key_path, std::string& error) {
  if (X509_check_private_key(cert, key) == 1)
    return true;
  ERR_clear_error();
  error = key_path + " does not match " + cert_path
          + " (the files come from different `nodewatch certs init` runs)";
  return false;
}

} // namespace

tls_files tls_paths(const std::string& dir) {
  return {join(dir, "ca.crt"),     join(dir, "ca.key"),
          join(dir, "node.crt"),   join(dir, "node.key"),
          join(dir, "client.crt"), join(dir, "client.key")};
}

std::string default_tls_dir() {
  if (auto env = std::getenv("NODEWATCH_TLS_DIR"); env && *env)
    return env;
  return "/var/lib/nodewatch/tls";
}

bool init_certs(const std::string& dir, bool force, std::string& error,
                std::vector<std::string>* written) {
  if (written)
    written->clear();
  if (dir.empty()) {
    error = "no TLS directory given";
    return false;
  }
  if (!prepare_dir(dir, error))
    return false;
  auto paths = tls_paths(dir);
  std::vector<std::string> targets{paths.ca_cert,     paths.ca_key,
                                   paths.node_cert,   paths.node_key,
                                   paths.client_cert, paths.client_key};
  if (!force) {
    std::string existing;
    for (auto& path : targets) {
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0)
        existing += (existing.empty() ? "" : ", ") + path;
    }
    if (!existing.empty()) {
      error = "refusing to overwrite " + existing
              + " (force to replace every file, which makes a new CA: "
                "certificates signed by the old one stop working)";
      return false;
    }
  }
  // Everything in memory first: nothing is written unless all of it worked.
  auto ca_key = make_key(error);
  auto node_key = ca_key ? make_key(error) : nullptr;
  auto client_key = node_key ? make_key(error) : nullptr;
  if (!client_key)
    return false;
  cert_spec ca_spec{"nodewatch CA " + random_hex(4),
                    ca_days,
                    {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                     {NID_key_usage, "critical,keyCertSign,cRLSign"},
                     {NID_subject_key_identifier, "hash"},
                     {NID_authority_key_identifier, "keyid:always"}}};
  auto leaf = [](std::string cn, const char* eku) {
    return cert_spec{std::move(cn),
                     leaf_days,
                     {{NID_basic_constraints, "critical,CA:FALSE"},
                      {NID_key_usage, "critical,digitalSignature"},
                      {NID_ext_key_usage, eku},
                      {NID_subject_key_identifier, "hash"},
                      {NID_authority_key_identifier, "keyid:always"}}};
  };
  auto ca = make_cert(ca_spec, ca_key.get(), nullptr, ca_key.get(), error);
  if (!ca)
    return false;
  auto node = make_cert(leaf("nodewatch node", "serverAuth"), node_key.get(),
                        ca.get(), ca_key.get(), error);
  if (!node)
    return false;
  auto client = make_cert(leaf("nodewatch client", "clientAuth"),
                          client_key.get(), ca.get(), ca_key.get(), error);
  if (!client)
    return false;
  std::string ca_pem, node_pem, client_pem;
  secret ca_key_pem, node_key_pem, client_key_pem;
  if (!pem_of_cert(ca.get(), ca_pem, error)
      || !pem_of_key(ca_key.get(), ca_key_pem, error)
      || !pem_of_cert(node.get(), node_pem, error)
      || !pem_of_key(node_key.get(), node_key_pem, error)
      || !pem_of_cert(client.get(), client_pem, error)
      || !pem_of_key(client_key.get(), client_key_pem, error))
    return false;
  std::vector<pending_file> files{
    {paths.ca_cert, 0644, &ca_pem, {}},
    {paths.ca_key, 0600, &ca_key_pem.text, {}},
    {paths.node_cert, 0644, &node_pem, {}},
    {paths.node_key, 0600, &node_key_pem.text, {}},
    {paths.client_cert, 0644, &client_pem, {}},
    {paths.client_key, 0600, &client_key_pem.text, {}},
  };
  auto remove_temps = [&files] {
    for (auto& f : files)
      if (!f.temp.empty())
        ::unlink(f.temp.c_str());
  };
  for (auto& f : files) {
    if (!write_temp(dir, f, error)) {
      remove_temps();
      return false;
    }
  }
  for (auto& f : files) {
    // Without force, never replace a file that appeared after the check.
    int rc = force ? ::rename(f.temp.c_str(), f.path.c_str())
                   : ::renameat2(AT_FDCWD, f.temp.c_str(), AT_FDCWD,
                                 f.path.c_str(), RENAME_NOREPLACE);
    if (rc != 0) {
      auto err = errno;
      error = err == EEXIST ? "refusing to overwrite " + f.path
                                + " (it appeared while the certificates were "
                                  "being made)"
                            : "cannot rename " + f.temp + " to " + f.path + ": "
                                + errno_text(err);
      remove_temps();
      return false;
    }
    f.temp.clear();
    if (written)
      written->push_back(f.path);
  }
  return fsync_dir(dir, error);
}

bool check_tls_dir(const std::string& dir, std::string& error) {
  auto paths = tls_paths(dir);
  std::string missing;
  for (auto* path : {&paths.ca_cert, &paths.node_cert, &paths.node_key,
                     &paths.client_cert, &paths.client_key}) {
    struct stat st;
    if (::stat(path->c_str(), &st) != 0 && errno == ENOENT)
      missing += (missing.empty() ? "" : ", ") + *path;
  }
  if (!missing.empty()) {
    error
      = "missing " + missing + ": run `nodewatch certs init --dir " + dir + "`";
    return false;
  }
  if (!check_key_mode(paths.node_key, false, error)
      || !check_key_mode(paths.client_key, false, error)
      || !check_key_mode(paths.ca_key, true, error))
    return false;
  auto ca = load_cert(paths.ca_cert, error);
  if (!ca)
    return false;
  auto node = load_cert(paths.node_cert, error);
  if (!node)
    return false;
  auto client = load_cert(paths.client_cert, error);
  if (!client)
    return false;
  auto node_key = load_key(paths.node_key, error);
  if (!node_key)
    return false;
  auto client_key = load_key(paths.client_key, error);
  if (!client_key)
    return false;
  return verify_cert(ca.get(), node.get(), X509_PURPOSE_SSL_SERVER,
                     paths.node_cert, paths.ca_cert, error)
         && verify_cert(ca.get(), client.get(), X509_PURPOSE_SSL_CLIENT,
                        paths.client_cert, paths.ca_cert, error)
         && check_key_matches(node.get(), node_key.get(), paths.node_cert,
                              paths.node_key, error)
         && check_key_matches(client.get(), client_key.get(), paths.client_cert,
                              paths.client_key, error);
}

} // namespace nw
