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

// Which positions a kernel instantiation reads: one stream, or multimodal RoPE's three with
// contiguous or interleaved sections (separate instantiations, so plain RoPE carries none of the
// multimodal code and each multimodal form only its own).
enum class Streams { one, contiguous_sections, interleaved_sections };

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
  if constexpr (kStreams == Streams::interleaved_sections) {
    const int i_mod_3 = i % 3;
    return i_mod_3 == 1 && i < p.mrope_bounds[0] ? 1 : i_mod_3 == 2 && i < p.mrope_bounds[1] ? 2 : 0;
  } else {
    return i < p.mrope_bounds[0] ? 0 : i < p.mrope_bounds[1] ? 1 : 2;
  }
}

// The chunk's cos/sin factors: which cache columns, and for multimodal RoPE which stream's row
// each frequency reads, are settled before the kernel waits for the previous one; after the wait
// only position -> range check -> row address -> load remains (32-bit row arithmetic: the host
// rejects caches whose rows or row stride do not fit).
//
// Positions are not checked on the host (that would need a sync): a token with any position
// outside [0, max_position) reads no cache row and gets NaN in its rotary part, so the error is
// visible instead of a plausible unrotated or wrongly rotated value. (A branch, not a select of
// row 0: with selects ptxas issued the second half of the cos/sin loads only after the first half
// had arrived, two cache latencies instead of one.)
//
// Multimodal RoPE. Contiguous sections: the host picks pairs per thread that divide both section
// boundaries, so a chunk lies in one section and reads one row, as plain RoPE does. Interleaved
// sections, where neighbouring frequencies belong to different streams: the chunk's slice of all
// three rows, as vector loads issued together (fewer instructions than a scalar load per
// frequency), then a pick per frequency.
template <class C, int kPairs, Streams kStreams>
struct FactorSource {
  const C* cos_columns;  // the chunk's cos and sin columns in row 0
  const C* sin_columns;
  // Contiguous sections: the chunk's stream. Interleaved: 2 bits per frequency.
  uint32_t streams = 0;

  __device__ __forceinline__ FactorSource(const RotaryParams& p, int chunk)
      : cos_columns(static_cast<const C*>(p.cache) + chunk * kPairs),
        sin_columns(cos_columns + p.rotary_dim / 2) {
    if constexpr (kStreams == Streams::contiguous_sections) {
      streams = uint32_t(mrope_stream<kStreams>(p, chunk * kPairs));
    } else if constexpr (kStreams == Streams::interleaved_sections) {
#pragma unroll
      for (int i = 0; i < kPairs; ++i)
        streams |= uint32_t(mrope_stream<kStreams>(p, chunk * kPairs + i)) << (2 * i);
    }
  }

  __device__ __forceinline__ void load_row(const RotaryParams& p, int64_t position,
                                           float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    const uint64_t offset = uint64_t(uint32_t(position)) * p.cache_row_stride;
    const Vec<C, kPairs> c = *reinterpret_cast<const Vec<C, kPairs>*>(cos_columns + offset);
    const Vec<C, kPairs> s = *reinterpret_cast<const Vec<C, kPairs>*>(sin_columns + offset);
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      cos_v[i] = to_float(c.v[i]);
      sin_v[i] = p.inverse ? -to_float(s.v[i]) : to_float(s.v[i]);
    }
  }

  __device__ __forceinline__ void load(const RotaryParams& p,
                                       const TokenPositions<stream_count(kStreams)>& position,
                                       float (&cos_v)[kPairs], float (&sin_v)[kPairs]) const {
    if (!position.all_ok(p)) {
      const float nan = __int_as_float(0x7fc00000);
#pragma unroll
      for (int i = 0; i < kPairs; ++i) cos_v[i] = sin_v[i] = nan;
      return;
    }
    if constexpr (kStreams == Streams::one) {
      load_row(p, position.value[0], cos_v, sin_v);
    } else if constexpr (kStreams == Streams::contiguous_sections) {
      load_row(p, position.of_stream(int(streams)), cos_v, sin_v);
    } else {
      float cos_h[kPairs], sin_h[kPairs], cos_w[kPairs], sin_w[kPairs];
      load_row(p, position.value[0], cos_v, sin_v);
      load_row(p, position.value[1], cos_h, sin_h);
      load_row(p, position.value[2], cos_w, sin_w);
#pragma unroll
      for (int i = 0; i < kPairs; ++i) {
        const uint32_t stream = (streams >> (2 * i)) & 3u;
        cos_v[i] = stream == 0 ? cos_v[i] : stream == 1 ? cos_h[i] : cos_w[i];
        sin_v[i] = stream == 0 ? sin_v[i] : stream == 1 ? sin_h[i] : sin_w[i];
      }
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

// One head per thread: only that head's two pointers live across the position -> cache-row
// chain, not the four base pointers and strides a thread walking heads needs (fewer registers:
// more resident threads and more bytes in flight). Addresses first, then the wait for the
// previous kernel, then the loads: the position -> cache row -> rotate -> store chain starts
// right at the wait.
template <class X, class C, bool kNeox, int kPairs, Streams kStreams>
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
  data.load(in, half, chunk);
  float cos_v[kPairs], sin_v[kPairs];
  factors.load(p, position, cos_v, sin_v);
  data.rotate(cos_v, sin_v);
  data.store(out, half, chunk);
  if (p.copy_tail)
    for (int e = p.rotary_dim + chunk; e < p.head_size; e += p.chunks_per_head) out[e] = in[e];
}

// Several heads per thread, kHeadsInFlight of them loaded at a time, all rotated with the cos/sin
// the thread loads once. Addresses first, then the wait, as in rotate_one_head.
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, Streams kStreams>
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
  HeadBatch<X, kNeox, kPairs, kHeadsInFlight> batch;
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

// kStreams: plain or multimodal RoPE (separate instantiations). Thread (chunk, group, token)
// comes straight from the 3-D block and grid (LaunchShape). Programmatic dependent launch: the
// next kernel may be scheduled at once; this one waits for the previous kernel's results only
// once its addresses are computed (threads outside the problem exit without touching memory).
template <class X, class C, bool kNeox, int kPairs, int kHeadsInFlight, Streams kStreams>
__global__ void __launch_bounds__(kMaxBlockThreads) rotary(const __grid_constant__ RotaryParams p) {
  const uint32_t token = blockIdx.x * blockDim.z + threadIdx.z;
  const int group = int(blockIdx.y * blockDim.y + threadIdx.y);
  const int chunk = int(blockIdx.z * blockDim.x + threadIdx.x);
  allow_next_kernel_to_launch();
  if (token >= p.num_tokens || group >= p.head_groups || chunk >= p.chunks_per_head) return;
  const TokenIndex where(p, token);
  if constexpr (kHeadsInFlight == 1)
    rotate_one_head<X, C, kNeox, kPairs, kStreams>(p, where, group, chunk);  // groups == heads
  else
    rotate_head_group<X, C, kNeox, kPairs, kHeadsInFlight, kStreams>(p, where, group, chunk);
}

}  // namespace kernel
}  // namespace ropekit::cuda
