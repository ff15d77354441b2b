// The bytes a plain-RoPE call must move at least (issue 3's count), for GB/s and the copy it is
// compared with: the 32-byte sectors holding the rotary part of every q and k head, read and
// written, plus one cos/sin row and one int64 position per token, read once.
#pragma once
#include <cstdint>

#include "common/model_shapes.hpp"

namespace ropekit::bench {

// Bytes of the 32-byte sectors covering [start, start + length).
inline int64_t sector_bytes(int64_t start, int64_t length) {
  return ((start + length + 31) / 32 - start / 32) * 32;
}

// bf16 q/k rows start on 32-byte boundaries in every benchmarked shape (head_size * heads * 2 is a
// multiple of 32), so one token's sectors are the same for every token.
inline int64_t counted_bytes(const ropekit::shapes::ModelShape& shape, int64_t tokens) {
  int64_t bytes = 0;
  for (const int64_t heads : {shape.num_heads, shape.num_kv_heads})
    for (int64_t h = 0; h < heads; ++h)
      bytes += 2 * tokens * sector_bytes(h * shape.head_size * 2, shape.rotary_dim * 2);
  return bytes + tokens * (sector_bytes(0, shape.rotary_dim * 4) + 8);
}

}  // namespace ropekit::bench
