// msgpack encoding of every message type, for recordings, exports and
// non-C++ consumers: each type is a map from field name to value (names as
// in `fields()`), enums as their integer value. Unknown keys are ignored on
// decoding so that newer writers stay readable; a key of the wrong type is
// an error (msgpack::type_error).
#pragma once

#include <cstring>
#include <type_traits>

#include <msgpack.hpp>

#include "messages/container_event.hpp"
#include "messages/fields.hpp"

namespace nw::detail {

template <class Stream, class T>
void pack_value(msgpack::packer<Stream>& pk, const T& x) {
  if constexpr (std::is_enum_v<T>)
    pk.pack(static_cast<std::underlying_type_t<T>>(x));
  else
    pk.pack(x);
}

template <class T>
void convert_value(const msgpack::object& o, T& x) {
  if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> tmp{};
    o.convert(tmp);
    x = static_cast<T>(tmp);
  } else {
    o.convert(x);
  }
}

} // namespace nw::detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <class T>
  struct pack<T, std::enable_if_t<nw::has_fields_v<T>>> {
    template <class Stream>
    packer<Stream>& operator()(packer<Stream>& pk, const T& x) const {
      auto fs = fields(const_cast<T&>(x));
      pk.pack_map(std::tuple_size_v<decltype(fs)>);
      std::apply(
        [&](auto... f) {
          ((pk.pack(f.name), nw::detail::pack_value(pk, f.ref)), ...);
        },
        fs);
      return pk;
    }
  };

  template <class T>
  struct convert<T, std::enable_if_t<nw::has_fields_v<T>>> {
    const msgpack::object& operator()(const msgpack::object& o, T& x) const {
      if (o.type != msgpack::type::MAP)
        throw msgpack::type_error();
      auto fs = fields(x);
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR)
          throw msgpack::type_error();
        std::string_view key{kv.key.via.str.ptr, kv.key.via.str.size};
        std::apply(
          [&](auto... f) {
            ((key == f.name ? nw::detail::convert_value(kv.val, f.ref)
                            : void()),
             ...);
          },
          fs);
      }
      return o;
    }
  };

  /// A shared record travels as the record itself.
  template <>
  struct pack<nw::shared_info> {
    template <class Stream>
    packer<Stream>& operator()(packer<Stream>& pk,
                               const nw::shared_info& x) const {
      return pk.pack(*x);
    }
  };

  template <>
  struct convert<nw::shared_info> {
    const msgpack::object& operator()(const msgpack::object& o,
                                      nw::shared_info& x) const {
      nw::container_info tmp;
      o.convert(tmp);
      x = nw::shared_info{std::move(tmp)};
      return o;
    }
  };

  } // namespace adaptor
} // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
} // namespace msgpack

namespace nw {

/// Encodes any message type as msgpack bytes.
template <class T>
std::string to_msgpack(const T& x) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, x);
  return std::string{buf.data(), buf.size()};
}

/// Decodes exactly one msgpack value into `x`; false (and `error` set, `x`
/// untouched) on bad input.
template <class T>
bool from_msgpack(std::string_view bytes, T& x, std::string& error) {
  try {
    size_t offset = 0;
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), offset);
    if (offset != bytes.size()) {
      error = "trailing bytes after the msgpack value";
      return false;
    }
    T tmp; // `x` stays untouched unless the whole value decodes
    handle.get().convert(tmp);
    x = std::move(tmp);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

} // namespace nw
