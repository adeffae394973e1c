// libbpf's messages, captured while we open and load a BPF object, so that
// a refusal (the verifier's verdict, a missing section) reaches our error
// text and log instead of libbpf's default print to stderr.
//
//   std::string messages;
//   {
//     nw::kernel::libbpf_capture capture{messages};
//     err = bpf_object__load(obj);
//   }
//   if (err) error += "; libbpf: " + nw::kernel::one_line(messages);
#pragma once

#include <mutex>
#include <string>

namespace nw::kernel {

/// Routes libbpf's print (warnings and info; debug dropped) into `out` for
/// the scope's lifetime, keeping the last 4 KiB (the verifier's verdict
/// comes last). libbpf's print hook is process-wide: one capture at a time
/// (a mutex), and the previous hook comes back afterwards.
class libbpf_capture {
public:
  explicit libbpf_capture(std::string& out);
  ~libbpf_capture();
  libbpf_capture(const libbpf_capture&) = delete;
  libbpf_capture& operator=(const libbpf_capture&) = delete;

private:
  std::unique_lock<std::mutex> guard_;
  void* previous_ = nullptr;
};

/// From now on, libbpf's messages outside a capture go to our log at
/// debug level (`libbpf` key) instead of stderr: its warnings for what we
/// handle (a clsact that exists already) are noise in an agent's output,
/// and what matters reaches our errors through a capture. Idempotent.
void route_libbpf_to_log();

/// `text` on one line: newlines become spaces, trailing blanks go.
std::string one_line(std::string text);

} // namespace nw::kernel
