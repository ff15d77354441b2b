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

// q/k accesses, plain or streaming. Streaming marks the lines evict-first in L1 and L2
// (ld.global.cs / st.global.cs): q and k pass through once, while the cos/sin cache is shared by
// every call, so its rows stay in L2 instead of being pushed out by q and k (H200,
// docs/BENCHMARKS.md: glm4-9b at T = 16384 39.4 instead of 42.5 us). The host asks for it only
// when every access covers whole 32-byte sectors: where a store fills part of a sector whose
// line was evicted after the load (neox-20b, 48 rotary bytes per head), it ran 2.6x slower.
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

// The block's barrier, reached from different call sites (the threads with work and the idle ones
// at the grid's edges): barrier.sync without .aligned. __syncthreads is bar.sync, i.e.
// barrier.sync.aligned, which requires every thread of a warp to execute the same instruction; a
// warp split between the two sites hung on the H200.
__device__ __forceinline__ void block_barrier() { asm volatile("barrier.sync 0;" ::: "memory"); }

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

// Which positions a kernel instantiation reads, and for interleaved multimodal sections how it
// gets a chunk's cos/sin (InterleavedSource): one stream, or multimodal RoPE's three with
// contiguous or interleaved sections (separate instantiations, so plain RoPE carries none of the
// multimodal code and each multimodal form only its own).
enum class Streams {
  one,
  contiguous_sections,
  interleaved_gather,
  interleaved_rows,
  interleaved_columns,
  interleaved_shuffle,
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
    streams |= uint32_t(mrope_stream<Streams::interleaved_rows>(p, chunk * kPairs + i)) << (2 * i);
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
    cos_v[i] = to_float(c.v[i]);
    sin_v[i] = p.inverse ? -to_float(s.v[i]) : to_float(s.v[i]);
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

// Interleaved multimodal sections (neighbouring frequencies belong to different streams), four
// ways to get a chunk's factors (InterleavedSource, chosen per launch in launch_config.cpp).
//
// Gather: the threads of one token in a block first copy that token's cos/sin columns into shared
// memory, each column read once from its own stream's row (what plain RoPE reads: one cache
// element per column), then each thread takes its chunk's factors from there. Least cache traffic
// per head, but the block waits at its barrier for the slowest of the three random rows: the
// fastest only around one to two waves of one-head threads (H200, Qwen3-VL-8B at T = 512: 1.23x
// plain RoPE, the others 1.43x and more). Every thread of the block calls `load` or `take_part`
// exactly once: both hold the block's barrier.
template <class C, int kPairs>
struct FactorSource<C, kPairs, Streams::interleaved_gather> {
  float* row;     // this token's cos columns, then its sin columns, in shared memory
  int columns;    // frequencies of the block's chunks: blockDim.x * kPairs
  int first;      // the first of them

  // `chunk` is any of the block's chunks: the block's first is chunk - threadIdx.x.
  __device__ __forceinline__ FactorSource(const RotaryParams&, int chunk)
      : columns(int(blockDim.x) * kPairs),
        first((chunk - int(threadIdx.x)) * kPairs) {
    extern __shared__ float4 gathered[];  // 16-byte aligned: chunks are read as vectors
    row = reinterpret_cast<float*>(gathered) + threadIdx.z * 2 * columns;
  }

  // The token's columns, shared out over the threads of its slice of the block (all of its head
  // groups), then the barrier.
  __device__ __forceinline__ void gather(const RotaryParams& p,
                                         const TokenPositions<3>& position) const {
    const bool ok = position.all_ok(p);
    const int half = p.rotary_dim / 2;
    const int lanes = int(blockDim.x * blockDim.y);
    const C* cache = static_cast<const C*>(p.cache);
    for (int e = int(threadIdx.x + blockDim.x * threadIdx.y); e < 2 * columns; e += lanes) {
      const bool is_sin = e >= columns;
      const int i = first + (is_sin ? e - columns : e);
      if (i >= half) continue;  // the last block of a head split over several
      float v = __int_as_float(0x7fc00000);
      if (ok) {
        const int stream = mrope_stream<Streams::interleaved_gather>(p, i);
        const uint32_t at = uint32_t(position.of_stream(stream));
        const C* element = cache + uint64_t(at) * p.cache_row_stride + (is_sin ? half : 0) + i;
        v = to_float(__ldg(element));
        if (is_sin && p.inverse) v = -v;
      }
      row[e] = v;
    }
    block_barrier();
  }

