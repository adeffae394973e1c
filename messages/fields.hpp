// One list of named fields per message type serves every encoding: CAF's
// inspect (binary, remote actors), msgpack (recordings, exports, non-C++
// consumers) and equality. A type opts in by declaring
//   auto fields(T& x) { return std::make_tuple(field("a", x.a), ...); }
// so adding a member to a type means adding one line, not three.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include <caf/meta/type_name.hpp>

namespace nw {

/// A named reference to one member.
template <class T>
struct named_field {
  const char* name;
  T& ref;
};

/// Makes a named_field; used in each type's `fields()`.
template <class T>
named_field<T> field(const char* name, T& ref) {
  return {name, ref};
}

/// True for types that declare `fields(T&)`.
template <class T, class = void>
struct has_fields : std::false_type {};

template <class T>
struct has_fields<T, std::void_t<decltype(fields(std::declval<T&>()))>>
    : std::true_type {};

template <class T>
inline constexpr bool has_fields_v = has_fields<T>::value;

/// CAF inspect over the field list: `return inspect_fields(f, "T", x);`.
template <class Inspector, class T>
typename Inspector::result_type inspect_fields(Inspector& f,
                                               const char* type_name, T& x) {
  return std::apply(
    [&](auto... fs) { return f(caf::meta::type_name(type_name), fs.ref...); },
    fields(x));
}

/// Member-wise equality over the field list.
template <class T>
bool fields_equal(const T& a, const T& b) {
  auto& ma = const_cast<T&>(a);
  auto& mb = const_cast<T&>(b);
  return std::apply(
    [&](auto... xs) {
      return std::apply([&](auto... ys) { return ((xs.ref == ys.ref) && ...); },
                        fields(mb));
    },
    fields(ma));
}

} // namespace nw
