// A workaround for caf::openssl 0.17.6 (Debian's libcaf-openssl): its
// sessions call SSL_read/SSL_write/SSL_accept/SSL_connect without clearing
// OpenSSL's per-thread error queue first, and every session of a multiplexer
// shares that thread. When one peer's connection fails (a controller that
// went away), its error stays queued, and the next SSL_get_error on ANOTHER
// session reads it as that session's failure: a live controller loses its
// connection whenever another one leaves (tests/integration/tls/
// tls_wire_test.cpp, a_leaving_tls_peer_drops_no_other). OpenSSL's own rule
// is to clear the queue before each of these calls.
//
// The executable defines these four functions, so CAF's calls through its
// PLT reach them first (ELF symbol interposition); each clears the queue
// and calls libssl's own (RTLD_NEXT). Linked into every binary that links
// nw_agent (see nw::openssl_error_queue_fix, referenced where TLS is set
// up, so the linker keeps this object).
#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class Fn>
Fn next(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace nw {

/// Referenced wherever TLS is configured so that this object is linked.
bool openssl_error_queue_fix() {
  return true;
}

} // namespace nw
