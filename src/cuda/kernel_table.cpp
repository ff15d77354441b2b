// The kernels by configuration index, their residency and their launch.
#include <cuda_runtime.h>

#include <array>
#include <atomic>

#include "cuda/kernels.hpp"

namespace ropekit::cuda {

// Defined in kernels_<type>.cu: the kernels of that q/k type by configuration index.
const void* const* kernels_f32();
const void* const* kernels_f16();
const void* const* kernels_bf16();

const void* kernel_function(int config) {
  switch (kKernelConfigs[config].x) {
    case XType::f32: return kernels_f32()[config];
    case XType::f16: return kernels_f16()[config];
    case XType::bf16: return kernels_bf16()[config];
  }
  return nullptr;
}

int resident_threads(int device, int config) {
  constexpr int kBlockThreads = 128;
  constexpr int kCachedDevices = 16;
  static std::array<std::array<std::atomic<int>, kKernelConfigCount>, kCachedDevices> cache{};
  const bool cacheable = device >= 0 && device < kCachedDevices;
  if (cacheable)
    if (const int known = cache[device][config].load(std::memory_order_relaxed); known > 0)
      return known;
  // The caller made `device` current (DeviceGuard). On failure, assume one block per SM: the
  // policy then sees larger launches, and the launch itself reports the error.
  int blocks = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel_function(config), kBlockThreads,
                                                    0) != cudaSuccess ||
      blocks < 1) {
    cudaGetLastError();
    blocks = 1;
  }
  const int threads = blocks * kBlockThreads;
  if (cacheable) cache[device][config].store(threads, std::memory_order_relaxed);
  return threads;
}

cudaError_t launch_kernel(const RotaryParams& params, const LaunchShape& shape,
                          cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(shape.grid[0], shape.grid[1], shape.grid[2]);
  config.blockDim = dim3(shape.block[0], shape.block[1], shape.block[2]);
  config.stream = stream;
  cudaLaunchAttribute programmatic = {};
  programmatic.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  programmatic.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &programmatic;
  config.numAttrs = shape.programmatic ? 1 : 0;
  void* arguments[] = {const_cast<RotaryParams*>(&params)};
  // cudaLaunchKernelExC reports this launch's error directly, so an unrelated earlier error left
  // in the runtime is not mistaken for ours.
  return cudaLaunchKernelExC(&config, kernel_function(shape.config), arguments);
}

}  // namespace ropekit::cuda