  __device__ __forceinline__ void load(const RotaryParams& p, const TokenPositions<3>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    gather(p, position);
    const int at = int(threadIdx.x) * kPairs;
    const Vec<float, kPairs> c = *reinterpret_cast<const Vec<float, kPairs>*>(row + at);
    const Vec<float, kPairs> s = *reinterpret_cast<const Vec<float, kPairs>*>(row + columns + at);
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      cos_v[i] = c.v[i];
      sin_v[i] = s.v[i];
    }
  }

  // A thread with no head or chunk of its own (the edges of the grid): its share of the gather
  // when its token exists, and the barrier.
  // `chunk`: the thread's chunk index, past the head's end or not (it only locates the block).
  __device__ __forceinline__ static void take_part(const RotaryParams& p, uint32_t token,
                                                   int chunk) {
    if (token >= p.num_tokens) {
      block_barrier();
      return;
    }
    const TokenIndex where(p, token);
    const PositionSource<3> positions(p, where);
    const FactorSource factors(p, chunk);
    wait_for_previous_kernel();
    factors.gather(p, positions.load(p));
  }
};

// What the barrier-free interleaved sources below start from: the chunk's columns in row 0 and
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

// Rows (interleaved sections): the chunk's slice of the temporal, height and width rows as vector
// loads issued together (one dependent step, as plain RoPE), then a pick per frequency: two
// thirds of what each thread reads goes unused, which costs nothing on small launches (H200,
// Qwen3-VL-8B, one head per thread in blocks of 64: T <= 64 within 6% of plain RoPE, the gather
// 8-15% behind) and too much L1 traffic and too many registers on large ones.
template <class C, int kPairs>
struct FactorSource<C, kPairs, Streams::interleaved_rows> : InterleavedChunk<C, kPairs> {
  using InterleavedChunk<C, kPairs>::InterleavedChunk;

  __device__ __forceinline__ void load(const RotaryParams& p, const TokenPositions<3>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    if (!position.all_ok(p)) return fill_nan(cos_v, sin_v);
    float cos_h[kPairs], sin_h[kPairs], cos_w[kPairs], sin_w[kPairs];
    load_row_slice(p, this->cos_columns, this->sin_columns, position.value[0], cos_v, sin_v);
    load_row_slice(p, this->cos_columns, this->sin_columns, position.value[1], cos_h, sin_h);
    load_row_slice(p, this->cos_columns, this->sin_columns, position.value[2], cos_w, sin_w);
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int stream = this->stream_of(i);
      cos_v[i] = stream == 0 ? cos_v[i] : stream == 1 ? cos_h[i] : cos_w[i];
      sin_v[i] = stream == 0 ? sin_v[i] : stream == 1 ? sin_h[i] : sin_w[i];
    }
  }
};

// Columns (interleaved sections): each frequency's cos and sin as one scalar load from its own
// stream's row, all issued together: nothing read goes unused, no barrier, fewer registers than
// rows. Several heads per thread share the loads (H200, Qwen3-VL-8B at T = 16384 with 8 heads per
// thread: 1.05x plain RoPE, the gather 1.17x).
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
      cos_v[i] = to_float(__ldg(this->cos_columns + row + i));
      const float s = to_float(__ldg(this->sin_columns + row + i));
      sin_v[i] = p.inverse ? -s : s;
    }
  }
};

// Shuffle (interleaved sections): a warp holds one token's chunks of kShuffleHeadsPerWarp heads
// (a head's chunks across the block's x); the chunk's lanes in those heads each load
// kShuffleColumnsPerLane of its frequencies (scalar loads, each from its own stream's row) and pass
// them to one another with warp shuffles. One read of the columns per four heads, as plain RoPE's
// one-head threads read one row per head, without the gather's shared memory and block barrier:
// H200, Qwen3-VL-8B at T = 512-4096 with random positions shared by every call, 1.01-1.08x plain
// RoPE against the gather's 1.11-1.16x (docs/BENCHMARKS.md). The host (shuffle_fits,
// launch_shape_error) guarantees the form: 8 pairs, rotary_dim 128, block x = the 8 chunks, block
// y a multiple of four head groups, and no warp partly past the last head (every lane takes part
// in the shuffles).
template <class C, int kPairs>
struct FactorSource<C, kPairs, Streams::interleaved_shuffle> {
  static_assert(kPairs == kShufflePairs, "the shuffle source has one form (rotary_params.hpp)");
  static constexpr int kFetch = kShuffleColumnsPerLane;
  const C* cos_column;  // the lane's first column in row 0
  const C* sin_column;
  uint32_t streams;     // of its kFetch frequencies, 2 bits each

