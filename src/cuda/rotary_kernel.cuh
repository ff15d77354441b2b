// The CUDA rotary kernel as a header template, so the backend and the GPU benchmark (which sweeps
// launch shapes) compile the same code. Host code that picks the template arguments and the launch
// shape lives in launch_config.hpp and cuda_backend.cu.
//
// Work decomposition: one thread owns one "chunk" of kPairs rotation pairs of a head and walks a
// stride of heads of one token (heads_per_thread of them), so the cos/sin it loads for its chunk
// are reused across those heads. Adjacent threads own adjacent chunks of the same head, then the
// next head: a warp reads and writes contiguous bytes.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/rotary_params.hpp"

namespace ropekit::cuda {

namespace kernel {

// N elements loaded or stored as one access (or several 16-byte ones when wider).
template <class T, int N>
struct alignas((sizeof(T) * N) < 16 ? sizeof(T) * N : 16) Vec {
  T v[N];
};

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T> __device__ __forceinline__ T from_float(float v);
// Round to nearest even, like src/core/numeric.hpp.
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ __forceinline__ int64_t load_position(const RotaryParams& p, int64_t token) {
  int64_t offset = token;
  if (p.seq != p.num_tokens) {  // not collapsed: (batch, seq) with their own strides
    const int64_t b = token / p.seq;
    offset = b * p.positions_batch_stride + (token - b * p.seq) * p.positions_seq_stride;
  } else {
    offset = token * p.positions_seq_stride;
  }
  return p.positions_int64 ? __ldg(static_cast<const long long*>(p.positions) + offset)
                           : __ldg(static_cast<const int*>(p.positions) + offset);
}

__device__ __forceinline__ int64_t token_offset(int64_t token, int64_t seq, int64_t num_tokens,
                                                int64_t batch_stride, int64_t seq_stride) {
  if (seq == num_tokens) return token * seq_stride;
  const int64_t b = token / seq;
  return b * batch_stride + (token - b * seq) * seq_stride;
}

// The elements of one chunk of one head: for NeoX the chunk's first-half and second-half slices,
// for GPT-J one slice of interleaved pairs; either way 2 * kPairs elements.
template <class X, bool kNeox, int kPairs>
struct Chunk {
  Vec<X, kNeox ? kPairs : 2 * kPairs> lo;
  Vec<X, kPairs> hi;  // NeoX only

  __device__ __forceinline__ void load(const X* head, int half, int chunk) {
    if constexpr (kNeox) {
      lo = *reinterpret_cast<const Vec<X, kPairs>*>(head + chunk * kPairs);
      hi = *reinterpret_cast<const Vec<X, kPairs>*>(head + half + chunk * kPairs);
    } else {
      lo = *reinterpret_cast<const Vec<X, 2 * kPairs>*>(head + chunk * 2 * kPairs);
    }
  }
  __device__ __forceinline__ void store(X* head, int half, int chunk) const {
    if constexpr (kNeox) {
      *reinterpret_cast<Vec<X, kPairs>*>(head + chunk * kPairs) = lo;
      *reinterpret_cast<Vec<X, kPairs>*>(head + half + chunk * kPairs) = hi;
    } else {
      *reinterpret_cast<Vec<X, 2 * kPairs>*>(head + chunk * 2 * kPairs) = lo;
    }
  }
  __device__ __forceinline__ void rotate(const float (&cos_v)[kPairs], const float (&sin_v)[kPairs]) {
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      X& first = kNeox ? lo.v[i] : lo.v[2 * i];
      X& second = kNeox ? hi.v[i] : lo.v[2 * i + 1];
      const float a = to_float(first), b = to_float(second);
      first = from_float<X>(a * cos_v[i] - b * sin_v[i]);
      second = from_float<X>(b * cos_v[i] + a * sin_v[i]);
    }
  }
};

// Addresses of head `head` (query heads first, then key heads) of token `token`.
template <class X>
__device__ __forceinline__ void head_pointers(const RotaryParams& p, int64_t token, int head,
                                              const X*& in, X*& out) {
  const bool is_key = head >= p.num_heads;
  const HeadTensor& t = is_key ? p.key : p.query;
  const int h = is_key ? head - p.num_heads : head;
  in = static_cast<const X*>(t.in) +
       token_offset(token, p.seq, p.num_tokens, t.in_batch_stride, t.in_seq_stride) +
       h * t.in_head_stride;
  out = static_cast<X*>(t.out) +
        token_offset(token, p.seq, p.num_tokens, t.out_batch_stride, t.out_seq_stride) +
        h * t.out_head_stride;
}

// Two heads in flight per thread: their loads are issued before either is stored, because the
// compiler cannot move a load above a store that may alias it.
inline constexpr int kHeadsInFlight = 2;

template <class X, class C, bool kNeox, int kPairs>
__global__ void __launch_bounds__(512) rotary(const RotaryParams p, const LaunchShape shape) {
  const uint64_t thread = uint64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (thread >= shape.total_threads) return;
  const int chunks = shape.chunks_per_head;
  const uint32_t units_per_token = uint32_t(shape.head_groups) * uint32_t(chunks);
  const int64_t token = int64_t(thread / units_per_token);
  const uint32_t unit = uint32_t(thread - uint64_t(token) * units_per_token);
  const int group = int(unit / uint32_t(chunks));
  const int chunk = int(unit - uint32_t(group) * uint32_t(chunks));
  const int half = p.rotary_dim / 2;
  const int total_heads = p.num_heads + p.num_kv_heads;

  // Positions are not checked on the host (that would need a sync): a token whose position lies
  // outside [0, max_position) reads no cache row and gets NaN in its rotary part, so the error is
  // visible instead of a plausible unrotated or wrongly rotated value.
  const int64_t position = load_position(p, token);
  float cos_v[kPairs], sin_v[kPairs];
  if (position >= 0 && position < p.max_position) {
    const C* row = static_cast<const C*>(p.cache) + position * p.cache_row_stride;
    const Vec<C, kPairs> c = *reinterpret_cast<const Vec<C, kPairs>*>(row + chunk * kPairs);
    const Vec<C, kPairs> s = *reinterpret_cast<const Vec<C, kPairs>*>(row + half + chunk * kPairs);
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      cos_v[i] = to_float(c.v[i]);
      sin_v[i] = p.inverse ? -to_float(s.v[i]) : to_float(s.v[i]);
    }
  } else {
#pragma unroll
    for (int i = 0; i < kPairs; ++i) cos_v[i] = sin_v[i] = __int_as_float(0x7fc00000);
  }

  const int head_step = shape.head_groups;
  for (int first_head = group; first_head < total_heads; first_head += kHeadsInFlight * head_step) {
    Chunk<X, kNeox, kPairs> chunk_data[kHeadsInFlight];
    const X* in[kHeadsInFlight];
    X* out[kHeadsInFlight];
#pragma unroll
    for (int j = 0; j < kHeadsInFlight; ++j) {
      const int head = first_head + j * head_step;
      if (head < total_heads) {
        head_pointers(p, token, head, in[j], out[j]);
        chunk_data[j].load(in[j], half, chunk);
      }
    }
#pragma unroll
    for (int j = 0; j < kHeadsInFlight; ++j) {
      const int head = first_head + j * head_step;
      if (head < total_heads) {
        chunk_data[j].rotate(cos_v, sin_v);
        chunk_data[j].store(out[j], half, chunk);
        if (p.copy_tail)
          for (int e = p.rotary_dim + chunk; e < p.head_size; e += chunks) out[j][e] = in[j][e];
      }
    }
  }
}

}  // namespace kernel
}  // namespace ropekit::cuda
