// The CUDA rotary kernel as a header template, so the backend and the GPU benchmark (which sweeps
// launch shapes) compile the same code. Host code that picks the template arguments and the launch
// shape lives in launch_config.hpp and cuda_backend.cu.
//
// Work decomposition: one thread owns one "chunk" of kPairs rotation pairs of a head and walks a
// stride of heads of one token (heads_per_thread of them), so the cos/sin it loads for its chunk
// are reused across those heads. Adjacent threads own adjacent chunks of the same head, then the
// next head, then the next token: a warp reads and writes contiguous bytes.
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

// Programmatic dependent launch (sm_90+; no-ops when the kernel was launched without it). The
// trigger lets the next kernel on the stream be scheduled while this one runs (it still waits for
// this one to finish before touching memory); the wait holds this kernel until the previous one has
// finished and its writes are visible, so nothing is read early.
__device__ __forceinline__ void allow_next_kernel_to_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// A token's (batch, seq) coordinates, computed once per thread; every tensor's offset follows
// from its own strides. When the host collapsed (batch, seq) into one token axis, no division.
struct TokenIndex {
  uint32_t batch, seq;

  __device__ __forceinline__ TokenIndex(const RotaryParams& p, uint32_t token) {
    if (p.seq == p.num_tokens) {
      batch = 0;
      seq = token;
    } else {
      batch = token / p.seq;
      seq = token - batch * p.seq;
    }
  }
  __device__ __forceinline__ int64_t offset(int64_t batch_stride, int64_t seq_stride) const {
    return int64_t(batch) * batch_stride + int64_t(seq) * seq_stride;
  }
};

__device__ __forceinline__ int64_t load_position(const RotaryParams& p, const TokenIndex& token,
                                                 int stream) {
  const int64_t offset = token.offset(p.positions_batch_stride, p.positions_seq_stride) +
                         stream * p.positions_stream_stride;
  return p.positions_int64 ? __ldg(static_cast<const long long*>(p.positions) + offset)
                           : __ldg(static_cast<const int*>(p.positions) + offset);
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

// The positions of a token: one, or three streams for multimodal RoPE (held in registers: the
// array is only indexed with compile-time constants).
template <int kStreams>
struct TokenPositions {
  int64_t value[kStreams];

  __device__ __forceinline__ TokenPositions(const RotaryParams& p, const TokenIndex& token) {
#pragma unroll
    for (int s = 0; s < kStreams; ++s) value[s] = load_position(p, token, s);
  }
  __device__ __forceinline__ bool all_ok(const RotaryParams& p) const {
    bool ok = true;
#pragma unroll
    for (int s = 0; s < kStreams; ++s) ok = ok && position_ok(p, value[s]);
    return ok;
  }
  // Stream `stream` (0, 1 or 2, known only at run time) without indexing the array at run time.
  __device__ __forceinline__ int64_t of_stream(int stream) const {
    if constexpr (kStreams == 1) return value[0];
    else return stream == 0 ? value[0] : stream == 1 ? value[1] : value[2];
  }
};

template <class C, int kPairs>
__device__ __forceinline__ void load_factors(const RotaryParams& p,
                                             const TokenPositions<1>& position, int half, int chunk,
                                             float (&cos_v)[kPairs], float (&sin_v)[kPairs]) {
  if (position.all_ok(p))
    load_row_factors<C, kPairs>(p, position.value[0], half, chunk, cos_v, sin_v);
  else
    fill_nan(cos_v, sin_v);
}

// The stream (0 temporal, 1 height, 2 width) of frequency i, as detail::mrope_stream decides it,
// in 32-bit arithmetic; i_mod_3 is i % 3.
__device__ __forceinline__ int mrope_stream(const RotaryParams& p, int i, int i_mod_3) {
  if (p.mrope_interleaved)
    return i_mod_3 == 1 && i < p.mrope_bounds[0] ? 1 : i_mod_3 == 2 && i < p.mrope_bounds[1] ? 2 : 0;
  return i < p.mrope_bounds[0] ? 0 : i < p.mrope_bounds[1] ? 1 : 2;
}

// Multimodal RoPE. A chunk that lies in one section (contiguous sections that are multiples of
// kPairs: every real config) reads one row, as plain RoPE does. Otherwise (interleaved sections,
// where neighbouring frequencies belong to different streams, or a chunk straddling a boundary)
// each frequency reads its cos and sin from its own stream's row: two scalar loads per pair, no
// more bytes than plain RoPE. Any stream out of range makes the token NaN.
template <class C, int kPairs>
__device__ __forceinline__ void load_mrope_factors(const RotaryParams& p,
                                                   const TokenPositions<3>& position, int half,
                                                   int chunk, float (&cos_v)[kPairs],
                                                   float (&sin_v)[kPairs]) {
  if (!position.all_ok(p)) {
    fill_nan(cos_v, sin_v);
    return;
  }
  const int first = chunk * kPairs;
  const int first_mod_3 = first % 3;
  const int last = first + kPairs - 1;
  const int first_stream = mrope_stream(p, first, first_mod_3);
  if (!p.mrope_interleaved && first_stream == mrope_stream(p, last, last % 3)) {
    load_row_factors<C, kPairs>(p, position.of_stream(first_stream), half, chunk, cos_v, sin_v);
    return;
  }
  const C* cache = static_cast<const C*>(p.cache);
  const C* rows[3];  // indexed with compile-time constants only (selects below)
#pragma unroll
  for (int s = 0; s < 3; ++s) rows[s] = cache + position.value[s] * p.cache_row_stride;
  int i_mod_3 = first_mod_3;
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    const int stream = mrope_stream(p, first + i, i_mod_3);
    const C* row = stream == 0 ? rows[0] : stream == 1 ? rows[1] : rows[2];
    cos_v[i] = to_float(row[first + i]);
    const float s = to_float(row[half + first + i]);
    sin_v[i] = p.inverse ? -s : s;
    i_mod_3 = i_mod_3 == 2 ? 0 : i_mod_3 + 1;
  }
}

