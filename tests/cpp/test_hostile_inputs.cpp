// The hostile calls of hostile_inputs.hpp on host memory (reference and cpu backends).
#include <cstdlib>
#include <cstring>

#include "hostile_inputs.hpp"

namespace ropekit::testing {
namespace {

class HostMemory : public Memory {
 public:
  DLDeviceType device() const override { return kDLCPU; }
  std::string unavailable() const override { return ""; }
  void* allocate(size_t bytes) override { return std::calloc(1, bytes); }
  void release(void* data) override { std::free(data); }
  void upload(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void download(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void synchronize() override {}
};

HostMemory host_memory;
INSTANTIATE_TEST_SUITE_P(Host, HostileInputs, ::testing::Values(&host_memory),
                         [](const auto&) { return std::string("memory"); });

}  // namespace
}  // namespace ropekit::testing
