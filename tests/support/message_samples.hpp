// One sample value per type of the `nodewatch` type-ID block
// (messages/type_ids.hpp), every field set to a non-default value; actor
// handles point at one live actor the caller provides. Shared by the encoding
// test (CAF binary, msgpack) and the TLS wire test (real BASP over mutual
// TLS). A type added to the block without a sample here does not compile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/is_typed_actor.hpp>
#include <caf/type_id.hpp>

#include "messages/type_ids.hpp"

namespace nw::test {

// -- samples: every field set, nothing at its default -------------------------

inline k8s_meta sample_k8s() {
  return {"kube-system", "coredns-5d78c9869d-x7k2p", "coredns",
          "0b4e6c2a-3f1d-4e8b-9a7c-1d2e3f4a5b6c"};
}

inline container_info sample_info(std::string id = "c0ffee0123456789") {
  container_info x;
  x.id = std::move(id);
  // Names come from runtimes: bytes, not necessarily UTF-8, maybe NULs.
  x.name = std::string{"we\0b\xff\xfe", 6};
  x.pid = std::numeric_limits<uint32_t>::max() - 1;
  x.start_time = 123456789012345ull;
  x.mntns = 4026532291ull;
  x.netns = 4026532294ull;
  x.mntns_id64 = std::numeric_limits<uint64_t>::max();
  x.cgroup_path = "/kubepods.slice/kubepods-pod0b4e.slice/cri-c0.scope";
  x.cgroup_id = 0x8000000000000001ull;
  x.bundle = "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c0ffee";
  x.runtime = "crun";
  x.annotations = {{"io.kubernetes.cri.container-name", "coredns"},
                   {"io.kubernetes.cri.sandbox-id", "5a5a"},
                   {"empty.value", ""}};
  x.k8s = sample_k8s();
  x.host_network = true;
  x.sandbox = true;
  x.initial = true;
  x.held = true;
  return x;
}

inline container_event sample_event() {
  return {event_kind::detection_failed, 17, 1763932212000000000ull,
          sample_info(), "pidfile never written"};
}

inline add_result sample_add_result() {
  return {42, true, 49, 1};
}

inline selector_clause sample_clause() {
  return {selector_key::runtime, {"runc", "crun"}, {"youki"}};
}

inline selector sample_selector() {
  return {{sample_clause(), {selector_key::pod, {"a"}, {"b", "c"}}}};
}

inline runtime_exec sample_exec() {
  return {7777777777ull,
          4242,
          {"runc", "--root", "/run/runc", "create", ""},
          "containerd-shim",
          4026531840ull,
          65534};
}

inline pidfile_read sample_pidfile() {
  return {99, "/run/containerd/c0ffee/init.pid", "1234\n"};
}

inline process_exited sample_exit() {
  return {31337, 987654321ull};
}

inline net_stats sample_net(std::string id = "c0ffee0123456789") {
  return {std::move(id),
          "web",
          4026532294ull,
          17,
          1 << 20,
          23,
          uint64_t{5} << 40,
          {"veth1a2b", ""},
          "attach failed: ENODEV"};
}

inline syscall_param sample_param() {
  return {"buf", "\"hello\\n\""};
}

inline syscall_line sample_line() {
  return {1763932212000000123ull,
          1,
          4242,
          4243,
          std::string{"c\0t\xff", 4},
          "write",
          {sample_param(), {"count", "6"}},
          -1,
          "ENOENT",
          "No such file or directory",
          true,
          true};
}

inline traceloop_ring_info sample_ring(std::string id = "c0ffee") {
  return {std::move(id), "web", 4026532291ull, true, 262784};
}

/// One sample per type of the type-ID block; a type added to the block
/// without a sample here does not compile.
template <class T>
struct sample;

#define NW_SAMPLE(type, expr)                                                  \
  template <>                                                                  \
  struct sample<type> {                                                        \
    static type make(const caf::actor&) {                                      \
      return expr;                                                             \
    }                                                                          \
  };

NW_SAMPLE(k8s_meta, sample_k8s())
NW_SAMPLE(container_info, sample_info())
NW_SAMPLE(container_event, sample_event())
NW_SAMPLE(add_result, sample_add_result())
NW_SAMPLE(selector, sample_selector())
NW_SAMPLE(selector_clause, sample_clause())
NW_SAMPLE(std::vector<container_info>,
          (std::vector<container_info>{sample_info("a"), container_info{},
                                       sample_info("b")}))
NW_SAMPLE(std::vector<container_event>,
          (std::vector<container_event>{sample_event(), container_event{}}))
NW_SAMPLE(counters, (counters{{"registry_late_acks", 3},
                              {"max", std::numeric_limits<uint64_t>::max()}}))
NW_SAMPLE(runtime_exec, sample_exec())
NW_SAMPLE(pidfile_read, sample_pidfile())
NW_SAMPLE(process_exited, sample_exit())
NW_SAMPLE(state_appeared,
          (state_appeared{"/run/containerd/runc/k8s.io/c0ffee", "c0ffee"}))

NW_SAMPLE(net_stats, sample_net())
NW_SAMPLE(std::vector<net_stats>,
          (std::vector<net_stats>{sample_net("a"), net_stats{}}))

NW_SAMPLE(syscall_param, sample_param())
NW_SAMPLE(syscall_line, sample_line())
NW_SAMPLE(traceloop_ring_info, sample_ring())
NW_SAMPLE(std::vector<traceloop_ring_info>,
          (std::vector<traceloop_ring_info>{sample_ring("a"),
                                            traceloop_ring_info{}}))
NW_SAMPLE(traceloop_dump,
          (traceloop_dump{
            sample_ring(), {sample_line(), syscall_line{}}, 7, 9}))

NW_SAMPLE(node_status,
          (node_status{"0.1.0",
                       "6.18.0",
                       {{"tc", true}, {"traceloop", false}},
                       {{"registry_added", 3}, {"edge_overflows", 0}}}))

#undef NW_SAMPLE

/// Actor handles: every interface, pointing at one live actor.
template <class... Sigs>
struct sample<caf::typed_actor<Sigs...>> {
  static caf::typed_actor<Sigs...> make(const caf::actor& target) {
    return caf::actor_cast<caf::typed_actor<Sigs...>>(target);
  }
};

template <class T>
inline constexpr bool is_handle = caf::is_typed_actor<T>::value;

inline constexpr caf::type_id_t first_id = caf::id_block::nodewatch::begin;
inline constexpr caf::type_id_t block_size
  = caf::id_block::nodewatch::end - caf::id_block::nodewatch::begin;

// Grows with the block; update the samples (and the tests) when it does.
static_assert(block_size == 32);

template <size_t I>
using block_type = typename caf::type_by_id<first_id + I>::type;

/// Calls `f(sample, name)` for the sample of each type of the block, in
/// type-ID order; handles point at `target`.
template <class F, size_t... Is>
void for_each_sample(const caf::actor& target, F& f,
                     std::index_sequence<Is...>) {
  (f(sample<block_type<Is>>::make(target),
     caf::type_name<block_type<Is>>::value),
   ...);
}

template <class F>
void for_each_sample(const caf::actor& target, F f) {
  for_each_sample(target, f, std::make_index_sequence<block_size>{});
}

} // namespace nw::test
