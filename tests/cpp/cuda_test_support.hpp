// What the GPU tests share: CUDA error checks and the skip when no device is visible.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ropekit::testing {

inline void check_cuda(cudaError_t error, const char* what) {
  if (error != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
}

// Why the GPU tests cannot run here, or "" when a device is visible.
inline std::string missing_device_reason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(error);
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
}

}  // namespace ropekit::testing

#define SKIP_WITHOUT_CUDA_DEVICE()                                                          \
  if (const std::string reason = ::ropekit::testing::missing_device_reason(); !reason.empty()) \
  GTEST_SKIP() << "no CUDA device: " << reason
