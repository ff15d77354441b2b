// Precision of the cos/sin cache by dtype at large positions, against float64 cos/sin: the numbers
// behind docs/PRECISION.md (run: build/tests/cpp/test_variants_precision, it prints the tables).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "harness.hpp"
#include "ropekit/config.hpp"
#include "test_config_data.hpp"

namespace ropekit::testing {
namespace {

constexpr int64_t kRows = 131072;
constexpr int64_t kPositions[] = {1, 4095, 8191, 32767, 65535, 131071};

double row_error(const HostTensor& cache, const RopeFrequencies& f, int64_t p) {
  const int64_t half = static_cast<int64_t>(f.inv_freq.size());
  double worst = 0;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(p) * f.inv_freq[i];
    worst = std::max(worst, std::fabs(cache.get(p * 2 * half + i) - std::cos(angle) * f.attention_factor));
    worst = std::max(worst, std::fabs(cache.get(p * 2 * half + half + i) - std::sin(angle) * f.attention_factor));
  }
  return worst;
}

// What a float32 cache builder computes (transformers' forward, vLLM's _compute_cos_sin_cache):
// float32 inv_freq, float32 angle p * inv_freq, float32 cos/sin.
double float32_angle_error(const RopeFrequencies& f, int64_t p) {
  double worst = 0;
  for (double inv_freq : f.inv_freq) {
    const float angle = static_cast<float>(p) * static_cast<float>(inv_freq);
    const double truth = static_cast<double>(p) * inv_freq;
    worst = std::max(worst, std::fabs(double(std::cos(angle)) - std::cos(truth)));
    worst = std::max(worst, std::fabs(double(std::sin(angle)) - std::sin(truth)));
  }
  return worst;
}

TEST(Precision, CacheErrorByDtypeAtLargePositions) {
  const RopeConfig config = load_hf_config(config_path("llama3_1_8b.json"));
  const RopeFrequencies f = rope_frequencies(config);
  const DType dtypes[] = {DType::float32, DType::float16, DType::bfloat16};
  // One correct rounding of |value| <= 1: half an ulp at 1 (2^-24, 2^-11, 2^-8 below 1 ... and the
  // ulp just below 1 is half that of [1, 2)): the bound is 2^-(mantissa bits + 1).
  const double bounds[] = {std::ldexp(1.0, -24), std::ldexp(1.0, -11), std::ldexp(1.0, -8)};
  std::vector<HostTensor> caches;
  for (DType dtype : dtypes) {
    caches.push_back(make_host_tensor(dtype, {kRows, config.rotary_dim}));
    build_cos_sin_cache(config, caches.back().view);
  }
  std::printf("Llama-3.1-8B (llama3 scaling, theta 5e5, rotary_dim 128): max |cache - float64 truth|\n");
  std::printf("%10s %12s %12s %12s %18s\n", "position", "float32", "float16", "bfloat16", "float32 angles");
  for (int64_t p : kPositions) {
    std::printf("%10lld", static_cast<long long>(p));
    for (size_t d = 0; d < std::size(dtypes); ++d) {
      const double error = row_error(caches[d], f, p);
      std::printf(" %12.3e", error);
      EXPECT_LE(error, bounds[d]) << to_string(dtypes[d]) << " at " << p;
    }
    const double float32_angles = float32_angle_error(f, p);
    std::printf(" %18.3e\n", float32_angles);
    // Rounding the angle to float32 costs up to p * 2^-24 radians: at 128k that is 100x our error.
    if (p >= 65535) {
      EXPECT_GT(float32_angles, 100 * bounds[0]);
    }
  }
}

// The effect on the rotated output: bfloat16 query/key rotated with a float32 vs a bfloat16 cache,
// against the float64 rotation of the same (bfloat16) inputs by the exact angles.
TEST(Precision, RotatedOutputErrorByCacheDtype) {
  const RopeConfig config = load_hf_config(config_path("llama3_1_8b.json"));
  const RopeFrequencies f = rope_frequencies(config);
  const int64_t tokens = 64, heads = 8, head = config.head_size, half = config.rotary_dim / 2;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<int64_t> position(kRows - 4096, kRows - 1);
  std::uniform_real_distribution<double> value(-1, 1);

  HostTensor positions = make_host_tensor(DType::int64, {tokens});
  for (int64_t t = 0; t < tokens; ++t) positions.set(t, double(position(rng)));
  HostTensor input = make_host_tensor(DType::bfloat16, {tokens, heads, head});
  for (int64_t i = 0; i < input.view.numel(); ++i) input.set(i, value(rng));

  std::printf("bfloat16 q rotated at positions in [%lld, %lld): max |out - float64 rotation|\n",
              static_cast<long long>(kRows - 4096), static_cast<long long>(kRows));
  double errors[2];
  const DType cache_dtypes[] = {DType::float32, DType::bfloat16};
  for (int c = 0; c < 2; ++c) {
    HostTensor cache = make_host_tensor(cache_dtypes[c], {kRows, config.rotary_dim});
    build_cos_sin_cache(config, cache.view);
    HostTensor query = make_host_tensor(DType::bfloat16, {tokens, heads, head});
    for (int64_t i = 0; i < query.view.numel(); ++i) query.set(i, input.get(i));
    RotaryArgs args;
    args.positions = positions.view;
    args.query = query.view;
    args.head_size = head;
    args.cos_sin_cache = cache.view;
    args.backend = Backend::reference;
    rotary_embedding(args);
    errors[c] = 0;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < half; ++i) {
          const int64_t base = (t * heads + h) * head;
          const double angle = positions.get(t) * f.inv_freq[i];
          const double a = input.get(base + i), b = input.get(base + i + half);
          errors[c] = std::max(errors[c], std::fabs(query.get(base + i) - (a * std::cos(angle) - b * std::sin(angle))));
          errors[c] = std::max(errors[c], std::fabs(query.get(base + i + half) - (b * std::cos(angle) + a * std::sin(angle))));
        }
    std::printf("  cache %-9s %.3e\n", to_string(cache_dtypes[c]).c_str(), errors[c]);
  }
  // A float32 cache leaves only the output rounding (half a bf16 ulp of |out| <= sqrt(2)); a bf16
  // cache adds its own rounding on top.
  EXPECT_LE(errors[0], std::ldexp(1.0, -8) * 1.0001);
  EXPECT_GT(errors[1], errors[0]);
}

}  // namespace
}  // namespace ropekit::testing
