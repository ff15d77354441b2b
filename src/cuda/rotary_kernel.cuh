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

#include "core/rope_variants_mrope.hpp"
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

__device__ __forceinline__ int64_t load_position(const RotaryParams& p, int64_t token,
                                                 int stream = 0) {
  int64_t offset = token;
  if (p.seq != p.num_tokens) {  // not collapsed: (batch, seq) with their own strides
    const int64_t b = token / p.seq;
    offset = b * p.positions_batch_stride + (token - b * p.seq) * p.positions_seq_stride;
  } else {
    offset = token * p.positions_seq_stride;
  }
  offset += stream * p.positions_stream_stride;
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
// for GPT-J one slice of interleaved pairs; either way 2 * kPairs elements. With one pair per
// thread every element is its own access: the narrow path for pointers or strides that are not
// aligned to a pair (a GPT-J pair is two elements wide).
template <class X, bool kNeox, int kPairs>
struct Chunk {
  Vec<X, kNeox ? kPairs : 2 * kPairs> lo;
  Vec<X, kPairs> hi;  // NeoX only

  __device__ __forceinline__ void load(const X* head, int half, int chunk) {
    if constexpr (kNeox) {
      lo = *reinterpret_cast<const Vec<X, kPairs>*>(head + chunk * kPairs);
      hi = *reinterpret_cast<const Vec<X, kPairs>*>(head + half + chunk * kPairs);
    } else if constexpr (kPairs == 1) {
      lo.v[0] = head[2 * chunk];
      lo.v[1] = head[2 * chunk + 1];
    } else {
      lo = *reinterpret_cast<const Vec<X, 2 * kPairs>*>(head + chunk * 2 * kPairs);
    }
  }
  __device__ __forceinline__ void store(X* head, int half, int chunk) const {
    if constexpr (kNeox) {
      *reinterpret_cast<Vec<X, kPairs>*>(head + chunk * kPairs) = lo;
      *reinterpret_cast<Vec<X, kPairs>*>(head + half + chunk * kPairs) = hi;
    } else if constexpr (kPairs == 1) {
      head[2 * chunk] = lo.v[0];
      head[2 * chunk + 1] = lo.v[1];
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

// Positions are not checked on the host (that would need a sync): a token whose position lies
// outside [0, max_position) reads no cache row and gets NaN in its rotary part, so the error is
// visible instead of a plausible unrotated or wrongly rotated value.
template <int kPairs>
__device__ __forceinline__ void fill_nan(float (&cos_v)[kPairs], float (&sin_v)[kPairs]) {
#pragma unroll
  for (int i = 0; i < kPairs; ++i) cos_v[i] = sin_v[i] = __int_as_float(0x7fc00000);
}

__device__ __forceinline__ bool position_ok(const RotaryParams& p, int64_t position) {
  return position >= 0 && position < p.max_position;
}

// The chunk's cos/sin factors from one cache row (sin negated for the inverse rotation).
template <class C, int kPairs>
__device__ __forceinline__ void load_row_factors(const RotaryParams& p, int64_t position, int half,
                                                 int chunk, float (&cos_v)[kPairs],
                                                 float (&sin_v)[kPairs]) {
  const C* row = static_cast<const C*>(p.cache) + position * p.cache_row_stride;
  const Vec<C, kPairs> c = *reinterpret_cast<const Vec<C, kPairs>*>(row + chunk * kPairs);
  const Vec<C, kPairs> s = *reinterpret_cast<const Vec<C, kPairs>*>(row + half + chunk * kPairs);
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    cos_v[i] = to_float(c.v[i]);
    sin_v[i] = p.inverse ? -to_float(s.v[i]) : to_float(s.v[i]);
  }
}

template <class C, int kPairs>
__device__ __forceinline__ void load_factors(const RotaryParams& p, int64_t token, int half,
                                             int chunk, float (&cos_v)[kPairs],
                                             float (&sin_v)[kPairs]) {
  const int64_t position = load_position(p, token);
  if (position_ok(p, position))
    load_row_factors<C, kPairs>(p, position, half, chunk, cos_v, sin_v);
  else
    fill_nan(cos_v, sin_v);
}

// Multimodal RoPE: three positions per token, held in registers (an array indexed at run time
// would live in local memory). A chunk that lies in one section (contiguous sections that are
// multiples of kPairs: every real config) reads one row, as plain RoPE does; otherwise
// (interleaved sections, or a chunk straddling a boundary) it reads the chunk from all three rows
// at once, in parallel, and picks per frequency. Any stream out of range makes the token NaN.
template <class C, int kPairs>
__device__ __forceinline__ void load_mrope_factors(const RotaryParams& p, int64_t token, int half,
                                                   int chunk, float (&cos_v)[kPairs],
                                                   float (&sin_v)[kPairs]) {
  const int64_t t = load_position(p, token, 0);
  const int64_t h = load_position(p, token, 1);
  const int64_t w = load_position(p, token, 2);
  if (!position_ok(p, t) || !position_ok(p, h) || !position_ok(p, w)) {
    fill_nan(cos_v, sin_v);
    return;
  }
  const int first = chunk * kPairs;
  const auto stream_of = [&](int i) {
    return detail::mrope_stream(i, p.mrope_section, p.mrope_interleaved);
  };
  if (!p.mrope_interleaved && stream_of(first) == stream_of(first + kPairs - 1)) {
    const int stream = stream_of(first);
    load_row_factors<C, kPairs>(p, stream == 0 ? t : stream == 1 ? h : w, half, chunk, cos_v,
                                sin_v);
    return;
  }
  float cos_t[kPairs], sin_t[kPairs], cos_h[kPairs], sin_h[kPairs];
  load_row_factors<C, kPairs>(p, t, half, chunk, cos_t, sin_t);
  load_row_factors<C, kPairs>(p, h, half, chunk, cos_h, sin_h);
  load_row_factors<C, kPairs>(p, w, half, chunk, cos_v, sin_v);
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int stream = stream_of(first + i);
    if (stream == 0) {
      cos_v[i] = cos_t[i];
      sin_v[i] = sin_t[i];
    } else if (stream == 1) {
      cos_v[i] = cos_h[i];
      sin_v[i] = sin_h[i];
    }
  }
}

// Where one token's heads start in one of query / key.
template <class X>
struct TokenHeads {
  const X* in;
  X* out;
  int64_t in_head_stride, out_head_stride;

  __device__ __forceinline__ TokenHeads(const HeadTensor& t, int64_t token, int64_t seq,
                                        int64_t num_tokens)
      : in(static_cast<const X*>(t.in) +
           token_offset(token, seq, num_tokens, t.in_batch_stride, t.in_seq_stride)),
        out(static_cast<X*>(t.out) +
            token_offset(token, seq, num_tokens, t.out_batch_stride, t.out_seq_stride)),
        in_head_stride(t.in_head_stride),
        out_head_stride(t.out_head_stride) {}
};

// One thread's share of a token: kHeadsInFlight heads (query heads first, then key heads) whose
// loads are all issued before any store, because the compiler cannot move a load above a store
// that may alias it. The first batch is loaded before the position, so the x loads overlap the
// dependent position -> cache-row loads instead of waiting behind them.
template <class X, bool kNeox, int kPairs, int kHeadsInFlight>
struct HeadBatch {
  Chunk<X, kNeox, kPairs> data[kHeadsInFlight];

  __device__ __forceinline__ void load(const TokenHeads<X>& query, const TokenHeads<X>& key,
                                       int num_heads, int total_heads, int first_head, int step,
                                       int half, int chunk) {
#pragma unroll
    for (int j = 0; j < kHeadsInFlight; ++j) {
      const int head = first_head + j * step;
      if (head < num_heads)
        data[j].load(query.in + head * query.in_head_stride, half, chunk);
      else if (head < total_heads)
        data[j].load(key.in + (head - num_heads) * key.in_head_stride, half, chunk);
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
      data[j].store(out, half, chunk);
      if (p.copy_tail) {
        const X* in = is_key ? key.in + h * key.in_head_stride : query.in + h * query.in_head_stride;
        for (int e = p.rotary_dim + chunk; e < p.head_size; e += chunks) out[e] = in[e];
      }
    }
  }
};

// kMrope: multimodal RoPE (a separate instantiation, so plain RoPE carries none of its code).
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, bool kMrope>
__global__ void __launch_bounds__(512) rotary(const RotaryParams p, const LaunchShape shape) {
  // 32-bit indexing: the host keeps total_threads below 2^32 (launch_config.cpp).
  const uint32_t thread = blockIdx.x * blockDim.x + threadIdx.x;
  if (thread >= shape.total_threads) return;
  const uint32_t chunks = uint32_t(shape.chunks_per_head);
  const uint32_t units_per_token = uint32_t(shape.head_groups) * chunks;
  const uint32_t token32 = thread / units_per_token;
  const uint32_t unit = thread - token32 * units_per_token;
  const int group = int(unit / chunks);
  const int chunk = int(unit - uint32_t(group) * chunks);
  const int64_t token = token32;
  const int half = p.rotary_dim / 2;
  const int total_heads = p.num_heads + p.num_kv_heads;
  const int step = shape.head_groups;

  const TokenHeads<X> query(p.query, token, p.seq, p.num_tokens);
  const TokenHeads<X> key(p.key, token, p.seq, p.num_tokens);
  HeadBatch<X, kNeox, kPairs, kHeadsInFlight> batch;
  batch.load(query, key, p.num_heads, total_heads, group, step, half, chunk);

  float cos_v[kPairs], sin_v[kPairs];
  if constexpr (kMrope)
    load_mrope_factors<C, kPairs>(p, token, half, chunk, cos_v, sin_v);
  else
    load_factors<C, kPairs>(p, token, half, chunk, cos_v, sin_v);

  for (int first_head = group;;) {
    batch.rotate_and_store(p, query, key, first_head, step, half, chunk, int(chunks), cos_v, sin_v);
    first_head += kHeadsInFlight * step;
    if (first_head >= total_heads) break;
    batch.load(query, key, p.num_heads, total_heads, first_head, step, half, chunk);
  }
}

}  // namespace kernel
}  // namespace ropekit::cuda
