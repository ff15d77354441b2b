// Rotates one token of one head through the C++ API and checks it against cos/sin directly.
#include <cmath>
#include <cstdio>
#include <vector>

#include <ropekit/ropekit.hpp>

int main() {
  const int64_t head_size = 8, max_position = 16;
  std::vector<float> cache(max_position * head_size);
  ropekit::build_cos_sin_cache(ropekit::default_inv_freq(10000.0, head_size), 1.0,
                               ropekit::make_contiguous_view(cache.data(), ropekit::DType::float32,
                                                             {max_position, head_size}));
  std::vector<int64_t> positions{5};
  std::vector<float> query{1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<float> original = query;
  ropekit::RotaryArgs args;
  args.positions = ropekit::make_contiguous_view(positions.data(), ropekit::DType::int64, {1});
  args.query = ropekit::make_contiguous_view(query.data(), ropekit::DType::float32, {1, head_size});
  args.head_size = head_size;
  args.cos_sin_cache = ropekit::make_contiguous_view(cache.data(), ropekit::DType::float32,
                                                     {max_position, head_size});
  args.is_neox = true;
  ropekit::rotary_embedding(args);
  for (int i = 0; i < 4; ++i) {
    const double angle = 5.0 / std::pow(10000.0, 2.0 * i / head_size);
    const double expected = original[i] * std::cos(angle) - original[i + 4] * std::sin(angle);
    if (std::fabs(query[i] - expected) > 1e-5) {
      std::printf("mismatch at %d: %f vs %f\n", i, query[i], expected);
      return 1;
    }
  }
  std::printf("ropekit %s consumer (C++): ok\n", ropekit::kVersion);
  return 0;
}
