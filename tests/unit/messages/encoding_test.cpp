// Every type of the `nodewatch` type-ID block survives CAF's binary
// serializer (alone and inside a caf::message, as remote actors send it) and
// msgpack (recordings, exports). Each sample (tests/support/
// message_samples.hpp, shared with the TLS wire test) sets every field to a
// non-default value, and each type's field list is checked to name every
// member, so a member forgotten in `fields()` fails here.
#define BOOST_TEST_MODULE encoding
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/is_typed_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "messages/msgpack_adaptors.hpp"
#include "tests/support/coordinator_fixture.hpp"
#include "tests/support/message_samples.hpp"

using namespace nw;
using namespace nw::test;

namespace {

// -- every member named in fields() -------------------------------------------

/// Converts to any member type; only used unevaluated, to count the members
/// of an aggregate.
struct any_member {
  template <class T>
  operator T() const;
};

// Probing with too few initializers is the point here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
template <class T, class... Args>
auto brace_initializable(int)
  -> decltype(void(T{std::declval<Args>()...}), std::true_type{});
#pragma GCC diagnostic pop

template <class T, class...>
std::false_type brace_initializable(...);

/// The number of members of the aggregate T.
template <class T, class... Args>
constexpr size_t member_count() {
  if constexpr (decltype(brace_initializable<T, Args..., any_member>(0))::value)
    return member_count<T, Args..., any_member>();
  else
    return sizeof...(Args);
}

template <class T>
constexpr size_t field_count() {
  return std::tuple_size_v<decltype(fields(std::declval<T&>()))>;
}

template <class T>
constexpr bool names_every_member() {
  static_assert(std::is_aggregate_v<T>);
  return member_count<T>() == field_count<T>();
}

static_assert(names_every_member<k8s_meta>());
static_assert(names_every_member<container_info>());
static_assert(names_every_member<container_event>());
static_assert(names_every_member<add_result>());
static_assert(names_every_member<selector>());
static_assert(names_every_member<selector_clause>());
static_assert(names_every_member<runtime_exec>());
static_assert(names_every_member<pidfile_read>());
static_assert(names_every_member<process_exited>());
static_assert(names_every_member<net_stats>());
static_assert(names_every_member<syscall_param>());
static_assert(names_every_member<syscall_line>());
static_assert(names_every_member<traceloop_ring_info>());
static_assert(names_every_member<traceloop_dump>());
static_assert(names_every_member<node_status>());
// The counter must see a forgotten member.
struct two_members {
  int a = 0;
  std::string b;
};
static_assert(member_count<two_members>() == 2);
static_assert(member_count<container_info>() == 17);

/// The fields of `x` that still hold their default value.
template <class T>
std::vector<std::string> default_fields(const T& x) {
  T d{};
  auto fx = fields(const_cast<T&>(x));
  auto fd = fields(d);
  std::vector<std::string> result;
  std::apply(
    [&](auto&... as) {
      std::apply(
        [&](auto&... bs) {
          ((as.ref == bs.ref ? result.push_back(as.name) : void()), ...);
        },
        fd);
    },
    fx);
  return result;
}

struct fixture : test::coordinator_fixture {
  caf::actor target;

  fixture() {
    target = track(sys.spawn(
      [](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; }));
    run();
  }

  /// Applies `f` to the sample of each type of the block, with its name.
  template <class F>
  void for_each_sample(F f) {
    test::for_each_sample(target, std::move(f));
  }

  template <class T>
  std::vector<char> to_binary(const T& x) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = x;
    auto err = sink(copy);
    BOOST_REQUIRE_MESSAGE(!err, "serializing failed: " << render(err));
    return buf;
  }