// Where one token's heads start in one of query / key.
template <class X>
struct TokenHeads {
  const X* in;
  X* out;
  int64_t in_head_stride, out_head_stride;

  __device__ __forceinline__ TokenHeads(const HeadTensor& t, const TokenIndex& token)
      : in(static_cast<const X*>(t.in) + token.offset(t.in_batch_stride, t.in_seq_stride)),
        out(static_cast<X*>(t.out) + token.offset(t.out_batch_stride, t.out_seq_stride)),
        in_head_stride(t.in_head_stride),
        out_head_stride(t.out_head_stride) {}
};

// One thread's share of a token: kHeadsInFlight heads (query heads first, then key heads) whose
// loads are all issued before any store, because the compiler cannot move a load above a store
// that may alias it. The first batch is loaded right after the position, so the x loads overlap
// the dependent position -> cache-row loads instead of waiting behind them.
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
// Thread (chunk, group, token) comes straight from the 3-D block and grid (LaunchShape). The
// position is loaded first: position -> cache row -> rotate -> store is the critical chain, and
// the x loads and the address arithmetic overlap it.
template <class X, class C, bool kNeox, int kPairs, bool kMrope>
__device__ __forceinline__ void load_token_factors(const RotaryParams& p,
                                                   const TokenPositions<kMrope ? 3 : 1>& position,
                                                   int half, int chunk, float (&cos_v)[kPairs],
                                                   float (&sin_v)[kPairs]) {
  if constexpr (kMrope)
    load_mrope_factors<C, kPairs>(p, position, half, chunk, cos_v, sin_v);
  else
    load_factors<C, kPairs>(p, position, half, chunk, cos_v, sin_v);
}

// One head per thread: only that head's two pointers live across the position -> cache-row
// chain, not the four base pointers and strides a thread walking heads needs. Fewer registers
// (64 -> see the resource report) mean more resident threads and more bytes in flight.
template <class X, class C, bool kNeox, int kPairs, bool kMrope>
__device__ __forceinline__ void rotate_one_head(const RotaryParams& p, const TokenIndex& where,
                                                int head, int chunk) {
  const TokenPositions<kMrope ? 3 : 1> position(p, where);
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
  const int half = p.rotary_dim / 2;
  Chunk<X, kNeox, kPairs> data;
  data.load(in, half, chunk);
  float cos_v[kPairs], sin_v[kPairs];
  load_token_factors<X, C, kNeox, kPairs, kMrope>(p, position, half, chunk, cos_v, sin_v);
  X* out = static_cast<X*>(is_key ? p.key.out : p.query.out) + out_offset;
  data.rotate(cos_v, sin_v);
  data.store(out, half, chunk);
  if (p.copy_tail)
    for (int e = p.rotary_dim + chunk; e < p.head_size; e += p.chunks_per_head) out[e] = in[e];
}

// kMrope: multimodal RoPE (a separate instantiation, so plain RoPE carries none of its code).
// Thread (chunk, group, token) comes straight from the 3-D block and grid (LaunchShape). The
// position is loaded first: position -> cache row -> rotate -> store is the critical chain, and
// the x loads and the address arithmetic overlap it.
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, bool kMrope>
__global__ void __launch_bounds__(kMaxBlockThreads) rotary(const __grid_constant__ RotaryParams p) {
  const uint32_t token = blockIdx.x * blockDim.z + threadIdx.z;
  const int group = int(blockIdx.y * blockDim.y + threadIdx.y);
  const int chunk = int(blockIdx.z * blockDim.x + threadIdx.x);
  allow_next_kernel_to_launch();
  wait_for_previous_kernel();
  if (token >= p.num_tokens || group >= p.head_groups || chunk >= p.chunks_per_head) return;
  const TokenIndex where(p, token);
  if constexpr (kHeadsInFlight == 1) {
    // One head per thread (head_groups == heads).
    rotate_one_head<X, C, kNeox, kPairs, kMrope>(p, where, group, chunk);
  } else {
    const TokenPositions<kMrope ? 3 : 1> position(p, where);
    const int half = p.rotary_dim / 2;
    const int total_heads = p.num_heads + p.num_kv_heads;
    const int step = p.head_groups;

    const TokenHeads<X> query(p.query, where);
    const TokenHeads<X> key(p.key, where);
    HeadBatch<X, kNeox, kPairs, kHeadsInFlight> batch;
    batch.load(query, key, p.num_heads, total_heads, group, step, half, chunk);

    float cos_v[kPairs], sin_v[kPairs];
    load_token_factors<X, C, kNeox, kPairs, kMrope>(p, position, half, chunk, cos_v, sin_v);

    for (int first_head = group;;) {
      batch.rotate_and_store(p, query, key, first_head, step, half, chunk, p.chunks_per_head,
                             cos_v, sin_v);
      first_head += kHeadsInFlight * step;
      if (first_head >= total_heads) break;
      batch.load(query, key, p.num_heads, total_heads, first_head, step, half, chunk);
    }
  }
}

}  // namespace kernel
}  // namespace ropekit::cuda
