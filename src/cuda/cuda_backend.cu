// The CUDA backend: turns a validated Problem into one asynchronous kernel launch on the caller's
// stream. No allocation, no synchronization, nothing that a CUDA graph capture would reject.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/backends.hpp"
#include "cuda/launch_config.hpp"
#include "cuda/rotary_launch.cuh"
#include "ropekit/error.hpp"

namespace ropekit::cuda {

cudaError_t launch_rotary(const RotaryParams& params, const LaunchShape& shape, DType x_dtype,
                          DType cache_dtype, bool is_neox, cudaStream_t stream) {
  switch (x_dtype) {
    case DType::float32:
      return launch_rotary_typed<float>(params, shape, cache_dtype, is_neox, stream);
    case DType::float16:
      return launch_rotary_typed<__half>(params, shape, cache_dtype, is_neox, stream);
    case DType::bfloat16:
      return launch_rotary_typed<__nv_bfloat16>(params, shape, cache_dtype, is_neox, stream);
    default: return cudaErrorInvalidValue;
  }
}

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

// What the launch needs to know of a device, read once per device: the attribute queries are
// cheap but not free.
struct DeviceTraits {
  int multiprocessors = 0;
  int compute_major = 0;
};

DeviceTraits device_traits(int device) {
  constexpr int kCachedDevices = 64;
  static std::array<std::atomic<int>, kCachedDevices> multiprocessors{}, compute_major{};
  const bool cacheable = device >= 0 && device < kCachedDevices;
  if (cacheable)
    if (const int known = multiprocessors[device].load(std::memory_order_acquire); known > 0)
      return {known, compute_major[device].load(std::memory_order_relaxed)};
  DeviceTraits traits;
  const auto query = [&](int* value, cudaDeviceAttr attribute, const char* what) {
    if (cudaError_t e = cudaDeviceGetAttribute(value, attribute, device); e != cudaSuccess)
      fail(std::string("cudaDeviceGetAttribute(") + what + ", device " + std::to_string(device) +
               ")",
           e);
  };
  query(&traits.multiprocessors, cudaDevAttrMultiProcessorCount, "multiprocessor count");
  query(&traits.compute_major, cudaDevAttrComputeCapabilityMajor, "compute capability");
  if (cacheable) {
    compute_major[device].store(traits.compute_major, std::memory_order_relaxed);
    multiprocessors[device].store(traits.multiprocessors, std::memory_order_release);
  }
  return traits;
}

// Programmatic dependent launch on sm_90 and newer unless ROPEKIT_CUDA_PDL=0: the kernel's launch
// overlaps the end of the previous kernel on the stream (its results are still waited for).
bool programmatic_launch(const DeviceTraits& traits) {
  static const bool disabled = [] {
    const char* value = std::getenv("ROPEKIT_CUDA_PDL");
    return value != nullptr && std::string(value) == "0";
  }();
  return traits.compute_major >= 9 && !disabled;
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
  const DeviceTraits traits = device_traits(problem.device_id);
  // The launch shape may narrow the widest legal pairs per thread (shape.pairs_per_thread).
  LaunchShape shape = choose_launch_shape(problem, choose_pairs_per_thread(problem),
                                          traits.multiprocessors);
  if (const std::string error = launch_shape_error(problem, shape); !error.empty())
    throw Error("cuda: " + error);
  shape.programmatic = programmatic_launch(traits);
  const cudaError_t error =
      launch_rotary(make_params(problem, shape), shape, problem.x_dtype, problem.cache_dtype,
                    problem.is_neox, static_cast<cudaStream_t>(problem.stream));
  if (error != cudaSuccess) fail("rotary kernel launch", error);
}

}  // namespace ropekit::detail
