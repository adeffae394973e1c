// The files of `nodewatch certs init` (runtime/agent/certs) work for mutual
// TLS over caf::openssl 0.17.6, on real loopback sockets: a typed actor
// published with node.crt/node.key/ca.crt answers a client presenting
// client.crt/client.key/ca.crt. Refused, while the server keeps serving a good
// client after each: a client certificate from another CA (trusting our CA or
// its own), a TLS client with no certificate (plain OpenSSL: CAF will not
// start with a CA file but no certificate), a client with no TLS settings at
// all (CAF's anonymous mode), plain TCP; and the other direction:
// a node certificate from another CA, and a node presenting the client
// certificate (the leaves' extendedKeyUsage is enforced by OpenSSL).
#define BOOST_TEST_MODULE certs_tls
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/remote_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "runtime/agent/certs.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;

using echo_actor = caf::typed_actor<caf::replies_to<int>::with<int>>;

echo_actor::behavior_type echo_impl() {
  return {[](int x) { return x + 1; }};
}

/// Ends the process with a message if a test case hangs (a blocking
/// remote_actor that never returns would otherwise hold ctest for minutes).
class watchdog {
public:
  explicit watchdog(std::chrono::seconds limit) {
    thread_ = std::thread{[this, limit] {
      std::unique_lock<std::mutex> guard{mtx_};
      if (!cv_.wait_for(guard, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: test case still running after %llds\n",
                     static_cast<long long>(limit.count()));
        std::fflush(nullptr);
        std::_Exit(1);
      }
    }};
  }
  ~watchdog() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

struct files {
  std::string cert;
  std::string key;
  std::string ca;
};

files node_files(const nw::tls_files& p) {
  return {p.node_cert, p.node_key, p.ca_cert};
}

files client_files(const nw::tls_files& p) {
  return {p.client_cert, p.client_key, p.ca_cert};
}

/// Middleman, then the OpenSSL manager (that order), with `f` as CAF's
/// openssl_* settings (empty strings = unset), quiet, two threads.
struct tls_config : caf::actor_system_config {
  explicit tls_config(const files& f, bool with_openssl = true) {
    load<caf::io::middleman>();
    if (with_openssl)
      load<caf::openssl::manager>();
    openssl_certificate = f.cert;
    openssl_key = f.key;
    openssl_cafile = f.ca;
    set("scheduler.max-threads", 2);
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

/// An echo actor published over TLS on 127.0.0.1, port chosen by the kernel.
struct server {
  tls_config cfg;
  caf::actor_system sys;
  echo_actor echo;
  uint16_t port = 0;

  explicit server(const files& f) : cfg{f}, sys{cfg} {
    echo = sys.spawn(echo_impl);
    auto p = caf::openssl::publish(echo, 0, "127.0.0.1", true);
    if (!p) // (a BOOST_*_MESSAGE would render the error even on success)
      BOOST_FAIL("publish: " << sys.render(p.error()));
    port = *p;
  }

  ~server() {
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }
};

/// Connects over TLS (or plain TCP) with `f` and asks 41. Returns "42" or
/// the error as CAF renders it.
std::string ask(uint16_t port, const files& f, bool tls = true) {
  tls_config cfg{f, tls};
  caf::actor_system sys{cfg};
  auto h = tls ? caf::openssl::remote_actor<echo_actor>(sys, "127.0.0.1", port)
               : caf::io::remote_actor<echo_actor>(sys, "127.0.0.1", port);
  if (!h)
    return "remote_actor: " + sys.render(h.error());
  std::string result;
  caf::scoped_actor self{sys};
  self->request(*h, 10s, 41)
    .receive([&](int x) { result = std::to_string(x); },
             [&](caf::error& err) { result = "request: " + sys.render(err); });
  return result;
}

/// A bare OpenSSL TLS client (no CAF) that verifies the server against
/// `f.ca` and presents `f.cert`/`f.key` when given: "read N bytes" when the
/// server's first bytes arrive, else "refused: <OpenSSL's reason>".
std::string tls_probe(uint16_t port, const files& f) {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{
    SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
  BOOST_REQUIRE(ctx);
  BOOST_REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), f.ca.c_str(), nullptr)
                == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!f.cert.empty()) {
    BOOST_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert.c_str())
                  == 1);
    BOOST_REQUIRE(
      SSL_CTX_use_PrivateKey_file(ctx.get(), f.key.c_str(), SSL_FILETYPE_PEM)
      == 1);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0);
  std::unique_ptr<SSL, void (*)(SSL*)> ssl{SSL_new(ctx.get()), &SSL_free};
  SSL_set_fd(ssl.get(), fd);
  auto reason = [] {
    char buf[256] = "connection closed";
    if (auto code = ERR_get_error())
      ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    return std::string{buf};
  };
  std::string result;
  char buf[256];
  if (SSL_connect(ssl.get()) != 1) {
    result = "refused: " + reason();
  } else if (auto n = SSL_read(ssl.get(), buf, sizeof(buf)); n > 0) {
    result = "read " + std::to_string(n) + " bytes";
  } else {
    // TLS 1.3: the client finishes its side first and learns of the
    // server's verdict on its certificate from the next read.
    result = "refused: " + reason();
  }
  ssl.reset();
  ::close(fd);
  return result;
}

