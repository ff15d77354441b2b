// Launches for `gpu_bench --interleaved-choices` that the library does not make: its kernel
// template for interleaved multimodal sections with the gather or the columns and q/k accesses
// marked evict-first (kStreaming; the library takes them with the shuffle source only). bf16 q/k,
// fp32 cache, NeoX pairs: the benchmark's Qwen3-VL-8B problem.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda/rotary_kernel.cuh"
#include "cuda/rotary_launch.cuh"

namespace ropekit::bench {

using cuda::kernel::Streams;

template <int kPairs, Streams kStreams, bool kStreaming>
cudaError_t launch_interleaved_heads(const cuda::RotaryParams& params,
                                     const cuda::LaunchShape& shape, cudaStream_t stream) {
  using cuda::detail_launch::launch_kernel;
  using cuda::kernel::rotary;
  using X = __nv_bfloat16;
  const unsigned shared = cuda::kernel::shared_bytes(kStreams, kPairs, shape.block);
  switch (shape.heads_in_flight) {
    case 1:
      return launch_kernel(rotary<X, float, true, kPairs, 1, kStreams, kStreaming>, params, shape,
                           shared, stream);
    case 2:
      return launch_kernel(rotary<X, float, true, kPairs, 2, kStreams, kStreaming>, params, shape,
                           shared, stream);
    case 4:
      return launch_kernel(rotary<X, float, true, kPairs, 4, kStreams, kStreaming>, params, shape,
                           shared, stream);
  }
  return cudaErrorInvalidConfiguration;
}

template <Streams kStreams, bool kStreaming>
cudaError_t launch_interleaved_pairs(const cuda::RotaryParams& params,
                                     const cuda::LaunchShape& shape, cudaStream_t stream) {
  switch (shape.pairs_per_thread) {
    case 4: return launch_interleaved_heads<4, kStreams, kStreaming>(params, shape, stream);
    case 8: return launch_interleaved_heads<8, kStreams, kStreaming>(params, shape, stream);
  }
  return cudaErrorInvalidConfiguration;
}

// The gather (the shape's grid in the 3-D order, as the library launches it) with evict-first
// q/k accesses.
inline cudaError_t launch_gather_evict_first(const cuda::RotaryParams& params,
                                             const cuda::LaunchShape& shape, cudaStream_t stream) {
  if (shape.interleaved != cuda::InterleavedSource::gather) return cudaErrorInvalidConfiguration;
  return launch_interleaved_pairs<Streams::interleaved_gather, true>(params, shape, stream);
}

// Columns (4 pairs) with evict-first q/k accesses.
inline cudaError_t launch_columns_evict_first(const cuda::RotaryParams& params,
                                              const cuda::LaunchShape& shape, cudaStream_t stream) {
  if (shape.interleaved != cuda::InterleavedSource::columns || shape.pairs_per_thread != 4)
    return cudaErrorInvalidConfiguration;
  if (shape.heads_in_flight == 8)
    return cuda::detail_launch::launch_kernel(
        cuda::kernel::rotary<__nv_bfloat16, float, true, 4, 8, Streams::interleaved_columns, true>,
        params, shape, 0, stream);
  return launch_interleaved_pairs<Streams::interleaved_columns, true>(params, shape, stream);
}

}  // namespace ropekit::bench
