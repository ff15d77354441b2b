#include "rotary_case.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

namespace ropekit::check {
namespace {

template <class T>
T pick(std::mt19937_64& rng, const std::vector<T>& options) {
  return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
}

constexpr DType kFloats[] = {DType::float32, DType::float16, DType::bfloat16};

}  // namespace

std::string Case::describe() const {
  std::ostringstream out;
  out << (batch > 0 ? "B=" + std::to_string(batch) + " S=" : "T=") << tokens << " heads "
      << num_heads << "/" << num_kv_heads << " hs " << head_size << " rotary " << rotary_dim
      << (is_neox ? " neox" : " gptj") << " x " << to_string(x_dtype) << " cache "
      << to_string(cache_dtype) << " positions " << to_string(positions_dtype) << " maxpos "
      << max_position << (fused_qkv ? " fused-qkv" : "")
      << (explicit_heads ? " [..,heads,hs]" : "") << (out_of_place ? " out-of-place" : "")
      << (inverse ? " inverse" : "") << (rope_cache ? " rope-cache" : "");
  if (mrope())
    out << " mrope [" << mrope_section[0] << "," << mrope_section[1] << "," << mrope_section[2]
        << "]" << (mrope_interleaved ? " interleaved" : "");
  if (token_padding || head_padding || batch_gap || cache_row_padding)
    out << " padding token/head/batch/cache " << token_padding << "/" << head_padding << "/"
        << batch_gap << "/" << cache_row_padding;
  return out.str();
}

Case random_case(std::mt19937_64& rng) {
  Case c;
  c.head_size = pick<int64_t>(rng, {64, 80, 96, 128, 256, 32, 8});
  // Full, half and quarter rotation, the smallest one, and GPT-NeoX's 24 of 96.
  std::vector<int64_t> rotary_dims{c.head_size, c.head_size / 2, c.head_size / 4, 2};
  if (c.head_size == 96) rotary_dims.push_back(24);
  c.rotary_dim = std::max<int64_t>(2, pick(rng, rotary_dims));
  c.is_neox = pick<int>(rng, {0, 1}) == 1;
  // 0 kv heads: query only; 1: MQA; fewer than num_heads: GQA.
  c.num_kv_heads = pick<int64_t>(rng, {0, 1, 2, 4, 8});
  c.num_heads = std::max<int64_t>(c.num_kv_heads, 1) * pick<int64_t>(rng, {1, 2, 3, 4});
  c.batch = pick<int64_t>(rng, {0, 0, 1, 3});
  c.tokens = pick<int64_t>(rng, {1, 2, 5, 17, 33});
  c.x_dtype = pick<DType>(rng, {DType::float32, DType::float16, DType::bfloat16});
  c.cache_dtype = pick<DType>(rng, {DType::float32, DType::float16, DType::bfloat16});
  c.positions_dtype = pick<DType>(rng, {DType::int32, DType::int64});
  c.fused_qkv = c.num_kv_heads > 0 && pick<int>(rng, {0, 1}) == 1;
  c.explicit_heads = pick<int>(rng, {0, 1}) == 1;
  c.out_of_place = pick<int>(rng, {0, 1}) == 1;
  c.inverse = pick<int>(rng, {0, 0, 1}) == 1;
  c.max_position = pick<int64_t>(rng, {1, 64, 4096});
  c.token_padding = pick<int64_t>(rng, {0, 0, 3, 8});
  // Heads [.., heads, head_size] may be strided; a flattened [.., heads * head_size] cannot.
  c.head_padding = c.explicit_heads && !c.fused_qkv ? pick<int64_t>(rng, {0, 0, 1, 8}) : 0;
  c.batch_gap = c.batch > 0 ? pick<int64_t>(rng, {0, 1, 2}) : 0;
  c.cache_row_padding = pick<int64_t>(rng, {0, 0, 4});
  return c;
}

Case random_case(std::mt19937_64& rng, int64_t index) {
  Case c = random_case(rng);
  c.x_dtype = kFloats[index % 3];
  c.cache_dtype = kFloats[(index / 3) % 3];
  if (c.batch == 0 && c.is_neox && pick<int>(rng, {0, 0, 0, 1}) == 1) {
    const int64_t half = c.rotary_dim / 2;
    c.mrope_section[0] = std::uniform_int_distribution<int64_t>(0, half)(rng);
    c.mrope_section[1] = std::uniform_int_distribution<int64_t>(0, half - c.mrope_section[0])(rng);
    c.mrope_section[2] = half - c.mrope_section[0] - c.mrope_section[1];
    c.mrope_interleaved = pick<int>(rng, {0, 1}) == 1;
  }
  return c;
}

uint64_t fresh_seed() {
  std::random_device entropy;
  return (uint64_t(entropy()) << 32) | entropy();
}

}  // namespace ropekit::check
