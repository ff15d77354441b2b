// The cos/sin cache for plain RoPE. Angles in float64, rounded once to the output dtype.
// (Scaled variants build their inv_freq elsewhere and reuse build_cos_sin_cache.)
#pragma once
#include <cstdint>
#include <vector>

#include "ropekit/export.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit {

// inv_freq[i] = 1 / theta^(2i / rotary_dim), i in [0, rotary_dim / 2).
ROPEKIT_CXX_API std::vector<double> default_inv_freq(double rope_theta, int64_t rotary_dim);

// Writes row p = [cos(p*f_0) .. cos(p*f_{h-1}), sin(p*f_0) .. sin(p*f_{h-1})] * attention_factor
// for p in [0, max_position) into `out`, a CPU tensor [max_position, 2 * inv_freq.size()] of
// float32, float16, bfloat16 or float64 (rows may be strided, the last dimension contiguous).
ROPEKIT_CXX_API void build_cos_sin_cache(const std::vector<double>& inv_freq,
                                         double attention_factor, const TensorView& out);

}  // namespace ropekit
