// The CUDA kernels' building blocks, as device functions: load a chunk of a head, find its cos/sin
// (one row, or multimodal RoPE's three streams), rotate it, store it. kernels.cuh composes them.
//
// Work decomposition: one thread owns one "chunk" of kPairs rotation pairs of a head and walks a
// stride of heads of one token (heads_per_thread of them), so the cos/sin it loads for its chunk
// are reused across those heads. Adjacent threads own adjacent chunks of the same head, then the
// next head, then the next token: a warp reads and writes contiguous bytes.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda/params.hpp"

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

// A cos/sin cache element: float, or 16 bits that are float16 or bfloat16 (the same kernels serve
// both; RotaryParams::cache_bf16 says which).
template <CacheWidth kWidth>
using CacheElement = std::conditional_t<kWidth == CacheWidth::b32, float, unsigned short>;
__device__ __forceinline__ float cache_to_float(float v, const RotaryParams&) { return v; }
__device__ __forceinline__ float cache_to_float(unsigned short v, const RotaryParams& p) {
  return p.cache_bf16 ? __uint_as_float(uint32_t(v) << 16) : __half2float(__ushort_as_half(v));
}

template <class T> __device__ __forceinline__ T from_float(float v);
// Round to nearest even, like src/core/numeric.hpp.
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// q/k accesses, plain or streaming. Streaming marks the lines evict-first in L1 and L2
// (ld.global.cs / st.global.cs): q and k pass through once, while the cos/sin cache is shared by
// every call, so its rows stay in L2 instead of being pushed out by q and k. The host asks for it
// only when every access covers whole 32-byte sectors: a store that fills part of a sector whose
// line was evicted after the load is much slower.
// A value of up to 16 bytes is one access; wider ones (a GPT-J chunk of 32 bytes) are several
// 16-byte ones, copied in and out of the value with memcpy, which stays in registers (a pointer
// cast of a local bfloat16 put it on the stack).
template <int kBytes> struct Word;
template <> struct Word<2> { using type = unsigned short; };
template <> struct Word<4> { using type = unsigned int; };
template <> struct Word<8> { using type = uint2; };
template <> struct Word<16> { using type = uint4; };

template <class V>
__host__ __device__ constexpr int word_bytes() { return sizeof(V) < 16 ? int(sizeof(V)) : 16; }

