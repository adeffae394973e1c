// nodewatch's messages and its published facade over real mutual TLS
// (caf::openssl 0.17.6, loopback sockets, the files of `nodewatch certs init`),
// two actor systems in one process:
//  - the sample of every type of the `nodewatch` type-ID block
//    (tests/support/message_samples.hpp) goes to an echo actor published with
//    the node files and comes back equal; actor handles come back as handles
//    that still reach the same actor;
//  - the real facade (spawn_node over spawn_registry) answers an
//    authenticated peer's bad input (unknown ids, a clause with an unknown
//    key, messages of the wrong type, TLS-authenticated garbage) with errors
//    and keeps answering good requests;
//  - half handshakes (nothing, part of a ClientHello, a whole ClientHello)
//    that stall, and random garbage on fresh connections: a good client is
//    still answered within a deadline, every time, and the server's sockets
//    are counted before, during and after (CAF 0.17 has no handshake
//    timeout: a stalled connection holds its socket until the peer goes);
//  - disabled, a known caf::openssl 0.17.6 bug: a connection held while
//    another TLS peer comes and goes is dropped (the good clients above are
//    therefore fresh connections).
// Every wait has a deadline; a hang ends the process with a message.
#define BOOST_TEST_MODULE tls_wire
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "messages/errors.hpp"
#include "messages/type_ids.hpp"
#include "runtime/agent/certs.hpp"
#include "tests/support/message_samples.hpp"
#include "tests/support/skip.hpp"
#include "tests/support/temp_dir.hpp"

using namespace nw;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// How long a good client may take for a fresh connection and an answer.
constexpr auto answer_deadline = 5s;

/// Ends the process with a message if a test case hangs.
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

/// Runs `f` (which must own everything it touches) on its own thread and
/// returns its result if it is in within `limit`; a late result is an error
/// (after a grace period so nothing dangles), no result at all ends the
/// process: it hung.
template <class F>
std::optional<std::string> within(std::chrono::milliseconds limit,
                                  const std::string& what, F f) {
  std::packaged_task<std::string()> task{std::move(f)};
  auto result = task.get_future();
  std::thread worker{std::move(task)};
  auto start = clock_type::now();
  if (result.wait_for(limit) == std::future_status::ready) {
    worker.join();
    return result.get();
  }
  if (result.wait_for(30s) == std::future_status::ready) {
    worker.join();
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - start);
    BOOST_ERROR(what << " took " << took.count() << " ms (deadline "
                     << limit.count() << " ms): " << result.get());
    return std::nullopt;
  }
  std::fprintf(stderr, "%s: no result after %lld ms + 30 s, hung\n",
               what.c_str(), static_cast<long long>(limit.count()));
  std::fflush(nullptr);
  std::_Exit(1);
}