  template <class T>
  caf::error from_binary(const std::vector<char>& buf, T& x,
                         size_t* remaining = nullptr) {
    caf::binary_deserializer source{sys, buf};
    auto err = source(x);
    if (remaining)
      *remaining = source.remaining();
    return err;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(encoding, fixture)

BOOST_AUTO_TEST_CASE(samples_set_every_field) {
  for_each_sample([](const auto& x, const char* name) {
    using T = std::decay_t<decltype(x)>;
    if constexpr (has_fields_v<T>) {
      std::string left;
      for (auto& field : default_fields(x))
        left += " " + field;
      BOOST_TEST(left.empty(),
                 name << " sample leaves at their default:" << left);
    } else if constexpr (is_handle<T>) {
      BOOST_TEST(static_cast<bool>(x), name);
    } else {
      BOOST_TEST(!x.empty(), name);
    }
  });
  // The nested ones too.
  BOOST_TEST(default_fields(sample_info()).empty());
  BOOST_TEST(default_fields(sample_k8s()).empty());
}

BOOST_AUTO_TEST_CASE(caf_binary_round_trip) {
  for_each_sample([this](const auto& x, const char* name) {
    using T = std::decay_t<decltype(x)>;
    BOOST_TEST_CONTEXT(name) {
      auto buf = to_binary(x);
      T y{};
      size_t remaining = 1;
      auto err = from_binary(buf, y, &remaining);
      BOOST_TEST(!err, render(err));
      BOOST_TEST(remaining == 0u);
      BOOST_TEST((y == x));
      // A default value differs from the sample, so equality is not trivial.
      BOOST_TEST(!(T{} == x));
    }
  });
}

BOOST_AUTO_TEST_CASE(caf_message_round_trip) {
  // What BASP does with a message to or from a remote actor: the types are
  // found by their registered names.
  for_each_sample([this](const auto& x, const char* name) {
    using T = std::decay_t<decltype(x)>;
    BOOST_TEST_CONTEXT(name) {
      auto msg = caf::make_message(x);
      std::vector<char> buf;
      {
        caf::binary_serializer sink{sys, buf};
        auto err = sink(msg);
        BOOST_REQUIRE_MESSAGE(!err, render(err));
      }
      caf::message out;
      auto err = from_binary(buf, out);
      BOOST_REQUIRE_MESSAGE(!err, render(err));
      BOOST_REQUIRE(out.match_elements<T>());
      BOOST_TEST((out.get_as<T>(0) == x));
    }
  });
}

BOOST_AUTO_TEST_CASE(caf_null_handles_round_trip) {
  subscriber_actor null_handle;
  auto buf = to_binary(null_handle);
  auto y = caf::actor_cast<subscriber_actor>(target);
  BOOST_TEST(!from_binary(buf, y));
  BOOST_TEST(!y);
}

BOOST_AUTO_TEST_CASE(caf_truncated_binary_is_an_error) {
  auto buf = to_binary(sample_event());
  for (size_t n = 0; n < buf.size(); ++n) {
    std::vector<char> prefix{buf.begin(), buf.begin() + n};
    container_event y;
    BOOST_TEST(static_cast<bool>(from_binary(prefix, y)), "prefix " << n);
  }
}

BOOST_AUTO_TEST_CASE(msgpack_round_trip) {
  for_each_sample([](const auto& x, const char* name) {
    using T = std::decay_t<decltype(x)>;
    // Handles are CAF-only: they mean nothing outside the actor system.
    if constexpr (!is_handle<T>) {
      BOOST_TEST_CONTEXT(name) {
        auto bytes = to_msgpack(x);
        T y{};
        std::string error;
        BOOST_TEST(from_msgpack(bytes, y, error), error);
        BOOST_TEST((y == x));
        BOOST_TEST(!(T{} == x));
      }
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(msgpack_shape)

BOOST_AUTO_TEST_CASE(a_map_from_field_name_to_value) {
  auto bytes = to_msgpack(sample_event());
  auto handle = msgpack::unpack(bytes.data(), bytes.size());
  auto& obj = handle.get();
  BOOST_REQUIRE(obj.type == msgpack::type::MAP);
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < obj.via.map.size; ++i)
    keys.push_back(obj.via.map.ptr[i].key.as<std::string>());
  std::vector<std::string> expected{"type", "seq", "ts_ns", "info", "reason"};
  BOOST_TEST(keys == expected, boost::test_tools::per_element());
  // Enums are their integer value.
  BOOST_TEST(obj.via.map.ptr[0].val.as<int>() == 2);
  BOOST_TEST(obj.via.map.ptr[3].val.type == msgpack::type::MAP);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_ignored_missing_keys_keep_defaults) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk{buf};
  pk.pack_map(3);
  pk.pack(std::string{"pid"});
  pk.pack(uint32_t{7});
  pk.pack(std::string{"from_the_future"});
  pk.pack(std::vector<int>{1, 2, 3});
  pk.pack(std::string{"id"});
  pk.pack(std::string{"abc"});
  container_info y;
  std::string error;
  BOOST_TEST(from_msgpack({buf.data(), buf.size()}, y, error), error);
  container_info expected;
  expected.pid = 7;
  expected.id = "abc";
  BOOST_TEST((y == expected));
}

BOOST_AUTO_TEST_CASE(wrong_shapes_are_errors) {
  auto fails = [](auto&& value) {
    msgpack::sbuffer buf;
    msgpack::pack(buf, value);
    container_info y;
    std::string error;
    bool ok = from_msgpack({buf.data(), buf.size()}, y, error);
    return !ok && !error.empty();
  };
  BOOST_TEST(fails(std::vector<int>{1, 2}));     // not a map
  BOOST_TEST(fails(std::string{"c0ffee"}));      // not a map
  BOOST_TEST(fails(std::map<int, int>{{1, 2}})); // keys not strings
  BOOST_TEST(fails(std::map<std::string, std::string>{{"pid", "12"}}));
  BOOST_TEST(fails(std::map<std::string, int>{{"pid", -1}}));
  BOOST_TEST(fails(std::map<std::string, int>{{"id", 5}}));
  BOOST_TEST(fails(std::map<std::string, int>{{"k8s", 5}}));
  BOOST_TEST(fails(std::map<std::string, int>{{"annotations", 5}}));
}

BOOST_AUTO_TEST_CASE(truncated_buffers_are_errors) {
  auto bytes = to_msgpack(sample_event());
  for (size_t n = 0; n < bytes.size(); ++n) {
    container_event y;
    std::string error;
    BOOST_TEST(!from_msgpack(std::string_view{bytes.data(), n}, y, error),
               "prefix " << n);
  }
}

BOOST_AUTO_TEST_CASE(garbage_is_an_error_not_a_crash) {
  std::mt19937_64 rng{20240601};
  auto valid = to_msgpack(sample_event());
  size_t accepted = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      // Random bytes.
      bytes.resize(rng() % 64);
      for (auto& c : bytes)
        c = static_cast<char>(rng());
    } else {
      // A valid encoding with a few bytes flipped.
      bytes = valid;
      for (int k = 0; k < 3; ++k)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    container_event y;
    std::string error;
    if (from_msgpack(bytes, y, error))
      ++accepted;
    else
      BOOST_CHECK(!error.empty());
  }
  BOOST_TEST_MESSAGE(accepted << " of 2000 garbage inputs decoded");
}

BOOST_AUTO_TEST_CASE(hostile_headers_are_errors) {
  container_event y;
  std::string error;
  // A map that claims 2^32-1 entries, an array that claims 100 M, a string
  // that claims 4 GiB: all with no bytes behind them.
  for (std::string bytes :
       {std::string{"\xdf\xff\xff\xff\xff", 5},
        std::string{"\xdd\x05\xf5\xe1\x00", 5},
        std::string{"\xdb\xff\xff\xff\xff", 5},
        std::string{"\x81\xa4info\xdd\xff\xff\xff\xff", 11}})
    BOOST_TEST(!from_msgpack(bytes, y, error));
  // Nesting 100k arrays deep.
  std::string deep(100000, '\x91');
  deep.push_back('\x00');
  BOOST_TEST(!from_msgpack(deep, y, error));
}

BOOST_AUTO_TEST_SUITE_END()
