// Multimodal RoPE (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): which position stream (0 temporal, 1 height,
// 2 width) frequency i reads. Header-only so that every backend, host or device, shares one rule.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define ROPEKIT_MROPE_HOST_DEVICE __host__ __device__
#else
#define ROPEKIT_MROPE_HOST_DEVICE
#endif

namespace ropekit::detail {

// section = {s_t, s_h, s_w}, summing to rotary_dim / 2.
// Contiguous (transformers' Qwen2-VL: split by mrope_section, chunk k from stream k % 3):
//   [0, s_t) -> t, [s_t, s_t + s_h) -> h, the rest -> w.
// Interleaved (Qwen3-VL apply_interleaved_mrope): t by default, overwritten by h at i % 3 == 1,
// i < 3 s_h and by w at i % 3 == 2, i < 3 s_w.
ROPEKIT_MROPE_HOST_DEVICE inline int mrope_stream(int64_t i, const int64_t section[3],
                                                  bool interleaved) {
  if (interleaved) {
    if (i % 3 == 1 && i < 3 * section[1]) return 1;
    if (i % 3 == 2 && i < 3 * section[2]) return 2;
    return 0;
  }
  if (i < section[0]) return 0;
  if (i < section[0] + section[1]) return 1;
  return 2;
}

}  // namespace ropekit::detail