/// Polls `pred` until it holds or `limit` passed; a condition with a
/// deadline, not a sleep standing in for synchronisation.
template <class Pred>
bool wait_until(std::chrono::milliseconds limit, Pred pred) {
  auto until = clock_type::now() + limit;
  for (;;) {
    if (pred())
      return true;
    if (clock_type::now() >= until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

struct files {
  std::string cert;
  std::string key;
  std::string ca;
};

/// Middleman, then the OpenSSL manager, nodewatch's types, quiet.
struct tls_config : caf::actor_system_config {
  explicit tls_config(const files& f) {
    load<caf::io::middleman>();
    load<caf::openssl::manager>();
    add_message_types<caf::id_block::nodewatch>();
    openssl_certificate = f.cert;
    openssl_key = f.key;
    openssl_cafile = f.ca;
    set("scheduler.max-threads", 2);
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
  }
};

/// A fresh TLS directory; skips the binary if certificates cannot be made.
struct cluster {
  test::temp_dir dir{"nw-tls-wire"};
  tls_files paths;
  files node;
  files client;

  cluster() {
    std::string error;
    if (!init_certs(dir.path().string(), false, error)
        || !check_tls_dir(dir.path().string(), error)) {
      auto reason = "cannot make certificates: " + error;
      test::skip(reason.c_str());
    }
    paths = tls_paths(dir.path().string());
    node = {paths.node_cert, paths.node_key, paths.ca_cert};
    client = {paths.client_cert, paths.client_key, paths.ca_cert};
  }
};

// -- the echo (part 1) --------------------------------------------------------

/// Replies to anything with the message itself (CAF's `reflect`).
caf::behavior echo_impl(caf::event_based_actor* self) {
  self->set_default_handler(caf::reflect);
  // A behavior that never matches keeps the actor alive.
  return {[](caf::atom_constant<caf::atom("nw_never")>) {}};
}

/// The actor that the sample handles point at: answers an int with
/// int + 1000, so a handle that comes back can be checked to reach it.
caf::behavior target_impl() {
  return {[](int x) { return x + 1000; }};
}

// -- the facade (parts 2 and 3) -----------------------------------------------

container_info make_info(std::string id, std::string runtime, uint64_t ns) {
  container_info x;
  x.id = std::move(id);
  x.name = x.id + "-name";
  x.pid = static_cast<uint32_t>(ns % 100000);
  x.mntns = ns;
  x.netns = ns + 1;
  x.runtime = std::move(runtime);
  return x;
}

/// A registry with two containers and the node facade in front of it,
/// published over mutual TLS on 127.0.0.1 with the node files.
struct facade_server {
  tls_config cfg;
  caf::actor_system sys;
  registry_actor registry;
  node_actor facade;
  uint16_t port = 0;

  explicit facade_server(const files& f) : cfg{f}, sys{cfg} {
    registry = spawn_registry(sys, registry_config{});
    node_config ncfg;
    ncfg.registry = registry;
    ncfg.version = "wire-test";
    facade = spawn_node(sys, ncfg);
    caf::scoped_actor self{sys};
    for (auto& x : {make_info("aaa111", "runc", 4026531001),
                    make_info("bbb222", "crun", 4026531003)})
      self->request(registry, 5s, add_atom::value, x)
        .receive([](add_result&) {},
                 [](caf::error& err) { BOOST_FAIL("add: " << render(err)); });
    auto p = caf::openssl::publish(facade, 0, "127.0.0.1", true);
    if (!p)
      BOOST_FAIL("publish: " << render(p.error()));
    port = *p;
  }

  ~facade_server() {
    caf::anon_send_exit(facade, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  }
};

/// A fresh actor system with `f`, a fresh TLS connection to the facade and
/// one `list`: "N containers" or the error. Owns everything it touches.
std::string fresh_list(uint16_t port, files f) {
  tls_config cfg{f};
  caf::actor_system sys{cfg};
  auto h = caf::openssl::remote_actor<node_actor>(sys, "127.0.0.1", port);
  if (!h)
    return "remote_actor: " + render(h.error());
  std::string result;
  caf::scoped_actor self{sys};
  self->request(*h, answer_deadline, list_atom::value, selector{}, true)
    .receive(
      [&](std::vector<container_event>& xs) {
        result = std::to_string(xs.size()) + " containers";
      },
      [&](caf::error& err) { result = "list: " + render(err); });
  return result;
}

/// fresh_list within the answer deadline; checks the answer.
void expect_served(uint16_t port, const files& f, const std::string& what) {
  auto start = clock_type::now();
  auto r = within(answer_deadline + 1s, what,
                  [port, f] { return fresh_list(port, f); });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              clock_type::now() - start)
              .count();
  BOOST_TEST_MESSAGE(what << ": " << (r ? *r : "late") << " in " << ms
                          << " ms");
  BOOST_CHECK_MESSAGE(r && *r == "2 containers",
                      what << ": " << (r ? *r : "late"));
}

/// The client side of an authenticated session with the facade.
struct facade_client {
  tls_config cfg;
  caf::actor_system sys;
  node_actor facade;

  facade_client(uint16_t port, const files& f) : cfg{f}, sys{cfg} {
    auto h = caf::openssl::remote_actor<node_actor>(sys, "127.0.0.1", port);
    if (!h)
      BOOST_FAIL("remote_actor: " << render(h.error()));
    facade = *h;
  }

  /// The reply to `xs...` sent to the facade as a dynamically typed actor:
  /// "ok: N" (a uint64_t; any other reply is an error) or
  /// "error: <rendered>", and the error itself.
  template <class... Ts>
  std::pair<std::string, caf::error> ask_dynamic(Ts&&... xs) {
    auto dyn = caf::actor_cast<caf::actor>(facade);
    caf::scoped_actor self{sys};
    std::pair<std::string, caf::error> result{"no reply", caf::error{}};
    self->request(dyn, answer_deadline, std::forward<Ts>(xs)...)
      .receive([&](uint64_t x) { result.first = "ok: " + std::to_string(x); },
               [&](caf::error& err) {
                 result.first = "error: " + render(err);
                 result.second = std::move(err);
               });
    return result;
  }

  /// `list` with `sel`: the ids, or the error as "error: ...".
  std::string list(const selector& sel) {
    caf::scoped_actor self{sys};
    std::string result = "no reply";
    self->request(facade, answer_deadline, list_atom::value, sel, true)
      .receive(
        [&](std::vector<container_event>& xs) {
          result = "[";
          for (auto& ev : xs)
            result += (result.size() > 1 ? " " : "") + ev.info->id;
          result += "]";
        },
        [&](caf::error& err) { result = "error: " + render(err); });
    return result;
  }
};

bool is_unexpected(const caf::error& err) {
  return err == caf::sec::unexpected_message;
}

bool is_nw_error(const caf::error& err, errc code) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

// -- raw sockets (part 3) -----------------------------------------------------

/// A non-blocking TCP connection to 127.0.0.1:port (connected).
int connect_raw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

/// Sends what the socket takes of `bytes` within `limit`; returns how many
/// bytes went (the server may stop reading, or close).
size_t send_some(int fd, const std::string& bytes,
                 std::chrono::milliseconds limit) {
  size_t sent = 0;
  auto until = clock_type::now() + limit;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - clock_type::now());
    if (left <= 0ms)
      break;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return sent;
}

/// Waits up to `limit` for the server to close each of `fds` (EOF or an
/// error on read; data from the server is drained); returns how many it
/// closed.
size_t wait_closed_by_server(const std::vector<int>& fds,
                             std::chrono::milliseconds limit) {
  std::vector<bool> closed(fds.size(), false);
  size_t n_closed = 0;
  auto until = clock_type::now() + limit;
  char buf[4096];
  for (;;) {
    std::vector<pollfd> ps;
    std::vector<size_t> idx;
    for (size_t i = 0; i < fds.size(); ++i)
      if (!closed[i]) {
        ps.push_back({fds[i], POLLIN | POLLRDHUP, 0});
        idx.push_back(i);
      }
    if (ps.empty())
      return n_closed;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - clock_type::now());
    if (left <= 0ms)
      return n_closed;
    if (::poll(ps.data(), ps.size(), static_cast<int>(left.count())) <= 0)
      continue;
    for (size_t k = 0; k < ps.size(); ++k) {
      if (ps[k].revents == 0)
        continue;
      for (;;) {
        auto n = ::recv(ps[k].fd, buf, sizeof(buf), 0);
        if (n > 0)
          continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
          break;
        closed[idx[k]] = true;
        ++n_closed;
        break;
      }
    }
  }
}

/// The inodes of the sockets this process holds.
std::set<unsigned long> own_socket_inodes() {
  std::set<unsigned long> result;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator{"/proc/self/fd", ec}) {
    auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec)
      continue;
    auto s = target.string();
    if (s.rfind("socket:[", 0) == 0)
      result.insert(std::stoul(s.substr(8)));
  }
  return result;
}

