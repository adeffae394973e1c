#include "runtime/kernel/libbpf_capture.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include <bpf/libbpf.h>

#include "runtime/kernel/log.hpp"

namespace nw::kernel {

namespace {

std::mutex capture_mtx;
std::string* capture_target = nullptr;

int capture_print(enum libbpf_print_level level, const char* fmt,
                  va_list args) {
  if (level == LIBBPF_DEBUG || capture_target == nullptr)
    return 0;
  char line[1024];
  auto n = std::vsnprintf(line, sizeof(line), fmt, args);
  if (n <= 0)
    return 0;
  auto& out = *capture_target;
  out.append(line, std::min(static_cast<size_t>(n), sizeof(line) - 1));
  constexpr size_t keep = 4096;
  if (out.size() > keep)
    out.erase(0, out.size() - keep);
  return 0;
}

int log_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG)
    return 0;
  char line[1024];
  auto n = std::vsnprintf(line, sizeof(line), fmt, args);
  if (n <= 0)
    return 0;
  std::string text{line, std::min(static_cast<size_t>(n), sizeof(line) - 1)};
  nw::log::debug("libbpf", {{"libbpf", one_line(std::move(text))}});
  return 0;
}

} // namespace

void route_libbpf_to_log() {
  std::lock_guard<std::mutex> guard{capture_mtx};
  libbpf_set_print(log_print);
}

libbpf_capture::libbpf_capture(std::string& out) : guard_(capture_mtx) {
  capture_target = &out;
  previous_ = reinterpret_cast<void*>(libbpf_set_print(capture_print));
}

libbpf_capture::~libbpf_capture() {
  libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_));
  capture_target = nullptr;
}

std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  for (auto& c : text)
    if (c == '\n')
      c = ' ';
  return text;
}

} // namespace nw::kernel
