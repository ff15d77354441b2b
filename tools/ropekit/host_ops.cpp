// DeviceOps on the host: aligned heap memory, memcpy, and wall-clock medians.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "device_ops.hpp"

namespace ropekit::cli {
namespace {

// 256 bytes: the alignment CUDA allocations have, so sector counts match across devices.
constexpr size_t kAlignment = 256;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

class HostOps final : public DeviceOps {
 public:
  std::string name() const override {
    return "host (" + std::to_string(std::thread::hardware_concurrency()) + " hardware threads)";
  }
  Device device() const override { return Device::cpu; }

  void* allocate(size_t bytes) override {
    const size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* pointer = std::aligned_alloc(kAlignment, rounded);
    if (pointer == nullptr) throw std::bad_alloc();
    // Touch every page now, so that the first timed call does not pay for page faults.
    std::memset(pointer, 0, rounded);
    return pointer;
  }
  void release(void* pointer) override { std::free(pointer); }

  void copy_to_device(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void copy_to_host(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void* stream() const override { return nullptr; }

  double seconds_per_call(const std::function<void()>& call, int repetitions) override {
    call();  // warm-up: caches, thread pool start
    std::vector<double> seconds;
    for (int i = 0; i < std::max(repetitions, 1); ++i) {
      const auto start = std::chrono::steady_clock::now();
      call();
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return median(seconds);
  }

  double seconds_per_copy(size_t bytes, int repetitions) override {
    void* source = allocate(bytes);
    void* destination = allocate(bytes);
    const double seconds = seconds_per_call(
        [&] {
          std::memcpy(destination, source, bytes);
          // Keep the compiler from treating the copy as dead.
          asm volatile("" : : "r"(destination) : "memory");
        },
        repetitions);
    release(source);
    release(destination);
    return seconds;
  }
};

}  // namespace

std::unique_ptr<DeviceOps> make_host_ops() { return std::make_unique<HostOps>(); }

}  // namespace ropekit::cli