size_t open_fds() {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator{"/proc/self/fd", ec};
       !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    ++n;
  return n;
}

/// The server's accepted connections on `port` that this process holds
/// open: /proc/net/tcp entries whose local port is `port` (not the
/// listening one) and whose inode is one of our sockets.
size_t server_connections(uint16_t port) {
  auto inodes = own_socket_inodes();
  std::ifstream in{"/proc/self/net/tcp"};
  std::string line;
  std::getline(in, line); // header
  size_t n = 0;
  while (std::getline(in, line)) {
    std::istringstream ls{line};
    std::string sl, local, remote, st, queues, timer, retr;
    unsigned long uid = 0, timeout = 0, inode = 0;
    if (!(ls >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid
          >> timeout >> inode))
      continue;
    auto colon = local.find(':');
    if (colon == std::string::npos)
      continue;
    auto lport = std::stoul(local.substr(colon + 1), nullptr, 16);
    if (lport == port && st != "0A" && inodes.count(inode) > 0)
      ++n;
  }
  return n;
}

/// The first flight of a TLS client: its ClientHello record(s), made by
/// OpenSSL into a memory BIO.
std::string client_hello() {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{
    SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
  BOOST_REQUIRE(ctx);
  std::unique_ptr<SSL, void (*)(SSL*)> ssl{SSL_new(ctx.get()), &SSL_free};
  auto* rbio = BIO_new(BIO_s_mem());
  auto* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio); // owned by ssl now
  SSL_set_connect_state(ssl.get());
  BOOST_REQUIRE(SSL_do_handshake(ssl.get()) != 1); // wants the server's reply
  char* data = nullptr;
  auto n = BIO_get_mem_data(wbio, &data);
  BOOST_REQUIRE(n > 0);
  ERR_clear_error();
  return std::string{data, static_cast<size_t>(n)};
}

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string result(n, '\0');
  for (auto& c : result)
    c = static_cast<char>(rng());
  return result;
}

