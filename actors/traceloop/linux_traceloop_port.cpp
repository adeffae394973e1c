#include "actors/traceloop/linux_traceloop_port.hpp"

#include <map>

#include "actors/traceloop/decode.hpp"
#include "actors/traceloop/formats.hpp"
#include "actors/traceloop/ring.hpp"
#include "actors/traceloop/syscalls.hpp"
#include "runtime/kernel/log.hpp"

namespace nw {

namespace {

class linux_traceloop_port : public traceloop_port {
public:
  bool start(std::string& error) override {
    rec_ = traceloop::recorder::load(error);
    if (!rec_)
      return false;
    auto& formats = traceloop::format_table::native();
    if (!formats.error().empty())
      log::warn("traceloop: no syscall formats, parameters are shown raw",
                {{"error", formats.error()}});
    return rec_->set_capture_specs(formats.capture_specs(), error);
  }

  uint64_t ring_bytes() const override {
    return rec_->ring_bytes();
  }

  bool create(uint64_t ring, std::string& error) override {
    auto r = rec_->create_ring(error);
    if (!r)
      return false;
    rings_[ring] = std::move(r);
    return true;
  }

  bool route(uint64_t mntns, uint64_t ring, std::string& error) override {
    auto i = rings_.find(ring);
    if (i == rings_.end()) {
      error = "no ring " + std::to_string(ring);
      return false;
    }
    return rec_->insert(mntns, *i->second, error);
  }

  bool unroute(uint64_t mntns, std::string& error) override {
    return rec_->erase(mntns, error);
  }

  void read(uint64_t ring, traceloop::ring_read& out) override {
    auto i = rings_.find(ring);
    if (i == rings_.end())
      return;
    i->second->read(out);
    if (out.corrupt != 0)
      log::warn("traceloop: records that cannot be were skipped",
                {{"corrupt", std::to_string(out.corrupt)}});
  }

  std::function<syscall_line(const traceloop::syscall_record&)>
  decoder() const override {
    // The process-wide tables: built once, immutable, thread-safe.
    return [](const traceloop::syscall_record& rec) {
      return traceloop::decode(rec, traceloop::syscall_table::native(),
                               traceloop::format_table::native());
    };
  }

  void destroy(uint64_t ring) override {
    rings_.erase(ring);
  }

private:
  std::unique_ptr<traceloop::recorder> rec_;
  std::map<uint64_t, std::unique_ptr<traceloop::ring>> rings_;
};

} // namespace

std::unique_ptr<traceloop_port> make_linux_traceloop_port() {
  return std::make_unique<linux_traceloop_port>();
}

} // namespace nw
