// The CUDA backend: turns a validated Problem into one asynchronous kernel launch on the caller's
// stream. No allocation, no synchronization, nothing that a CUDA graph capture would reject.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/backends.hpp"
#include "cuda/kernels.hpp"
#include "cuda/launch.hpp"
#include "ropekit/error.hpp"

namespace ropekit::cuda {

namespace {

[[noreturn]] void fail(const std::string& what, cudaError_t error) {
  // Clear the runtime's last error (a non-sticky one such as an invalid device ordinal), so the
  // caller's next check, or our next launch check, does not report it again.
  cudaGetLastError();
  throw Error("cuda: " + what + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) +
              ")");
}

// Makes `device` current for the scope and restores the caller's device after, also on throw.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaError_t e = cudaGetDevice(&previous_); e != cudaSuccess) fail("cudaGetDevice", e);
    if (previous_ != device)
      if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
        fail("cudaSetDevice(" + std::to_string(device) + ")", e);
  }
  ~DeviceGuard() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// What the launch choice needs to know of a device, read once per device: the attribute queries
// are cheap but not free.
DeviceInfo device_info(int device) {
  constexpr int kCachedDevices = 64;
  static std::array<std::atomic<int>, kCachedDevices> multiprocessors{}, arch{};
  const bool cacheable = device >= 0 && device < kCachedDevices;
  DeviceInfo info;
  info.device = device;
  info.resident_threads = resident_threads;
  if (cacheable)
    if (const int known = multiprocessors[device].load(std::memory_order_acquire); known > 0) {
      info.multiprocessors = known;
      info.arch = arch[device].load(std::memory_order_relaxed);
      return info;
    }
  const auto query = [&](cudaDeviceAttr attribute, const char* what) {
    int value = 0;
    if (cudaError_t e = cudaDeviceGetAttribute(&value, attribute, device); e != cudaSuccess)
      fail(std::string("cudaDeviceGetAttribute(") + what + ", device " + std::to_string(device) +
               ")",
           e);
    return value;
  };
  info.multiprocessors = query(cudaDevAttrMultiProcessorCount, "multiprocessor count");
  info.arch = 10 * query(cudaDevAttrComputeCapabilityMajor, "compute capability") +
              query(cudaDevAttrComputeCapabilityMinor, "compute capability");
  if (cacheable) {
    arch[device].store(info.arch, std::memory_order_relaxed);
    multiprocessors[device].store(info.multiprocessors, std::memory_order_release);
  }
  return info;
}

// Programmatic dependent launch on sm_90 and newer unless ROPEKIT_CUDA_PDL=0: the kernel's launch
// overlaps the end of the previous kernel on the stream (its results are still waited for).
bool programmatic_launch(const DeviceInfo& device) {
  static const bool disabled = [] {
    const char* value = std::getenv("ROPEKIT_CUDA_PDL");
    return value != nullptr && std::string(value) == "0";
  }();
  return device.arch >= 90 && !disabled;
}

}  // namespace
}  // namespace ropekit::cuda

namespace ropekit::detail {

bool cuda_device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

void run_cuda(const Problem& problem) {
  using namespace ropekit::cuda;
  const DeviceGuard guard(problem.device_id);
  const DeviceInfo device = device_info(problem.device_id);
  LaunchShape shape = choose_launch(problem, device);
  if (const std::string error = launch_shape_error(problem, shape); !error.empty())
    throw Error("cuda: " + error);
  shape.programmatic = programmatic_launch(device);
  const cudaError_t error = launch_kernel(make_params(problem, shape), shape,
                                          static_cast<cudaStream_t>(problem.stream));
  if (error != cudaSuccess) fail("rotary kernel launch", error);
}

}  // namespace ropekit::detail