/// A TLS client made with plain OpenSSL, authenticated with `f`, that sends
/// `payload` once the handshake is done and reports whether the server
/// then closed the connection within `limit`: "closed", "open" or
/// "handshake failed: ...".
std::string tls_send_garbage_impl(uint16_t port, const files& f,
                                  const std::string& payload,
                                  std::chrono::milliseconds limit) {
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{
    SSL_CTX_new(TLS_client_method()), &SSL_CTX_free};
  BOOST_REQUIRE(ctx);
  BOOST_REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), f.ca.c_str(), nullptr)
                == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  BOOST_REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), f.cert.c_str())
                == 1);
  BOOST_REQUIRE(
    SSL_CTX_use_PrivateKey_file(ctx.get(), f.key.c_str(), SSL_FILETYPE_PEM)
    == 1);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  timeval tv{static_cast<time_t>(limit.count() / 1000),
             static_cast<suseconds_t>((limit.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0);
  std::unique_ptr<SSL, void (*)(SSL*)> ssl{SSL_new(ctx.get()), &SSL_free};
  SSL_set_fd(ssl.get(), fd);
  std::string result;
  if (SSL_connect(ssl.get()) != 1) {
    char buf[256] = "connection closed";
    if (auto code = ERR_get_error())
      ERR_error_string_n(code, buf, sizeof(buf));
    result = std::string{"handshake failed: "} + buf;
  } else {
    // The server's BASP handshake comes first; then our garbage; then read
    // until the server closes (SSL_read <= 0) or the deadline passes.
    SSL_write(ssl.get(), payload.data(), static_cast<int>(payload.size()));
    auto until = clock_type::now() + limit;
    char buf[4096];
    result = "open";
    while (clock_type::now() < until) {
      auto n = SSL_read(ssl.get(), buf, sizeof(buf));
      if (n > 0)
        continue;
      auto e = SSL_get_error(ssl.get(), n);
      if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SSL
          || (e == SSL_ERROR_SYSCALL
              && (errno == 0 || errno == ECONNRESET || errno == EPIPE))) {
        result = "closed";
        break;
      }
      // SSL_ERROR_SYSCALL with EAGAIN: the receive timeout, still open.
    }
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return result;
}

/// tls_send_garbage_impl with SIGPIPE blocked in this thread and consumed
/// before returning (the server may close while our OpenSSL writes, and its
/// write() raises SIGPIPE), so a SIGPIPE on CAF's own threads still ends
/// the test.
std::string tls_send_garbage(uint16_t port, const files& f,
                             const std::string& payload,
                             std::chrono::milliseconds limit) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t old_set;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  auto result = tls_send_garbage_impl(port, f, payload, limit);
  timespec zero{0, 0};
  while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
    // consumed
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return result;
}

