// The compiled kernels as the host sees them: one per entry of kKernelConfigs. Needs only the CUDA
// runtime API, not nvcc; the backend and the GPU tests launch through it.
#pragma once
#include <cuda_runtime_api.h>

#include "cuda/params.hpp"

namespace ropekit::cuda {

// The kernel of configuration `config` (an index into kKernelConfigs).
const void* kernel_function(int config);

// Threads of configuration `config` resident on one SM of `device` in blocks of 128, from the
// occupancy API (read once per device and configuration).
int resident_threads(int device, int config);

// Launches shape.kernel() with `shape` asynchronously on `stream`; returns the launch error (no
// synchronization). The shape must have passed launch_shape_error.
cudaError_t launch_kernel(const RotaryParams& params, const LaunchShape& shape,
                          cudaStream_t stream);

}  // namespace ropekit::cuda