  __device__ __forceinline__ FactorSource(const RotaryParams& p, int chunk) {
    const int slot = int(threadIdx.y) % kShuffleHeadsPerWarp;  // the lane is x + 8 * slot
    const int first = chunk * kPairs + slot * kFetch;
    cos_column = static_cast<const C*>(p.cache) + first;
    sin_column = cos_column + p.rotary_dim / 2;
    streams = 0;
#pragma unroll
    for (int j = 0; j < kFetch; ++j)
      streams |= uint32_t(mrope_stream<Streams::interleaved_rows>(p, first + j)) << (2 * j);
  }

  __device__ __forceinline__ void load(const RotaryParams& p, const TokenPositions<3>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    // The same row pick as the columns source, written out: reading the lane's columns through a
    // FactorSource<C, kFetch, interleaved_columns> gave ptxas 40 registers instead of 32 and ran
    // 1.08-1.13x plain RoPE at 4096-8192 tokens instead of 1.03-1.07x (H200, 2026-12-03).
    float c[kFetch], s[kFetch];
    if (position.all_ok(p)) {  // the same for the whole warp (one token)
      const uint64_t rows[3] = {uint64_t(uint32_t(position.value[0])) * p.cache_row_stride,
                                uint64_t(uint32_t(position.value[1])) * p.cache_row_stride,
                                uint64_t(uint32_t(position.value[2])) * p.cache_row_stride};
#pragma unroll
      for (int j = 0; j < kFetch; ++j) {
        const int stream = int((streams >> (2 * j)) & 3u);
        const uint64_t row = stream == 0 ? rows[0] : stream == 1 ? rows[1] : rows[2];
        c[j] = to_float(__ldg(cos_column + row + j));
        const float v = to_float(__ldg(sin_column + row + j));
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

// Bytes of shared memory a block of `shape` needs: the interleaved gather's rows.
__host__ __device__ constexpr unsigned shared_bytes(Streams streams, int pairs,
                                                    const unsigned (&block)[3]) {
  return streams == Streams::interleaved_gather ? block[0] * unsigned(pairs) * 2 * block[2] * 4
                                                : 0;
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

// kStreams: plain or multimodal RoPE (separate instantiations); kStreaming: q/k accesses marked
// evict-first (load_x / store_x; the host decides). Thread (chunk, group, token) comes from the
// 3-D block and the block's index (BlockIndex: the 3-D grid, or the token-major 1-D one).
// Programmatic dependent launch: the next kernel may be scheduled at once; this one waits for the
// previous kernel's results only once its addresses are computed (threads outside the problem
// exit without touching memory).
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, Streams kStreams,
          bool kStreaming>
__global__ void __launch_bounds__(kMaxBlockThreads) rotary(const __grid_constant__ RotaryParams p) {
  // The interleaved gather and shuffle always run in the 3-D grid order (order_grid): no decode.
  const BlockIndex block = kStreams == Streams::interleaved_gather ||
                                   kStreams == Streams::interleaved_shuffle
                               ? BlockIndex(blockIdx.x, blockIdx.y, blockIdx.z)
                               : BlockIndex(p, blockIdx.x, blockIdx.y, blockIdx.z);
  const uint32_t token = block.token * blockDim.z + threadIdx.z;
  const int group = int(block.group * blockDim.y + threadIdx.y);
  const int chunk = int(block.chunk * blockDim.x + threadIdx.x);
  allow_next_kernel_to_launch();
  if (token >= p.num_tokens || group >= p.head_groups || chunk >= p.chunks_per_head) {
    if constexpr (kStreams == Streams::interleaved_gather)
      FactorSource<C, kPairs, kStreams>::take_part(p, token, chunk);
    return;
  }
  const TokenIndex where(p, token);
  if constexpr (kHeadsInFlight == 1)
    rotate_one_head<X, C, kNeox, kPairs, kStreams, kStreaming>(p, where, group, chunk);  // 1 head
  else
    rotate_head_group<X, C, kNeox, kPairs, kHeadsInFlight, kStreams, kStreaming>(p, where, group,
                                                                                chunk);
}

}  // namespace kernel
}  // namespace ropekit::cuda
