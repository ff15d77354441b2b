// How fast the DRAM serves the access pattern of a partial-rotary layout, apart from any RoPE
// work (`gpu_bench --access-patterns`): q and k seen as one array of heads, each thread one
// 16-byte piece of the first `pieces_per_head` pieces of a head. Reading only, writing only, or
// both, next to reading whole heads and reading the same bytes laid out contiguously. A rotary
// kernel has to read and write the rotary pieces, so the read-only and write-only times bound it
// from below whatever its launch shape.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace ropekit::bench {

enum class PatternAccess { read, write, read_write };

// heads: heads in the array; head_pieces: 16-byte pieces per head (its stride);
// pieces_per_head: the pieces touched at the start of each head. A read-only pass stores nothing
// unless a piece holds an impossible value (every word all ones: a bf16 NaN pattern the fill never
// makes), so the loads cannot be dropped.
template <PatternAccess kAccess>
__global__ void touch_pattern(uint4* data, int64_t heads, int head_pieces, int pieces_per_head,
                              unsigned* sink) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= heads * pieces_per_head) return;
  const int64_t head = i / pieces_per_head;
  uint4* piece = data + head * head_pieces + (i - head * pieces_per_head);
  if constexpr (kAccess == PatternAccess::read) {
    const uint4 v = *piece;
    if ((v.x & v.y & v.z & v.w) == 0xffffffffu) *sink = v.x;
  } else if constexpr (kAccess == PatternAccess::write) {
    *piece = make_uint4(unsigned(i), unsigned(i) ^ 0x55u, 7u, 9u);
  } else {
    uint4 v = *piece;
    v.x ^= 0x80008000u;
    *piece = v;
  }
}

inline void launch_pattern(PatternAccess access, uint4* data, int64_t heads, int head_pieces,
                           int pieces_per_head, unsigned* sink, cudaStream_t stream) {
  const int64_t threads = heads * pieces_per_head;
  const unsigned blocks = unsigned((threads + 255) / 256);
  switch (access) {
    case PatternAccess::read:
      touch_pattern<PatternAccess::read><<<blocks, 256, 0, stream>>>(data, heads, head_pieces,
                                                                     pieces_per_head, sink);
      break;
    case PatternAccess::write:
      touch_pattern<PatternAccess::write><<<blocks, 256, 0, stream>>>(data, heads, head_pieces,
                                                                      pieces_per_head, sink);
      break;
    case PatternAccess::read_write:
      touch_pattern<PatternAccess::read_write><<<blocks, 256, 0, stream>>>(
          data, heads, head_pieces, pieces_per_head, sink);
      break;
  }
}

}  // namespace ropekit::bench