template <bool kStreaming, class V>
__device__ __forceinline__ V load_x(const V* from) {
  using W = typename Word<word_bytes<V>()>::type;
  constexpr int kWords = int(sizeof(V)) / word_bytes<V>();
  W words[kWords];
#pragma unroll
  for (int i = 0; i < kWords; ++i) {
    const W* at = reinterpret_cast<const W*>(from) + i;
    if constexpr (kStreaming) words[i] = __ldcs(at);
    else words[i] = *at;
  }
  V v;
  memcpy(&v, words, sizeof(V));
  return v;
}
template <bool kStreaming, class V>
__device__ __forceinline__ void store_x(V* to, const V& v) {
  using W = typename Word<word_bytes<V>()>::type;
  constexpr int kWords = int(sizeof(V)) / word_bytes<V>();
  W words[kWords];
  memcpy(words, &v, sizeof(V));
#pragma unroll
  for (int i = 0; i < kWords; ++i) {
    W* at = reinterpret_cast<W*>(to) + i;
    if constexpr (kStreaming) __stcs(at, words[i]);
    else *at = words[i];
  }
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

// The elements of one chunk of one head: for NeoX the chunk's first-half and second-half slices,
// for GPT-J one slice of interleaved pairs; either way 2 * kPairs elements. With one pair per
// thread every element is its own access: the narrow path for pointers or strides that are not
// aligned to a pair (a GPT-J pair is two elements wide).
template <class X, bool kNeox, int kPairs>
struct Chunk {
  Vec<X, kNeox ? kPairs : 2 * kPairs> lo;
  Vec<X, kPairs> hi;  // NeoX only

  template <bool kStreaming>
  __device__ __forceinline__ void load(const X* head, int half, int chunk) {
    using Slice = Vec<X, kNeox ? kPairs : 2 * kPairs>;
    if constexpr (kNeox) {
      lo = load_x<kStreaming>(reinterpret_cast<const Slice*>(head + chunk * kPairs));
      hi = load_x<kStreaming>(reinterpret_cast<const Slice*>(head + half + chunk * kPairs));
    } else if constexpr (kPairs == 1) {
      lo.v[0] = load_x<kStreaming>(head + 2 * chunk);
      lo.v[1] = load_x<kStreaming>(head + 2 * chunk + 1);
    } else {
      lo = load_x<kStreaming>(reinterpret_cast<const Slice*>(head + chunk * 2 * kPairs));
    }
  }
  template <bool kStreaming>
  __device__ __forceinline__ void store(X* head, int half, int chunk) const {
    using Slice = Vec<X, kNeox ? kPairs : 2 * kPairs>;
    if constexpr (kNeox) {
      store_x<kStreaming>(reinterpret_cast<Slice*>(head + chunk * kPairs), lo);
      store_x<kStreaming>(reinterpret_cast<Slice*>(head + half + chunk * kPairs), hi);
    } else if constexpr (kPairs == 1) {
      store_x<kStreaming>(head + 2 * chunk, lo.v[0]);
      store_x<kStreaming>(head + 2 * chunk + 1, lo.v[1]);
    } else {
      store_x<kStreaming>(reinterpret_cast<Slice*>(head + chunk * 2 * kPairs), lo);
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

__host__ __device__ constexpr int stream_count(Streams s) { return s == Streams::one ? 1 : 3; }

// The positions of a token: one, or three streams for multimodal RoPE (held in registers: the
// array is only indexed with compile-time constants).
template <int kCount>
struct TokenPositions {
  int64_t value[kCount];

  __device__ __forceinline__ bool all_ok(const RotaryParams& p) const {
    bool ok = true;
#pragma unroll
    for (int s = 0; s < kCount; ++s) ok = ok && uint64_t(value[s]) < p.max_position;  // < 0 wraps
    return ok;
  }
  // Stream `stream` (0, 1 or 2, known only at run time) without indexing the array at run time.
  __device__ __forceinline__ int64_t of_stream(int stream) const {
    if constexpr (kCount == 1) return value[0];
    else return stream == 0 ? value[0] : stream == 1 ? value[1] : value[2];
  }
};

// Where a token's positions are: computed before the kernel waits for the previous one (no memory
// read), loaded after.
template <int kCount>
struct PositionSource {
  int64_t offset;  // of stream 0, in elements

  __device__ __forceinline__ PositionSource(const RotaryParams& p, const TokenIndex& token)
      : offset(token.offset(p.positions_batch_stride, p.positions_seq_stride)) {}

  __device__ __forceinline__ TokenPositions<kCount> load(const RotaryParams& p) const {
    TokenPositions<kCount> t;
#pragma unroll
    for (int s = 0; s < kCount; ++s) {
      const int64_t at = offset + s * p.positions_stream_stride;
      t.value[s] = p.positions_int64 ? __ldg(static_cast<const long long*>(p.positions) + at)
                                     : __ldg(static_cast<const int*>(p.positions) + at);
    }
    return t;
  }
};

// The stream (0 temporal, 1 height, 2 width) of frequency i, as detail::mrope_stream decides it,
// in 32-bit arithmetic.
template <Streams kStreams>
__device__ __forceinline__ int mrope_stream(const RotaryParams& p, int i) {
  if constexpr (kStreams == Streams::contiguous_sections) {
    return i < p.mrope_bounds[0] ? 0 : i < p.mrope_bounds[1] ? 1 : 2;
  } else {  // the interleaved forms
    const int i_mod_3 = i % 3;
    return i_mod_3 == 1 && i < p.mrope_bounds[0] ? 1 : i_mod_3 == 2 && i < p.mrope_bounds[1] ? 2 : 0;
  }
}

// The streams of a chunk's kPairs frequencies, 2 bits each (interleaved sections; settled before
// the kernel waits for the previous one).
template <int kPairs>
__device__ __forceinline__ uint32_t chunk_streams(const RotaryParams& p, int chunk) {
  uint32_t streams = 0;
#pragma unroll
  for (int i = 0; i < kPairs; ++i)
    streams |= uint32_t(mrope_stream<Streams::interleaved_columns>(p, chunk * kPairs + i)) << (2 * i);
  return streams;
}

// cos/sin of a token with a position outside [0, max_position): NaN (see FactorSource).
template <int kPairs>
__device__ __forceinline__ void fill_nan(float (&cos_v)[kPairs], float (&sin_v)[kPairs]) {
  const float nan = __int_as_float(0x7fc00000);
#pragma unroll
  for (int i = 0; i < kPairs; ++i) cos_v[i] = sin_v[i] = nan;
}

// The chunk's kPairs cos and sin factors from one cache row (sin negated for the inverse).
template <class C, int kPairs>
__device__ __forceinline__ void load_row_slice(const RotaryParams& p, const C* cos_columns,
                                               const C* sin_columns, int64_t position,
                                               float (&cos_v)[kPairs], float (&sin_v)[kPairs]) {
  const uint64_t offset = uint64_t(uint32_t(position)) * p.cache_row_stride;
  const Vec<C, kPairs> c = *reinterpret_cast<const Vec<C, kPairs>*>(cos_columns + offset);
  const Vec<C, kPairs> s = *reinterpret_cast<const Vec<C, kPairs>*>(sin_columns + offset);
#pragma unroll
  for (int i = 0; i < kPairs; ++i) {
    cos_v[i] = cache_to_float(c.v[i], p);
    const float sin = cache_to_float(s.v[i], p);
    sin_v[i] = p.inverse ? -sin : sin;
  }
}

// The chunk's cos/sin factors: which cache columns, and for multimodal RoPE with contiguous
// sections which stream's row the chunk reads, are settled before the kernel waits for the
// previous one; after the wait only position -> range check -> row address -> load remains (32-bit
// row arithmetic: the host rejects caches whose rows or row stride do not fit).
//
// Positions are not checked on the host (that would need a sync): a token with any position
// outside [0, max_position) reads no cache row and gets NaN in its rotary part, so the error is
// visible instead of a plausible unrotated or wrongly rotated value. (A branch, not a select of
// row 0: with selects ptxas issued the second half of the cos/sin loads only after the first half
// had arrived, two cache latencies instead of one.)
//
// Contiguous multimodal sections: the host picks pairs per thread that divide both section
// boundaries, so a chunk lies in one section and reads one row, as plain RoPE does. Interleaved
// sections have their own specialization below.
template <class C, int kPairs, Streams kStreams>
struct FactorSource {
  const C* cos_columns;  // the chunk's cos and sin columns in row 0
  const C* sin_columns;
  int stream = 0;        // contiguous sections: the chunk's stream

  __device__ __forceinline__ FactorSource(const RotaryParams& p, int chunk)
      : cos_columns(static_cast<const C*>(p.cache) + chunk * kPairs),
        sin_columns(cos_columns + p.rotary_dim / 2) {
    if constexpr (kStreams == Streams::contiguous_sections)
      stream = mrope_stream<kStreams>(p, chunk * kPairs);
  }

  __device__ __forceinline__ void load(const RotaryParams& p,
                                       const TokenPositions<stream_count(kStreams)>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    if (!position.all_ok(p)) return fill_nan(cos_v, sin_v);
    load_row_slice(p, cos_columns, sin_columns, position.of_stream(stream), cos_v, sin_v);
  }
};

// What the interleaved columns source starts from: the chunk's columns in row 0 and
// the stream of each of its frequencies, settled before the wait.
template <class C, int kPairs>
struct InterleavedChunk {
  const C* cos_columns;
  const C* sin_columns;
  uint32_t streams;  // chunk_streams

  __device__ __forceinline__ InterleavedChunk(const RotaryParams& p, int chunk)
      : cos_columns(static_cast<const C*>(p.cache) + chunk * kPairs),
        sin_columns(cos_columns + p.rotary_dim / 2),
        streams(chunk_streams<kPairs>(p, chunk)) {}

  __device__ __forceinline__ int stream_of(int i) const { return int((streams >> (2 * i)) & 3u); }
};

// Columns (interleaved sections): each frequency's cos and sin as one scalar load from its own
// stream's row, all issued together: nothing read goes unused and no barrier. Several heads per
// thread share the loads.
template <class C, int kPairs>
struct FactorSource<C, kPairs, Streams::interleaved_columns> : InterleavedChunk<C, kPairs> {
  using InterleavedChunk<C, kPairs>::InterleavedChunk;

  __device__ __forceinline__ void load(const RotaryParams& p, const TokenPositions<3>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    if (!position.all_ok(p)) return fill_nan(cos_v, sin_v);
    const uint64_t rows[3] = {uint64_t(uint32_t(position.value[0])) * p.cache_row_stride,
                              uint64_t(uint32_t(position.value[1])) * p.cache_row_stride,
                              uint64_t(uint32_t(position.value[2])) * p.cache_row_stride};
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int stream = this->stream_of(i);
      const uint64_t row = stream == 0 ? rows[0] : stream == 1 ? rows[1] : rows[2];
      cos_v[i] = cache_to_float(__ldg(this->cos_columns + row + i), p);
      const float s = cache_to_float(__ldg(this->sin_columns + row + i), p);
      sin_v[i] = p.inverse ? -s : s;
    }
  }
};

// Shuffle (interleaved sections): a warp holds one token's chunks of kHeadsPerWarp heads (a head's
// chunks across the block's x); the chunk's lanes in those heads each load kShuffleColumnsPerLane
// of its frequencies (scalar loads, each from its own stream's row) and pass them to one another
// with warp shuffles: one read of the columns per warp, with no shared memory and no block
// barrier. The host (launch_shape_error) guarantees the form: rotary_dim 128, block x = a head's
// chunks, block y a multiple of kHeadsPerWarp head groups, and no warp partly past the last head
// (every lane takes part in the shuffles).
template <class C, int kPairs>
struct FactorSource<C, kPairs, Streams::interleaved_shuffle> {
  static constexpr int kHeadsPerWarp = shuffle_heads_per_warp(kPairs);
  static constexpr int kFetch = kShuffleColumnsPerLane;
  static_assert(kHeadsPerWarp * kShuffleRotaryDim / 2 / kPairs == 32, "a warp is whole heads");
  const C* cos_column;  // the lane's first column in row 0
  const C* sin_column;
  uint32_t streams;     // of its kFetch frequencies, 2 bits each

  __device__ __forceinline__ FactorSource(const RotaryParams& p, int chunk) {
    const int slot = int(threadIdx.y) % kHeadsPerWarp;  // the lane is x + chunks * slot
    const int first = chunk * kPairs + slot * kFetch;
    cos_column = static_cast<const C*>(p.cache) + first;
    sin_column = cos_column + p.rotary_dim / 2;
    streams = 0;
#pragma unroll
    for (int j = 0; j < kFetch; ++j)
      streams |= uint32_t(mrope_stream<Streams::interleaved_columns>(p, first + j)) << (2 * j);
  }

  __device__ __forceinline__ void load(const RotaryParams& p, const TokenPositions<3>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    // The columns source's row pick, written out: reading the lane's columns through it cost
    // registers and speed.
    float c[kFetch], s[kFetch];
    if (position.all_ok(p)) {  // the same for the whole warp (one token)
      const uint64_t rows[3] = {uint64_t(uint32_t(position.value[0])) * p.cache_row_stride,
                                uint64_t(uint32_t(position.value[1])) * p.cache_row_stride,
                                uint64_t(uint32_t(position.value[2])) * p.cache_row_stride};
#pragma unroll
      for (int j = 0; j < kFetch; ++j) {
        const int stream = int((streams >> (2 * j)) & 3u);
        const uint64_t row = stream == 0 ? rows[0] : stream == 1 ? rows[1] : rows[2];
        c[j] = cache_to_float(__ldg(cos_column + row + j), p);
        const float v = cache_to_float(__ldg(sin_column + row + j), p);
        s[j] = p.inverse ? -v : v;
      }
    } else {
      fill_nan(c, s);
    }
    // The chunk's frequency k was loaded by its lane in slot k / kFetch, as that lane's k % kFetch
    // (the same register in every lane: one shuffle per frequency).
#pragma unroll
    for (int k = 0; k < kPairs; ++k) {
      const int source = int(threadIdx.x) + int(blockDim.x) * (k / kFetch);
      cos_v[k] = __shfl_sync(0xffffffffu, c[k % kFetch], source);
      sin_v[k] = __shfl_sync(0xffffffffu, s[k % kFetch], source);
    }
  }
};

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

}  // namespace kernel
}  // namespace ropekit::cuda
