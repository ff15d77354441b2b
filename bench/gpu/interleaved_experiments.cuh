// Launches for `gpu_bench --interleaved-choices` that the library does not make: its kernel
// template for interleaved multimodal sections with the columns and q/k accesses marked
// evict-first (kStreaming; the library takes them with the shuffle source only; the gather with
// them ran 1.12-1.26x plain RoPE, no better than without, docs/BENCHMARKS.md). bf16 q/k, fp32
// cache, NeoX pairs: the benchmark's Qwen3-VL-8B problem.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda/rotary_kernel.cuh"
#include "cuda/rotary_launch.cuh"

namespace ropekit::bench {

// Columns (4 pairs) with evict-first q/k accesses, four or eight heads in flight (the library's
// columns launches past one wave).
inline cudaError_t launch_columns_evict_first(const cuda::RotaryParams& params,
                                              const cuda::LaunchShape& shape, cudaStream_t stream) {
  using cuda::detail_launch::launch_kernel;
  using cuda::kernel::rotary;
  using cuda::kernel::Streams;
  using X = __nv_bfloat16;
  if (shape.interleaved != cuda::InterleavedSource::columns || shape.pairs_per_thread != 4)
    return cudaErrorInvalidConfiguration;
  if (shape.heads_in_flight == 4)
    return launch_kernel(rotary<X, float, true, 4, 4, Streams::interleaved_columns, true>, params,
                         shape, 0, stream);
  if (shape.heads_in_flight == 8)
    return launch_kernel(rotary<X, float, true, 4, 8, Streams::interleaved_columns, true>, params,
                         shape, 0, stream);
  return cudaErrorInvalidConfiguration;
}

}  // namespace ropekit::bench
