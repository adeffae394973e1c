// The controller (runtime/agent/controller.hpp) over real loopback sockets,
// plain middleman (the connector is pluggable; TLS is the transport's
// business): two real node facades over real registries, published on
// 127.0.0.1:0 in one actor system, the controller in another. A fan-out
// `list` over both and a dead port gives two results in node order and one
// clear error; a merged stream tags each node's events, reports the node
// whose facade goes away, and the other node's events keep coming.
#define BOOST_TEST_MODULE controller_remote
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/node/node.hpp"
#include "actors/registry/registry.hpp"
#include "messages/errors.hpp"
#include "runtime/agent/assembly.hpp"
#include "runtime/agent/controller.hpp"

using namespace nw;
using namespace std::chrono_literals;

namespace {

container_info make(std::string id, uint64_t ns) {
  container_info x;
  x.id = std::move(id);
  x.name = x.id + "-name";
  x.pid = static_cast<uint32_t>(ns % 100000);
  x.mntns = ns;
  x.netns = ns + 1;
  x.runtime = "runc";
  return x;
}

/// A loopback port nobody listens on (bound, then closed).
uint16_t dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

/// Two agents' facades in one actor system, each on its own loopback port.
struct agents {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<registry_actor> registries;
  std::vector<node_actor> facades;
  std::vector<endpoint> at;

  agents() {
    cfg.load<caf::io::middleman>();
    add_nodewatch_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    for (int i = 0; i < 2; ++i) {
      auto reg = spawn_registry(*sys, registry_config{});
      node_config ncfg;
      ncfg.registry = reg;
      auto node = spawn_node(*sys, ncfg);
      auto port = caf::io::publish(node, 0, "127.0.0.1", true);
      if (!port)
        BOOST_FAIL("cannot publish: " << render(port.error()));
      registries.push_back(reg);
      facades.push_back(node);
      at.push_back(endpoint{"127.0.0.1", *port});
    }
  }

  void add(size_t i, const container_info& x) {
    caf::scoped_actor self{*sys};
    self->request(registries[i], 5s, add_atom::value, x)
      .receive([](add_result&) {},
               [](caf::error& err) { BOOST_FAIL(render(err)); });
  }

  ~agents() {
    for (auto& h : facades)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    for (auto& h : registries)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  }
};

/// The controller's side: its own actor system and a plain connector.
struct controller {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  connector_actor conn;

  controller() {
    cfg.load<caf::io::middleman>();
    add_nodewatch_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    conn = spawn_connector(*sys, sys->middleman().actor_handle(), 10s);
  }

  ~controller() {
    caf::anon_send_exit(conn, caf::exit_reason::user_shutdown);
  }
};

/// What a merged sink received, for another thread to wait on.
struct received {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<std::string> lines;

  void push(std::string x) {
    std::lock_guard<std::mutex> guard{mx};
    lines.push_back(std::move(x));
    cv.notify_all();
  }

  /// Waits until `pred(lines)` holds (up to 10 s).
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> guard{mx};
    return cv.wait_for(guard, 10s, [&] { return pred(lines); });
  }

  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> guard{mx};
    return lines;
  }
};

/// The error's text, or "" (Boost evaluates the message even on success).
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : render(x.error());
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

BOOST_AUTO_TEST_CASE(fan_out_list_over_real_sockets) {
  agents a;
  a.add(0, make("aaa", 4026531001));
  a.add(0, make("abb", 4026531003));
  a.add(1, make("bbb", 4026532001));
  controller c;
  auto dead = endpoint{"127.0.0.1", dead_port()};
  auto rs = fan_out_wait<std::vector<container_event>>(
    *c.sys, c.conn, {a.at[0], dead, a.at[1]}, 5s, list_atom::value, selector{},
    false);
  BOOST_REQUIRE_EQUAL(rs.size(), 3u);
  BOOST_TEST(rs[0].node == node_name(a.at[0]));
  BOOST_REQUIRE_MESSAGE(rs[0].value, why(rs[0].value));
  BOOST_REQUIRE_EQUAL(rs[0].value->size(), 2u);
  BOOST_TEST((*rs[0].value)[0].info->id == "aaa");
  BOOST_TEST((*rs[0].value)[1].info->id == "abb");
  BOOST_REQUIRE(!rs[1].value);
  auto text = render(rs[1].value.error());
  BOOST_TEST_MESSAGE("dead port: " << text);
  BOOST_TEST(text.find("cannot reach node " + node_name(dead))
               != std::string::npos,
             text);
  BOOST_REQUIRE_MESSAGE(rs[2].value, why(rs[2].value));
  BOOST_REQUIRE_EQUAL(rs[2].value->size(), 1u);
  BOOST_TEST((*rs[2].value)[0].info->id == "bbb");
}

BOOST_AUTO_TEST_CASE(merged_stream_over_real_sockets) {
  agents a;
  a.add(0, make("aaa", 4026531001));
  a.add(1, make("bbb", 4026532001));
  controller c;
  auto got = std::make_shared<received>();
  auto out = c.sys->spawn(
    [got](merged_sink_actor::pointer) -> merged_sink_actor::behavior_type {
      return {
        [got](event_atom, const std::string& node, const container_event& e) {
          got->push(node + " " + to_string(e.kind) + " " + e.info->id);
        },
        [got](notice_atom, const node_notice& n) { got->push(to_string(n)); },
      };
    });
  stream_options opts;
  opts.backoff_initial = 200ms;
  auto h = spawn_merged_stream(*c.sys, c.conn, a.at, opts, out);
  auto an = node_name(a.at[0]);
  auto bn = node_name(a.at[1]);
  BOOST_REQUIRE(got->wait([&](auto& xs) {
    return has(xs, an + " added aaa") && has(xs, bn + " added bbb");
  }));
  a.add(0, make("acc", 4026531005));
  a.add(1, make("bdd", 4026532005));
  BOOST_REQUIRE(got->wait([&](auto& xs) {
    return has(xs, an + " added acc") && has(xs, bn + " added bdd");
  }));
  // B's facade goes away: reported; A goes on.
  caf::anon_send_exit(a.facades[1], caf::exit_reason::user_shutdown);
  BOOST_REQUIRE(got->wait([&](auto& xs) {
    for (auto& x : xs)
      if (x.rfind("node " + bn + " went away", 0) == 0)
        return true;
    return false;
  }));
  a.add(0, make("aee", 4026531007));
  BOOST_REQUIRE(
    got->wait([&](auto& xs) { return has(xs, an + " added aee"); }));
  auto lines = got->snapshot();
  for (auto& x : lines)
    BOOST_TEST_MESSAGE(x);
  caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(out, caf::exit_reason::user_shutdown);
}
