// One plain-RoPE problem as a list of choices (shape, dtypes, layout, direction), and the random
// draw over the whole argument surface that the C++ tests and `ropekit verify` both sweep.
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <string>

#include "ropekit/ropekit.hpp"

namespace ropekit::check {

struct Case {
  int64_t batch = 0;   // 0: positions [T] and query [T, ...]; else positions [batch, seq]
  int64_t tokens = 7;  // T, or seq when batch > 0
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;  // 0: no key
  int64_t head_size = 64;
  int64_t rotary_dim = 64;
  bool is_neox = true;
  DType x_dtype = DType::float32;
  DType cache_dtype = DType::float32;
  DType positions_dtype = DType::int64;
  bool fused_qkv = false;       // q and k are strided views of one [T, (nh + 2 nkv) * hs] buffer
  bool explicit_heads = false;  // [.., nh, hs] instead of [.., nh * hs]
  bool out_of_place = false;    // outputs in their own buffers, poisoned with NaN
  bool inverse = false;
  int64_t max_position = 4096;
  int64_t token_padding = 0;    // extra elements at the end of each token's row
  int64_t head_padding = 0;     // extra elements between heads (explicit_heads, not fused)
  int64_t batch_gap = 0;        // extra rows between batches ([B, S] forms): not collapsible
  int64_t cache_row_padding = 0;
  // A real cos/sin cache (rope_theta 10000) instead of random values in [-1, 1]: repeated in-place
  // calls, as when timing, then keep the data's magnitude instead of overflowing.
  bool rope_cache = false;
  // Multimodal RoPE (batch 0, NeoX pairs): frequencies per position stream (t, h, w), positions
  // [3, T]; all 0 for plain RoPE.
  std::array<int64_t, 3> mrope_section{0, 0, 0};
  bool mrope_interleaved = false;

  bool mrope() const { return mrope_section[0] + mrope_section[1] + mrope_section[2] > 0; }
  int64_t total_tokens() const { return batch > 0 ? batch * tokens : tokens; }
  std::string describe() const;
};

// A random case over the whole argument surface: head sizes 8..256, full to quarter rotation and
// GPT-NeoX's 24 of 96, MHA/GQA/MQA/no key, fused-qkv views, [B, S] forms with gaps, padded rows,
// heads and cache rows, int32/int64 positions, every dtype, out of place, inverse. Plain RoPE
// only: the GPU launch tests feed these cases to launch shapes of the plain kernels.
Case random_case(std::mt19937_64& rng);

// Case `index` of a sweep: random_case, but the (x, cache) dtype pair cycles with `index`, so
// every pair of the nine appears in any nine consecutive cases, and about one case in four that
// can be (batch 0, NeoX pairs) is multimodal RoPE, split and interleaved at random.
Case random_case(std::mt19937_64& rng, int64_t index);

// A 64-bit seed from std::random_device: every run draws new data (print it on failure).
uint64_t fresh_seed();

}  // namespace ropekit::check
