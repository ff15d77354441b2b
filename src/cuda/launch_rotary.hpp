// The one entry point to the CUDA kernels: a problem flattened to RotaryParams, a launch shape,
// and the compile-time choices as run-time values. Defined in cuda_backend.cu; the GPU tests and
// benchmark call it to launch chosen shapes. Needs only the CUDA runtime API, not nvcc.
#pragma once
#include <cuda_runtime_api.h>

#include "cuda/rotary_params.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit::cuda {

// Launches asynchronously on `stream` (the instantiation for shape.pairs_per_thread and
// shape.heads_in_flight); returns the launch error (no synchronization).
cudaError_t launch_rotary(const RotaryParams& params, const LaunchShape& shape, DType x_dtype,
                          DType cache_dtype, bool is_neox, cudaStream_t stream);

}  // namespace ropekit::cuda
