// The rotary kernel, composed from the stages (stages.cuh), and its instantiations: one per entry
// of kKernelConfigs (configs.hpp), each translation unit compiling the entries of one q/k type.
#pragma once
#include <array>
#include <utility>

#include "cuda/configs.hpp"
#include "cuda/stages.cuh"

namespace ropekit::cuda {
namespace kernel {

// One thread's share of a token: kHeadsInFlight heads (query heads first, then key heads) whose
// loads are all issued before any store, because the compiler cannot move a load above a store
// that may alias it. The first batch is loaded right after the position, so the x loads overlap
// the dependent position -> cache-row loads instead of waiting behind them.
template <class X, bool kNeox, int kPairs, int kHeadsInFlight, bool kStreaming>
struct HeadBatch {
  Chunk<X, kNeox, kPairs> data[kHeadsInFlight];

  __device__ __forceinline__ void load(const TokenHeads<X>& query, const TokenHeads<X>& key,
                                       int num_heads, int total_heads, int first_head, int step,
                                       int half, int chunk) {
#pragma unroll
    for (int j = 0; j < kHeadsInFlight; ++j) {
      const int head = first_head + j * step;
      if (head < num_heads)
        data[j].template load<kStreaming>(query.in + head * query.in_head_stride, half, chunk);
      else if (head < total_heads)
        data[j].template load<kStreaming>(key.in + (head - num_heads) * key.in_head_stride, half, chunk);
    }
  }