void expect_refused(uint16_t port, const files& f, const char* what,
                    bool tls = true) {
  auto result = ask(port, f, tls);
  BOOST_TEST_MESSAGE(what << ": " << result);
  BOOST_CHECK_MESSAGE(result != "42", what << " was served");
  BOOST_CHECK_MESSAGE(result.rfind("remote_actor: ", 0) == 0,
                      what << " not refused at connect: " << result);
}

struct two_clusters {
  nw::test::temp_dir dir_a{"nw-tls-a"};
  nw::test::temp_dir dir_b{"nw-tls-b"};
  nw::tls_files a;
  nw::tls_files b;
  watchdog dog{120s};

  two_clusters() {
    std::string error;
    BOOST_REQUIRE_MESSAGE(nw::init_certs(dir_a.path().string(), false, error),
                          error);
    BOOST_REQUIRE_MESSAGE(nw::init_certs(dir_b.path().string(), false, error),
                          error);
    BOOST_REQUIRE_MESSAGE(nw::check_tls_dir(dir_a.path().string(), error),
                          error);
    a = nw::tls_paths(dir_a.path().string());
    b = nw::tls_paths(dir_b.path().string());
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(tls, two_clusters)

BOOST_AUTO_TEST_CASE(round_trip_with_the_generated_files) {
  server s{node_files(a)};
  BOOST_CHECK_EQUAL(ask(s.port, client_files(a)), "42");
  // A second connection, a fresh handshake.
  BOOST_CHECK_EQUAL(ask(s.port, client_files(a)), "42");
}

BOOST_AUTO_TEST_CASE(client_certificate_from_another_ca_is_refused) {
  server s{node_files(a)};
  // B's client trusting A's CA: only the server can refuse it.
  expect_refused(s.port, {b.client_cert, b.client_key, a.ca_cert},
                 "B's client certificate, trusting A");
  // All of B's client files.
  expect_refused(s.port, client_files(b), "B's client files");
  BOOST_CHECK_EQUAL(ask(s.port, client_files(a)), "42");
}

BOOST_AUTO_TEST_CASE(client_without_certificate_is_refused) {
  server s{node_files(a)};
  // A TLS client that trusts A's CA and presents nothing: refused by the
  // server (VERIFY_FAIL_IF_NO_PEER_CERT). CAF cannot even make such a client
  // (below), so this one is plain OpenSSL; the same probe with A's client
  // files reads the server's BASP handshake, so the probe itself works.
  auto probe = tls_probe(s.port, client_files(a));
  BOOST_TEST_MESSAGE("raw TLS client with A's client files: " << probe);
  BOOST_CHECK(probe.rfind("read ", 0) == 0);
  probe = tls_probe(s.port, {"", "", a.ca_cert});
  BOOST_TEST_MESSAGE("raw TLS client without a certificate: " << probe);
  BOOST_CHECK(probe.rfind("refused: ", 0) == 0);
  BOOST_CHECK(probe.find("certificate required") != std::string::npos);
  // CAF 0.17.6 refuses to start an actor system whose openssl settings name
  // a CA file but no certificate and key ("No certificate configured for SSL
  // endpoint", from the manager's init).
  BOOST_CHECK_THROW(tls_config cfg({"", "", a.ca_cert});
                    caf::actor_system sys{cfg}, std::runtime_error);
  // No openssl settings at all: CAF's anonymous mode (aNULL ciphers).
  expect_refused(s.port, {"", "", ""}, "anonymous TLS client");
  // Plain TCP to the TLS port.
  expect_refused(s.port, {"", "", ""}, "plain TCP client", false);
  BOOST_CHECK_EQUAL(ask(s.port, client_files(a)), "42");
}

BOOST_AUTO_TEST_CASE(client_refuses_a_node_from_another_ca) {
  server s{node_files(b)};
  expect_refused(s.port, client_files(a), "a node of cluster B");
}

BOOST_AUTO_TEST_CASE(certificates_are_not_interchangeable) {
  // The node presenting the client certificate (clientAuth only): the
  // client's OpenSSL checks the server purpose.
  server s{{a.client_cert, a.client_key, a.ca_cert}};
  expect_refused(s.port, client_files(a), "node with client.crt");
  // A client presenting the node certificate (serverAuth only).
  server good{node_files(a)};
  expect_refused(good.port, node_files(a), "client with node.crt");
  BOOST_CHECK_EQUAL(ask(good.port, client_files(a)), "42");
}

BOOST_AUTO_TEST_SUITE_END()
