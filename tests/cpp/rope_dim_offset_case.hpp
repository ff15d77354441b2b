// A rotation whose rotary part starts rope_dim_offset elements into each head (vLLM's
// rope_dim_offset), float32, with its float64 expectation written out here: elements before the
// offset and after the rotary part keep their bits.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ropekit/rotary.hpp"

namespace ropekit::testing {

struct OffsetCase {
  int64_t tokens = 7, num_heads = 4, num_kv_heads = 2, head_size = 40, rotary_dim = 16;
  int64_t offset = 8, max_position = 64;
  bool is_neox = true, inverse = false;
  std::vector<int64_t> positions;
  std::vector<float> query, key, cache;

  OffsetCase(std::mt19937_64& rng, int64_t offset_, bool is_neox_, bool inverse_)
      : offset(offset_), is_neox(is_neox_), inverse(inverse_) {
    std::uniform_real_distribution<float> value(-2.f, 2.f);
    std::uniform_int_distribution<int64_t> position(0, max_position - 1);
    for (int64_t t = 0; t < tokens; ++t) positions.push_back(position(rng));
    query.resize(size_t(tokens * num_heads * head_size));
    key.resize(size_t(tokens * num_kv_heads * head_size));
    cache.resize(size_t(max_position * rotary_dim));
    for (float& x : query) x = value(rng);
    for (float& x : key) x = value(rng);
    for (float& x : cache) x = value(rng) / 2;
  }

  // Arguments over the given buffers (host, or device copies of the same sizes).
  RotaryArgs args(int64_t* positions_data, float* query_data, float* key_data, float* cache_data,
                  Device device) const {
    RotaryArgs a;
    a.positions = make_contiguous_view(positions_data, DType::int64, {tokens}, device);
    a.query = make_contiguous_view(query_data, DType::float32, {tokens, num_heads * head_size},
                                   device);
    a.key = make_contiguous_view(key_data, DType::float32, {tokens, num_kv_heads * head_size},
                                 device);
    a.cos_sin_cache =
        make_contiguous_view(cache_data, DType::float32, {max_position, rotary_dim}, device);
    a.head_size = head_size;
    a.is_neox = is_neox;
    a.inverse = inverse;
    a.rope_dim_offset = offset;
    return a;
  }

  // Whether element i of a tensor of `heads` heads is in the rotary part.
  std::vector<bool> rotated(int64_t heads) const {
    std::vector<bool> mask(size_t(tokens * heads * head_size), false);
    for (size_t i = 0; i < mask.size(); ++i) {
      const int64_t within = int64_t(i) % head_size;
      mask[i] = within >= offset && within < offset + rotary_dim;
    }
    return mask;
  }

  // `input` (query or key, `heads` heads) rotated in float64 and rounded once to float32.
  std::vector<float> expected(const std::vector<float>& input, int64_t heads) const {
    std::vector<float> out = input;
    const int64_t half = rotary_dim / 2;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        const size_t head = size_t((t * heads + h) * head_size + offset);
        for (int64_t i = 0; i < half; ++i) {
          const double c = cache[size_t(positions[size_t(t)] * rotary_dim + i)];
          const double s = (inverse ? -1.0 : 1.0) *
                           cache[size_t(positions[size_t(t)] * rotary_dim + half + i)];
          const size_t a = head + size_t(is_neox ? i : 2 * i);
          const size_t b = head + size_t(is_neox ? i + half : 2 * i + 1);
          const double x = input[a], y = input[b];
          out[a] = float(x * c - y * s);
          out[b] = float(y * c + x * s);
        }
      }
    return out;
  }
};

// Rotated elements within a few float32 roundings of |values| <= 4 (backends compute in float32,
// the expectation in float64); every other element keeps its bits.
inline void expect_offset_result(const std::vector<float>& got, const std::vector<float>& want,
                                 const std::vector<bool>& rotated, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (rotated[i])
      ASSERT_NEAR(got[i], want[i], 4e-6) << what << " element " << i;
    else
      ASSERT_EQ(got[i], want[i]) << what << " element " << i << " is outside the rotary part";
  }
}

}  // namespace ropekit::testing
