// The CUDA backend: turns a validated Problem into one asynchronous kernel launch on the caller's
// stream. No allocation, no synchronization, nothing that a CUDA graph capture would reject.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "core/backends.hpp"
#include "cuda/launch_config.hpp"
#include "cuda/rotary_launch.cuh"
#include "ropekit/error.hpp"

namespace ropekit::cuda {

cudaError_t launch_rotary(const RotaryParams& params, const LaunchShape& shape, DType x_dtype,
                          DType cache_dtype, bool is_neox, int pairs, cudaStream_t stream) {
  switch (x_dtype) {
    case DType::float32:
      return launch_rotary_typed<float>(params, shape, cache_dtype, is_neox, pairs, stream);
    case DType::float16:
      return launch_rotary_typed<__half>(params, shape, cache_dtype, is_neox, pairs, stream);
    case DType::bfloat16:
      return launch_rotary_typed<__nv_bfloat16>(params, shape, cache_dtype, is_neox, pairs, stream);
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

// Multiprocessor counts, read once per device: the attribute query is cheap but not free, and it
// is the only device property the launch shape needs.
int multiprocessor_count(int device) {
  constexpr int kCachedDevices = 64;
  static std::array<std::atomic<int>, kCachedDevices> cached{};
  if (device >= 0 && device < kCachedDevices)
    if (const int known = cached[device].load(std::memory_order_relaxed); known > 0) return known;
  int count = 0;
  if (cudaError_t e = cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device);
      e != cudaSuccess)
    fail("cudaDeviceGetAttribute(multiprocessor count, device " + std::to_string(device) + ")", e);
  if (device >= 0 && device < kCachedDevices) cached[device].store(count, std::memory_order_relaxed);
  return count;
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
  const int pairs = choose_pairs_per_thread(problem);
  const LaunchShape shape =
      choose_launch_shape(problem, pairs, multiprocessor_count(problem.device_id));
  if (shape.total_threads > UINT32_MAX)
    throw Error("cuda: " + std::to_string(problem.num_tokens()) + " tokens with " +
                std::to_string(shape.head_groups * shape.chunks_per_head) +
                " threads per token need more threads than one launch indexes (2^32)");
  const cudaError_t error =
      launch_rotary(make_params(problem), shape, problem.x_dtype, problem.cache_dtype,
                    problem.is_neox, pairs, static_cast<cudaStream_t>(problem.stream));
  if (error != cudaSuccess) fail("rotary kernel launch", error);
}

}  // namespace ropekit::detail