/// A good client in a process of its own (this binary, run again with
/// NW_TLS_WIRE_CLIENT=port:cert:key:ca): connects over TLS, asks `list`
/// once, prints fresh_list's answer and ends. A controller is a process of
/// its own; actor systems in one process share a process id in their node
/// ids, which CAF 0.17's BASP does not expect (see the test below).
struct client_process_mode {
  client_process_mode() {
    auto* spec = std::getenv("NW_TLS_WIRE_CLIENT");
    if (!spec)
      return;
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in{spec};
    while (std::getline(in, part, ':'))
      parts.push_back(part);
    if (parts.size() != 4) {
      std::puts("bad NW_TLS_WIRE_CLIENT");
      std::fflush(nullptr);
      std::_Exit(2);
    }
    auto port = static_cast<uint16_t>(std::stoul(parts[0]));
    auto r = fresh_list(port, files{parts[1], parts[2], parts[3]});
    std::fputs(("answer: " + r).c_str(), stdout);
    std::fflush(nullptr);
    std::_Exit(0);
  }
};

/// fresh_list in a child process; "late" after `limit` (the child is
/// killed), else what it printed.
std::string fresh_list_process(uint16_t port, const files& f,
                               std::chrono::milliseconds limit) {
  int out[2];
  BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  auto spec = std::to_string(port) + ":" + f.cert + ":" + f.key + ":" + f.ca;
  auto pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::setenv("NW_TLS_WIRE_CLIENT", spec.c_str(), 1);
    ::execl("/proc/self/exe", "tls_wire_test", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(out[1]);
  std::string result;
  auto until = clock_type::now() + limit;
  bool eof = false;
  while (!eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - clock_type::now());
    if (left <= 0ms)
      break;
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[512];
    auto n = ::read(out[0], buf, sizeof(buf));
    if (n > 0)
      result.append(buf, static_cast<size_t>(n));
    else
      eof = true;
  }
  ::close(out[0]);
  if (!eof) {
    ::kill(pid, SIGKILL);
    result = "late";
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  auto at = result.find("answer: ");
  return at == std::string::npos ? "no answer: " + result
                                 : result.substr(at + 8);
}

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(client_process_mode);

// -- 1. every message type over mutual TLS ------------------------------------

BOOST_AUTO_TEST_CASE(every_message_type_round_trips_over_mutual_tls) {
  watchdog dog{120s};
  cluster c;
  tls_config server_cfg{c.node};
  caf::actor_system server_sys{server_cfg};
  auto echo = server_sys.spawn(echo_impl);
  auto port = caf::openssl::publish(echo, 0, "127.0.0.1", true);
  BOOST_REQUIRE_MESSAGE(port, "publish failed");
  tls_config client_cfg{c.client};
  caf::actor_system client_sys{client_cfg};
  auto target = client_sys.spawn(target_impl);
  std::optional<caf::actor> remote;
  {
    auto p = *port;
    auto* sys = &client_sys;
    within(10s, "remote_actor to the echo", [&remote, sys, p] {
      auto h = caf::openssl::remote_actor<caf::actor>(*sys, "127.0.0.1", p);
      if (!h)
        return "remote_actor: " + render(h.error());
      remote = *h;
      return std::string{"ok"};
    });
  }
  BOOST_REQUIRE(remote);
  caf::scoped_actor self{client_sys};
  size_t checked = 0;
  test::for_each_sample(target, [&](const auto& x, const char* name) {
    using T = std::decay_t<decltype(x)>;
    BOOST_TEST_CONTEXT(name) {
      std::optional<T> back;
      std::string error = "no reply";
      self->request(*remote, 5s, x)
        .receive([&](T& y) { back = std::move(y); },
                 [&](caf::error& err) { error = render(err); });
      BOOST_REQUIRE_MESSAGE(back, name << ": " << error);
      BOOST_TEST((*back == x));
      if constexpr (test::is_handle<T>) {
        // The handle still reaches the target: send through it.
        BOOST_REQUIRE(static_cast<bool>(*back));
        int answer = 0;
        self->request(caf::actor_cast<caf::actor>(*back), 5s, 41)
          .receive([&](int r) { answer = r; },
                   [&](caf::error& err) { error = render(err); });
        BOOST_TEST(answer == 1041, name << " through the returned handle: "
                                        << (answer ? "" : error));
      } else {
        BOOST_TEST(!(T{} == *back));
      }
      ++checked;
    }
  });
  BOOST_TEST(checked == static_cast<size_t>(test::block_size));
  // All of them in one message, as a controller's multi-argument requests
  // travel: one caf::message with several of the block's types.
  {
    auto info = test::sample_info();
    auto sel = test::sample_selector();
    auto line = test::sample_line();
    bool same = false;
    std::string error = "no reply";
    self->request(*remote, 5s, info, sel, line, true)
      .receive(
        [&](container_info& a, selector& b, syscall_line& l, bool flag) {
          same = a == info && b == sel && l == line && flag;
        },
        [&](caf::error& err) { error = render(err); });
    BOOST_TEST(same, error);
  }
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

// -- 2. the facade and an authenticated peer's bad input ----------------------

BOOST_AUTO_TEST_CASE(facade_answers_bad_input_from_an_authenticated_peer) {
  watchdog dog{120s};
  cluster c;
  facade_server server{c.node};
  facade_client client{server.port, c.client};
  caf::scoped_actor self{client.sys};
  BOOST_TEST(client.list(selector{}) == "[aaa111 bbb222]");
  // Unknown ids: unknown_container, whatever the shape of the id.
  for (const auto& id : std::vector<std::string>{
         "nope", "", std::string(4096, 'x'), std::string{"\0\xff\xfe", 3}}) {
    caf::error got;
    self->request(server.facade, 5s, get_atom::value, id)
      .receive([&](container_info& x) { BOOST_ERROR("get found " << x.id); },
               [&](caf::error& err) { got = std::move(err); });
    BOOST_TEST(is_nw_error(got, errc::unknown_container), render(got));
  }
  // A clause whose key is none of the four (the parser never makes one;
  // a peer can send one): an error or a result, not a crash.
  for (uint8_t key : {uint8_t{4}, uint8_t{200}, uint8_t{255}}) {
    selector sel;
    sel.clauses.push_back(
      {static_cast<selector_key>(key), {"runc", "nope"}, {"crun"}});
    auto r = client.list(sel);
    BOOST_TEST_MESSAGE("list with clause key " << int{key} << ": " << r);
    BOOST_TEST((r.rfind("error: ", 0) == 0 || r.rfind("[", 0) == 0), r);
  }
  {
    // Many clauses, every key value, long values.
    selector big;
    for (int i = 0; i < 1000; ++i)
      big.clauses.push_back(
        {static_cast<selector_key>(i % 256), {std::string(64, 'v')}, {}});
    auto r = client.list(big);
    BOOST_TEST_MESSAGE("list with 1000 clauses: " << r);
    BOOST_TEST((r.rfind("error: ", 0) == 0 || r.rfind("[", 0) == 0), r);
  }
  // Messages of the wrong type, sent to the facade as a dynamically typed
  // actor: unexpected_message, and the facade lives on.
  {
    auto r = client.ask_dynamic(42);
    BOOST_TEST_MESSAGE("an int: " << r.first);
    BOOST_TEST(is_unexpected(r.second), r.first);
    r = client.ask_dynamic(get_atom::value, 42);
    BOOST_TEST(is_unexpected(r.second), r.first);
    r = client.ask_dynamic(list_atom::value, std::string{"runtime=runc"}, true);
    BOOST_TEST(is_unexpected(r.second), r.first);
    r = client.ask_dynamic(list_atom::value, selector{}); // one arg short
    BOOST_TEST(is_unexpected(r.second), r.first);
    r = client.ask_dynamic(test::sample_event());
    BOOST_TEST(is_unexpected(r.second), r.first);
    r = client.ask_dynamic(caf::atom("bogus"), std::vector<net_stats>{});
    BOOST_TEST(is_unexpected(r.second), r.first);
    // An event sink that is a null handle.
    r = client.ask_dynamic(subscribe_atom::value, selector{}, true,
                           event_sink_actor{});
    BOOST_TEST_MESSAGE("subscribe with a null sink: " << r.first);
    BOOST_TEST(is_nw_error(r.second, errc::bad_input), r.first);
  }
  // Features this agent runs without: errors, not crashes.
  {
    caf::error got;
    self->request(server.facade, 5s, net_atom::value, selector{}, true)
      .receive([&](std::vector<net_stats>&) { BOOST_ERROR("net answered"); },
               [&](caf::error& err) { got = std::move(err); });
    BOOST_TEST(static_cast<bool>(got));
    BOOST_TEST_MESSAGE("net without TC: " << render(got));
    got = caf::error{};
    self
      ->request(server.facade, 5s, traceloop_atom::value, get_atom::value,
                std::string{"aaa111"})
      .receive([&](traceloop_dump&) { BOOST_ERROR("traceloop answered"); },
               [&](caf::error& err) { got = std::move(err); });
    BOOST_TEST(static_cast<bool>(got));
  }
  // Still serving, on this connection and on a fresh one.
  BOOST_TEST(client.list(selector{}) == "[aaa111 bbb222]");
  {
    container_info got;
    self->request(server.facade, 5s, get_atom::value, std::string{"bbb"})
      .receive([&](container_info& x) { got = std::move(x); },
               [&](caf::error& err) { BOOST_ERROR(render(err)); });
    BOOST_TEST(got.id == "bbb222");
  }
  expect_served(server.port, c.client, "a fresh client after the bad input");
}

BOOST_AUTO_TEST_CASE(authenticated_garbage_closes_that_connection_only) {
  watchdog dog{120s};
  cluster c;
  facade_server server{c.node};
  std::mt19937_64 rng{0x6e77};
  // TLS done with the client certificate, then random bytes where BASP
  // expects its handshake: a whole BASP header's worth (32 bytes) or more
  // and the server drops that connection; less, and it waits for the rest
  // (an authenticated peer can stall a connection too: no timeout).
  constexpr size_t basp_header = 32;
  for (size_t size : {size_t{1}, basp_header - 1, basp_header, size_t{4096},
                      size_t{64 * 1024}}) {
    auto r = tls_send_garbage(server.port, c.client, random_bytes(rng, size),
                              size < basp_header ? 2000ms : 5000ms);
    BOOST_TEST_MESSAGE(size << " authenticated garbage bytes: " << r);
    BOOST_TEST(r == (size < basp_header ? "open" : "closed"),
               size << " bytes: " << r);
    expect_served(server.port, c.client,
                  "a fresh client after " + std::to_string(size)
                    + " garbage bytes");
  }
}

// -- 3. slow-loris, half handshakes, garbage ----------------------------------

BOOST_AUTO_TEST_CASE(stalled_handshakes_and_garbage_do_not_stop_service) {
  watchdog dog{240s};
  cluster c;
  facade_server server{c.node};
  auto port = server.port;
  // (Fresh clients only: a connection held across another TLS peer's
  // leaving is dropped by CAF, see the known bug below.)
  expect_served(port, c.client, "a fresh client before the stalls");
  BOOST_REQUIRE(
    wait_until(5000ms, [&] { return server_connections(port) == 0; }));
  auto base_conns = server_connections(port);
  auto base_fds = open_fds();
  BOOST_TEST_MESSAGE("before: " << base_conns << " server connections, "
                                << base_fds << " fds in the process");
  // K stalled connections: a third send nothing, a third part of a
  // ClientHello, a third a whole ClientHello (the server answers and waits
  // for our certificate forever).
  constexpr size_t k = 24;
  auto hello = client_hello();
  BOOST_TEST_MESSAGE("ClientHello: " << hello.size() << " bytes");
  std::vector<int> stalled;
  for (size_t i = 0; i < k; ++i) {
    int fd = connect_raw(port);
    if (i % 3 == 1)
      BOOST_REQUIRE(send_some(fd, hello.substr(0, hello.size() / 2), 2000ms)
                    == hello.size() / 2);
    else if (i % 3 == 2)
      BOOST_REQUIRE(send_some(fd, hello, 2000ms) == hello.size());
    stalled.push_back(fd);
  }
  bool accepted = wait_until(
    5000ms, [&] { return server_connections(port) >= base_conns + k; });
  auto during_conns = server_connections(port);
  BOOST_TEST_MESSAGE("with " << k << " stalled: " << during_conns
                             << " server connections, " << open_fds()
                             << " fds in the process");
  BOOST_TEST(accepted, "the server accepted " << during_conns - base_conns
                                              << " of " << k);
  // While they stall: fresh clients, each within the deadline.
  for (int i = 0; i < 5; ++i)
    expect_served(port, c.client,
                  "fresh client " + std::to_string(i) + " during the stalls");
  // Does the server give up on them? CAF 0.17 has no handshake timeout:
  // measure for a while.
  constexpr auto hold = 10000ms;
  auto by_server = wait_closed_by_server(stalled, hold);
  auto held_conns = server_connections(port);
  BOOST_TEST_MESSAGE("after " << hold.count()
                              << " ms stalled: the server closed " << by_server
                              << " of " << k << "; " << held_conns - base_conns
                              << " still held by the server");
  // Still serving after the wait.
  expect_served(port, c.client, "a fresh client after the long stall");
  // The peers go: the server lets go of their sockets.
  for (int fd : stalled)
    ::close(fd);
  bool released = wait_until(
    5000ms, [&] { return server_connections(port) <= base_conns; });
  BOOST_TEST(released, "server connections after the stalled peers closed: "
                         << server_connections(port)
                         << " (before: " << base_conns << ")");
  BOOST_TEST_MESSAGE("stalled peers closed: "
                     << server_connections(port) << " server connections, "
                     << open_fds() << " fds in the process");
  expect_served(port, c.client, "a fresh client after the stalls ended");
  // Garbage: 64 KiB of random bytes on fresh connections.
  std::mt19937_64 rng{20240601};
  std::vector<int> garbage;
  for (int i = 0; i < 8; ++i) {
    int fd = connect_raw(port);
    auto sent = send_some(fd, random_bytes(rng, 64 * 1024), 3000ms);
    BOOST_TEST_MESSAGE("garbage connection " << i << ": " << sent
                                             << " bytes taken");
    garbage.push_back(fd);
  }
  auto dropped = wait_closed_by_server(garbage, 5000ms);
  BOOST_TEST_MESSAGE("garbage: the server closed " << dropped << " of "
                                                   << garbage.size());
  BOOST_TEST(dropped == garbage.size());
  for (int fd : garbage)
    ::close(fd);
  BOOST_TEST(
    wait_until(5000ms, [&] { return server_connections(port) <= base_conns; }),
    "server connections after garbage: " << server_connections(port));
  expect_served(port, c.client, "a fresh client after the garbage");
  BOOST_TEST_MESSAGE("after: " << server_connections(port)
                               << " server connections, " << open_fds()
                               << " fds in the process (before: " << base_fds
                               << ")");
}

// -- a CAF 0.17.6 caf::openssl bug, worked around ----------------------------

// Without runtime/agent/openssl_error_queue.cpp (linked into this test as
// into every nodewatch binary): a controller connected over mutual TLS loses
// its connection once another TLS peer (here a separate process, as a second
// controller would be) connects and goes away: its next request times out and
// the agent closes its socket. With the plain middleman the same sequence keeps
// the first connection. Suspected: the OpenSSL error queue, per thread and
// shared by every session on the multiplexer thread, left uncleared by
// caf::openssl after the closed session's failing read, so the next
// SSL_get_error on the other session reports a failure.
BOOST_AUTO_TEST_CASE(a_leaving_tls_peer_drops_no_other) {
  watchdog dog{120s};
  cluster c;
  facade_server server{c.node};
  facade_client early{server.port, c.client};
  BOOST_REQUIRE(early.list(selector{}) == "[aaa111 bbb222]");
  for (int i = 0; i < 3; ++i) {
    auto r = fresh_list_process(server.port, c.client, 10000ms);
    BOOST_TEST_MESSAGE("another controller (a process): " << r);
    BOOST_TEST(early.list(selector{}) == "[aaa111 bbb222]",
               "the first controller after another came and went");
  }
}