  __device__ __forceinline__ void rotate_and_store(
      const RotaryParams& p, const TokenHeads<X>& query, const TokenHeads<X>& key,
      int first_head, int step, int half, int chunk, int chunks, const float (&cos_v)[kPairs],
      const float (&sin_v)[kPairs]) {
    const int total_heads = p.num_heads + p.num_kv_heads;
#pragma unroll
    for (int j = 0; j < kHeadsInFlight; ++j) {
      const int head = first_head + j * step;
      if (head >= total_heads) continue;
      // Select pointers by value: a reference picked at run time (`is_key ? key : query`) would
      // put both structs in local memory (seen as a 64-byte stack frame in the resource report).
      const bool is_key = head >= p.num_heads;
      const int h = is_key ? head - p.num_heads : head;
      X* out = is_key ? key.out + h * key.out_head_stride : query.out + h * query.out_head_stride;
      data[j].rotate(cos_v, sin_v);
      data[j].template store<kStreaming>(out, half, chunk);
      if (p.copy_tail) {
        const X* in = is_key ? key.in + h * key.in_head_stride : query.in + h * query.in_head_stride;
        for (int e = p.rotary_dim + chunk; e < p.head_size; e += chunks) out[e] = in[e];
      }
    }
  }
};

// One head per thread: only that head's two pointers live across the position -> cache-row
// chain, not the four base pointers and strides a thread walking heads needs (fewer registers:
// more resident threads and more bytes in flight). Addresses first, then the wait for the
// previous kernel, then the loads: the position -> cache row -> rotate -> store chain starts
// right at the wait.
template <class X, class C, bool kNeox, int kPairs, Streams kStreams, bool kStreaming>
__device__ __forceinline__ void rotate_one_head(const RotaryParams& p, const TokenIndex& where,
                                                int head, int chunk) {
  const PositionSource<stream_count(kStreams)> positions(p, where);
  const FactorSource<C, kPairs, kStreams> factors(p, chunk);
  const bool is_key = head >= p.num_heads;
  const int h = is_key ? head - p.num_heads : head;
  // Fields selected by value (a reference picked at run time would copy both into local memory).
  const int64_t in_offset =
      is_key ? where.offset(p.key.in_batch_stride, p.key.in_seq_stride) + h * p.key.in_head_stride
             : where.offset(p.query.in_batch_stride, p.query.in_seq_stride) +
                   h * p.query.in_head_stride;
  const int64_t out_offset =
      is_key ? where.offset(p.key.out_batch_stride, p.key.out_seq_stride) +
                   h * p.key.out_head_stride
             : where.offset(p.query.out_batch_stride, p.query.out_seq_stride) +
                   h * p.query.out_head_stride;
  const X* in = static_cast<const X*>(is_key ? p.key.in : p.query.in) + in_offset;
  X* out = static_cast<X*>(is_key ? p.key.out : p.query.out) + out_offset;
  const int half = p.rotary_dim / 2;

  wait_for_previous_kernel();
  const TokenPositions<stream_count(kStreams)> position = positions.load(p);
  Chunk<X, kNeox, kPairs> data;
  data.template load<kStreaming>(in, half, chunk);
  float cos_v[kPairs], sin_v[kPairs];
  factors.load(p, position, cos_v, sin_v);
  data.rotate(cos_v, sin_v);
  data.template store<kStreaming>(out, half, chunk);
  if (p.copy_tail)
    for (int e = p.rotary_dim + chunk; e < p.head_size; e += p.chunks_per_head) out[e] = in[e];
}

// Several heads per thread, kHeadsInFlight of them loaded at a time, all rotated with the cos/sin
// the thread loads once. Addresses first, then the wait, as in rotate_one_head.
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, Streams kStreams,
          bool kStreaming>
__device__ __forceinline__ void rotate_head_group(const RotaryParams& p, const TokenIndex& where,
                                                  int group, int chunk) {
  const PositionSource<stream_count(kStreams)> positions(p, where);
  const FactorSource<C, kPairs, kStreams> factors(p, chunk);
  const int half = p.rotary_dim / 2;
  const int total_heads = p.num_heads + p.num_kv_heads;
  const int step = p.head_groups;
  const TokenHeads<X> query(p.query, where);
  const TokenHeads<X> key(p.key, where);

  wait_for_previous_kernel();
  const TokenPositions<stream_count(kStreams)> position = positions.load(p);
  HeadBatch<X, kNeox, kPairs, kHeadsInFlight, kStreaming> batch;
  batch.load(query, key, p.num_heads, total_heads, group, step, half, chunk);
  float cos_v[kPairs], sin_v[kPairs];
  factors.load(p, position, cos_v, sin_v);
  for (int first_head = group;;) {
    batch.rotate_and_store(p, query, key, first_head, step, half, chunk, p.chunks_per_head, cos_v,
                           sin_v);
    first_head += kHeadsInFlight * step;
    if (first_head >= total_heads) break;
    batch.load(query, key, p.num_heads, total_heads, first_head, step, half, chunk);
  }
}

// Thread (chunk, group, token) comes from the 3-D block and the block's index (BlockIndex: the
// 3-D grid, or the token-major 1-D one). Programmatic dependent launch: the next kernel may be
// scheduled at once; this one waits for the previous kernel's results only once its addresses
// are computed (threads outside the problem exit without touching memory).
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, Streams kStreams,
          bool kStreaming>
__device__ __forceinline__ void rotate(const RotaryParams& p) {
  // The shuffle runs in the 3-D grid order only (its warps must hold whole heads of one token).
  const BlockIndex block = kStreams == Streams::interleaved_shuffle
                               ? BlockIndex(blockIdx.x, blockIdx.y, blockIdx.z)
                               : BlockIndex(p, blockIdx.x, blockIdx.y, blockIdx.z);
  const uint32_t token = block.token * blockDim.z + threadIdx.z;
  const int group = int(block.group * blockDim.y + threadIdx.y);
  const int chunk = int(block.chunk * blockDim.x + threadIdx.x);
  allow_next_kernel_to_launch();
  if (token >= p.num_tokens || group >= p.head_groups || chunk >= p.chunks_per_head) return;
  const TokenIndex where(p, token);
  if constexpr (kHeadsInFlight == 1)
    rotate_one_head<X, C, kNeox, kPairs, kStreams, kStreaming>(p, where, group, chunk);
  else
    rotate_head_group<X, C, kNeox, kPairs, kHeadsInFlight, kStreams, kStreaming>(p, where, group,
                                                                                chunk);
}

template <XType kX> struct XElement;
template <> struct XElement<XType::f32> { using type = float; };
template <> struct XElement<XType::f16> { using type = __half; };
template <> struct XElement<XType::bf16> { using type = __nv_bfloat16; };

// Configuration kConfig, read on the host side of the compiler (std::array is host code).
template <int kConfig>
struct ConfigAt {
  static constexpr KernelConfig value = kKernelConfigs[kConfig];
};

// The kernel of configuration kConfig (an index into kKernelConfigs).
template <int kConfig>
__global__ void __launch_bounds__(kMaxBlockThreads) rotary(const __grid_constant__ RotaryParams p) {
  constexpr KernelConfig c = ConfigAt<kConfig>::value;
  rotate<typename XElement<c.x>::type, CacheElement<c.cache>, c.neox, c.pairs, c.heads_in_flight,
         c.streams, c.streaming>(p);
}

}  // namespace kernel

// The kernels of the configurations whose q/k type is kX, by configuration index (nullptr for the
// others): what kernels_<type>.cu instantiates.
template <XType kX, int kConfig>
const void* kernel_if_x() {
  if constexpr (kKernelConfigs[kConfig].x == kX)
    return reinterpret_cast<const void*>(&kernel::rotary<kConfig>);
  else
    return nullptr;
}

template <XType kX, int... kConfigs>
std::array<const void*, kKernelConfigCount> kernels_of_x(std::integer_sequence<int, kConfigs...>) {
  return {kernel_if_x<kX, kConfigs>()...};
}

}  // namespace ropekit::cuda
