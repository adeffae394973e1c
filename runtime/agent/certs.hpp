// The cluster's certificates for mutual TLS over caf::openssl (issue 8, item
// 2; CONTRACTS.md "Remote access"; docs/tls.md): `nodewatch certs init` makes
// a private CA and one node and one client certificate signed by it, and the
// agent and its clients check a TLS directory before they use it.
//
// Plain OpenSSL 3, no CAF: keys are EC P-256 (ECDSA), certificates X.509 v3
// signed with SHA-256. caf::openssl verifies the chain, never a host name, so
// every node may share node.crt/node.key; what makes a peer trusted is only
// that ca.crt signed its certificate: keep one CA per cluster.
#pragma once

#include <string>
#include <vector>

namespace nw {

/// The files of a TLS directory. `ca.key` is the CA's private key: it signs
/// more certificates later and is never needed by an agent or a client, so
/// it should not be copied to the nodes (check_tls_dir does not need it).
struct tls_files {
  std::string ca_cert;     // <dir>/ca.crt
  std::string ca_key;      // <dir>/ca.key (only where certificates are made)
  std::string node_cert;   // <dir>/node.crt: the agent presents it
  std::string node_key;    // <dir>/node.key
  std::string client_cert; // <dir>/client.crt: controllers present it
  std::string client_key;  // <dir>/client.key
};

/// The paths of the files in `dir`.
tls_files tls_paths(const std::string& dir);

/// `$NODEWATCH_TLS_DIR` when set and not empty, else /var/lib/nodewatch/tls.
std::string default_tls_dir();

/// Creates a new CA and a node and a client certificate signed by it in
/// `dir`: ca.crt, ca.key, node.crt, node.key, client.crt, client.key.
///
/// - `dir` is created with mode 0700 (missing parents as by `mkdir -p`). An
///   existing `dir` must be a directory owned by the effective user with no
///   group or other permission bits; anything else is refused (the error says
///   `chmod 700`): nothing is ever chmod-ed behind the caller's back.
/// - Existing files are not replaced unless `force`; the error names them.
/// - Every file is written to a temporary file in `dir` (O_CREAT|O_EXCL, mode
///   0600 for keys, 0644 for certificates), fsync-ed, then renamed into place
///   (without `force`, a file that appeared meanwhile is still not replaced);
///   the directory is fsync-ed last.
///
/// Returns false with a one-line `error` on failure. `written`, when given,
/// receives the paths written, in the order above.
bool init_certs(const std::string& dir, bool force, std::string& error,
                std::vector<std::string>* written = nullptr);

/// What the agent and its clients check before they use `dir`: ca.crt,
/// node.crt, node.key, client.crt and client.key exist and are readable; the
/// keys (and ca.key, if it is there) have no group or other permission bits;
/// the certificates and keys parse (unencrypted PEM); node.crt verifies
/// against ca.crt for TLS server use and client.crt for TLS client use,
/// including validity dates; each key matches its certificate.
///
/// Returns false with a one-line `error` naming the file and the fix.
bool check_tls_dir(const std::string& dir, std::string& error);

} // namespace nw
