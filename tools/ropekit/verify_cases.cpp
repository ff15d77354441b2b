#include "verify_cases.hpp"

#include <algorithm>
#include <vector>

namespace ropekit::cli {
namespace {

template <class T>
T pick(std::mt19937_64& rng, const std::vector<T>& options) {
  return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
}

}  // namespace

ProblemSpec random_case(std::mt19937_64& rng, int64_t index) {
  static const DType kFloats[] = {DType::float32, DType::float16, DType::bfloat16};
  ProblemSpec spec;
  spec.x_dtype = kFloats[index % 3];
  spec.cache_dtype = kFloats[(index / 3) % 3];
  spec.positions_dtype = pick<DType>(rng, {DType::int32, DType::int64});

  spec.head_size = pick<int64_t>(rng, {64, 80, 96, 128, 256, 32, 8});
  // Full, half and quarter rotation, the smallest one, and GPT-NeoX's 24 of 96.
  std::vector<int64_t> rotary_dims{spec.head_size, spec.head_size / 2, spec.head_size / 4, 2};
  if (spec.head_size == 96) rotary_dims.push_back(24);
  spec.rotary_dim = pick(rng, rotary_dims);
  spec.rotary_dim = std::max<int64_t>(2, spec.rotary_dim - spec.rotary_dim % 2);
  spec.is_neox = pick<int>(rng, {0, 1}) == 1;

  // 0 kv heads: query only; 1: MQA; fewer than num_heads: GQA.
  spec.num_kv_heads = pick<int64_t>(rng, {0, 1, 2, 4, 8});
  spec.num_heads = std::max<int64_t>(spec.num_kv_heads, 1) * pick<int64_t>(rng, {1, 2, 4});
  spec.batch = pick<int64_t>(rng, {0, 0, 1, 3});
  spec.tokens = pick<int64_t>(rng, {1, 2, 5, 17, 33});
  spec.batch_gap = spec.batch > 0 ? pick<int64_t>(rng, {0, 2}) : 0;
  spec.max_position = pick<int64_t>(rng, {1, 64, 4096});

  spec.fused_qkv = spec.num_kv_heads > 0 && pick<int>(rng, {0, 1}) == 1;
  spec.explicit_heads = pick<int>(rng, {0, 1}) == 1;
  spec.token_padding = pick<int64_t>(rng, {0, 0, 3, 8});
  spec.head_padding = spec.explicit_heads && !spec.fused_qkv ? pick<int64_t>(rng, {0, 1, 8}) : 0;
  spec.out_of_place = pick<int>(rng, {0, 1}) == 1;
  spec.inverse = pick<int>(rng, {0, 0, 1}) == 1;
  return spec;
}

}  // namespace ropekit::cli
