// An experiment for rotary parts that end inside a 32-byte sector (neox-20b: 48 of 192 bytes a
// head, bf16): the library's kernel plus one extra thread per head group that reads the
// pass-through bytes sharing the last rotary sector and writes them back unchanged, so every
// sector the call writes is written whole (`gpu_bench --sector-pad`). In place only. Whether
// whole-sector writes escape the slow partial-sector writes docs/BENCHMARKS.md measured.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/rotary_kernel.cuh"
#include "cuda/rotary_launch.cuh"

namespace ropekit::bench {

// The unchanged bytes written back with a real store (a plain `*p = *p` may be dropped).
__device__ __forceinline__ void write_back_16_bytes(void* at) {
  const uint4 v = __ldcg(static_cast<const uint4*>(at));
  asm volatile("st.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(at), "r"(v.x), "r"(v.y), "r"(v.z),
               "r"(v.w)
               : "memory");
}

// Threads with chunk == chunks_per_head (the launch adds one to the block's x size) write back
// the 16 bytes after the rotary part of each of their head group's heads.
template <int kPairs, int kHeadsInFlight>
__global__ void __launch_bounds__(cuda::kMaxBlockThreads)
    rotary_with_sector_pad(const __grid_constant__ cuda::RotaryParams p) {
  using namespace cuda::kernel;
  using X = __nv_bfloat16;
  const cuda::BlockIndex block(p, blockIdx.x, blockIdx.y, blockIdx.z);
  const uint32_t token = block.token * blockDim.z + threadIdx.z;
  const int group = int(block.group * blockDim.y + threadIdx.y);
  const int chunk = int(block.chunk * blockDim.x + threadIdx.x);
  allow_next_kernel_to_launch();
  if (token >= p.num_tokens || group >= p.head_groups || chunk > p.chunks_per_head) return;
  const TokenIndex where(p, token);
  if (chunk == p.chunks_per_head) {
    wait_for_previous_kernel();
    for (int head = group; head < p.num_heads + p.num_kv_heads; head += p.head_groups) {
      // Fields selected by value (a reference picked at run time would go to local memory).
      const bool is_key = head >= p.num_heads;
      const int h = is_key ? head - p.num_heads : head;
      const int64_t offset =
          is_key ? where.offset(p.key.out_batch_stride, p.key.out_seq_stride) +
                       h * p.key.out_head_stride
                 : where.offset(p.query.out_batch_stride, p.query.out_seq_stride) +
                       h * p.query.out_head_stride;
      X* x = static_cast<X*>(is_key ? p.key.out : p.query.out) + offset + p.rotary_dim;
      write_back_16_bytes(x);
    }
    return;
  }
  if constexpr (kHeadsInFlight == 1)
    rotate_one_head<X, float, true, kPairs, Streams::one, false>(p, where, group, chunk);
  else
    rotate_head_group<X, float, true, kPairs, kHeadsInFlight, Streams::one, false>(p, where,
                                                                                   group, chunk);
}

// The library's shape for the problem with one more thread along x per head group, launched as
// the library launches its kernels (detail_launch::launch_kernel, programmatic where the shape
// says so).
inline cudaError_t launch_with_sector_pad(const cuda::RotaryParams& params,
                                          const cuda::LaunchShape& shape, cudaStream_t stream) {
  if (shape.grid[2] != 1 || shape.chunk_blocks != 1 || shape.pairs_per_thread != 4)
    return cudaErrorInvalidConfiguration;
  cuda::LaunchShape padded = shape;
  ++padded.block[0];
  using cuda::detail_launch::launch_kernel;
  if (shape.heads_in_flight == 1)
    return launch_kernel(rotary_with_sector_pad<4, 1>, params, padded, 0, stream);
  if (shape.heads_in_flight == 2)
    return launch_kernel(rotary_with_sector_pad<4, 2>, params, padded, 0, stream);
  return cudaErrorInvalidConfiguration;
}

}  // namespace ropekit::bench
