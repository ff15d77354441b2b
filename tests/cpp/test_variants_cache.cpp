// The cos/sin cache of every real config against cos/sin of p * inv_freq evaluated in float64,
// for every output dtype, plus LongRoPE's short/long cache and the C API entry point.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "harness.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "ropekit/ropekit.h"
#include "test_config_data.hpp"

namespace ropekit::testing {
namespace {

// The positions the issue names: both sides of 4k and 8k, and 128k - 1.
constexpr int64_t kProbePositions[] = {0, 1, 4095, 4096, 8191, 131071};
constexpr int64_t kMaxPosition = 131072;

// Largest |cache - truth| over the probe rows, truth = cos/sin(p * inv_freq) * attention in float64.
double max_cache_error(const HostTensor& cache, const RopeFrequencies& f,
                       const int64_t* positions, size_t count, int64_t row_offset = 0) {
  const int64_t half = static_cast<int64_t>(f.inv_freq.size());
  double worst = 0;
  for (size_t k = 0; k < count; ++k) {
    const int64_t p = positions[k];
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * f.inv_freq[i];
      const int64_t row = (row_offset + p) * cache.view.strides[0];
      worst = std::max(worst, std::fabs(cache.get(row + i) - std::cos(angle) * f.attention_factor));
      worst = std::max(worst, std::fabs(cache.get(row + half + i) - std::sin(angle) * f.attention_factor));
    }
  }
  return worst;
}

// The bound for one correct rounding of values of magnitude <= attention to `dtype`.
double half_ulp_bound(DType dtype, double attention) {
  const int mantissa_bits = dtype == DType::float32 ? 23 : dtype == DType::float16 ? 10 : 7;
  const double scale = std::ldexp(1.0, std::ilogb(std::max(attention, 1.0)));
  return scale * std::ldexp(1.0, -mantissa_bits - 1) * 1.0000001;
}

TEST(VariantCache, Float32CacheOfEveryConfigWithin1e6) {
  for (const auto& file : all_config_files()) {
    SCOPED_TRACE(file.filename().string());
    const RopeConfig config = load_hf_config(file.string());
    const RopeFrequencies f = rope_frequencies(config);
    HostTensor cache = make_host_tensor(DType::float32, {kMaxPosition, config.rotary_dim});
    build_cos_sin_cache(config, cache.view);
    const double error = max_cache_error(cache, f, kProbePositions, std::size(kProbePositions));
    EXPECT_LE(error, 1e-6);
    // And it is one rounding of the truth, not just within 1e-6.
    EXPECT_LE(error, half_ulp_bound(DType::float32, f.attention_factor));
  }
}

TEST(VariantCache, EveryDtypeIsOneRoundingOfTheTruth) {
  const RopeConfig config = load_hf_config(config_path("phi3_5_mini_instruct.json"));
  const RopeFrequencies f = rope_frequencies(config);
  for (DType dtype : {DType::float64, DType::float32, DType::float16, DType::bfloat16}) {
    SCOPED_TRACE(to_string(dtype));
    HostTensor cache = make_host_tensor(dtype, {kMaxPosition, config.rotary_dim});
    build_cos_sin_cache(config, cache.view);
    const double error = max_cache_error(cache, f, kProbePositions, std::size(kProbePositions));
    if (dtype == DType::float64) EXPECT_EQ(error, 0.0);
    else EXPECT_LE(error, half_ulp_bound(dtype, f.attention_factor));
  }
}

TEST(VariantCache, DynamicNtkCacheForASequenceLength) {
  const RopeConfig config = load_hf_config(config_path("internlm2_5_7b_chat.json"));
  const int64_t length = dynamic_ntk_vllm_length(config);
  const RopeFrequencies f = rope_frequencies(config, length);
  HostTensor cache = make_host_tensor(DType::float32, {length, config.rotary_dim});
  build_cos_sin_cache(config, cache.view, length);
  const int64_t probes[] = {0, 1, 32767, 32768, length - 1};
  EXPECT_LE(max_cache_error(cache, f, probes, std::size(probes)), 1e-6);
  // Not the load-time frequencies: the base grew.
  EXPECT_LT(f.inv_freq[1], rope_frequencies(config).inv_freq[1]);
}

TEST(VariantCache, LongropeShortThenLongRowsAndBatchSelection) {
  const RopeConfig config = load_hf_config(config_path("phi3_5_mini_instruct.json"));
  const int64_t max_position = 8192;
  const int64_t rows = longrope_cache_rows(config, max_position);
  ASSERT_EQ(rows, 4096 + max_position);
  HostTensor cache = make_host_tensor(DType::float32, {rows, config.rotary_dim});
  build_longrope_cos_sin_cache(config, cache.view);

  const RopeFrequencies short_f = rope_frequencies(config, 4096);
  const RopeFrequencies long_f = rope_frequencies(config, 4097);
  const int64_t short_probes[] = {0, 1, 2048, 4095};
  const int64_t long_probes[] = {0, 1, 4095, 4096, 8191};
  EXPECT_LE(max_cache_error(cache, short_f, short_probes, std::size(short_probes)), 1e-6);
  EXPECT_LE(max_cache_error(cache, long_f, long_probes, std::size(long_probes), 4096), 1e-6);

  // A batch whose positions all fit in L0 reads the short rows; one past it, the long rows.
  const TensorView short_view = longrope_cache_for_batch(config, cache.view, 4095);
  const TensorView long_view = longrope_cache_for_batch(config, cache.view, 4096);
  EXPECT_EQ(short_view.data, cache.view.data);
  EXPECT_EQ(short_view.shape[0], 4096);
  EXPECT_EQ(static_cast<char*>(long_view.data) - static_cast<char*>(cache.view.data),
            4096 * config.rotary_dim * 4);
  EXPECT_EQ(long_view.shape[0], max_position);
  EXPECT_EQ(longrope_position_offset(config, 4095), 0);
  EXPECT_EQ(longrope_position_offset(config, 4096), 4096);
}

TEST(VariantCache, LongropeHelpersRejectOtherTypes) {
  const RopeConfig llama = load_hf_config(config_path("llama3_1_8b.json"));
  EXPECT_THROW(longrope_cache_rows(llama, 10), Error);
}

// --- the C API ---

DLTensor dl_tensor(HostTensor& t, int64_t* shape) {
  DLTensor d{};
  d.data = t.view.data;
  d.device = {kDLCPU, 0};
  d.ndim = 2;
  d.dtype = {static_cast<uint8_t>(kDLFloat), static_cast<uint8_t>(element_size(t.view.dtype) * 8), 1};
  shape[0] = t.view.shape[0];
  shape[1] = t.view.shape[1];
  d.shape = shape;
  return d;
}

TEST(VariantCacheCApi, BuildsTheSameCacheAsCpp) {
  const std::string text = read_text(config_path("llama3_1_8b.json"));
  const RopeConfig config = parse_hf_config(text);
  for (DType dtype : {DType::float32, DType::float64}) {
    HostTensor via_c = make_host_tensor(dtype, {8192, config.rotary_dim});
    HostTensor via_cpp = make_host_tensor(dtype, {8192, config.rotary_dim});
    int64_t shape[2];
    DLTensor out = dl_tensor(via_c, shape);
    ASSERT_EQ(ropekit_cos_sin_cache_from_hf_config(text.c_str(), 8192, &out), ROPEKIT_OK)
        << ropekit_last_error();
    build_cos_sin_cache(config, via_cpp.view);
    EXPECT_EQ(std::memcmp(via_c.view.data, via_cpp.view.data,
                          8192 * config.rotary_dim * element_size(dtype)), 0);
  }
}

TEST(VariantCacheCApi, FrequenciesForASequenceLength) {
  const std::string text = read_text(config_path("phi3_5_mini_instruct.json"));
  const RopeConfig config = parse_hf_config(text);
  int64_t count = -1;
  double attention = 0;
  ASSERT_EQ(ropekit_rope_frequencies_from_hf_config(text.c_str(), 0, nullptr, 0, &count, &attention),
            ROPEKIT_OK) << ropekit_last_error();
  EXPECT_EQ(count, 48);
  for (int64_t length : {int64_t{0}, int64_t{4096}, int64_t{4097}}) {
    std::vector<double> inv_freq(48, NAN);
    ASSERT_EQ(ropekit_rope_frequencies_from_hf_config(text.c_str(), length, inv_freq.data(), 48,
                                                      &count, &attention),
              ROPEKIT_OK) << ropekit_last_error();
    const RopeFrequencies want = rope_frequencies(config, length);
    EXPECT_EQ(inv_freq, want.inv_freq) << "sequence length " << length;
    EXPECT_EQ(attention, want.attention_factor);
  }
  // Too small a buffer: an error naming the size, and nothing written.
  std::vector<double> small(47, NAN);
  count = -1;
  EXPECT_EQ(ropekit_rope_frequencies_from_hf_config(text.c_str(), 0, small.data(), 47, &count, &attention),
            ROPEKIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ropekit_last_error()).find("rotary_dim / 2 = 48"), std::string::npos);
  EXPECT_EQ(count, -1);
  for (double value : small) EXPECT_TRUE(std::isnan(value));
  EXPECT_EQ(ropekit_rope_frequencies_from_hf_config(text.c_str(), -5, nullptr, 0, &count, &attention),
            ROPEKIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ropekit_last_error()).find("sequence_length"), std::string::npos);
}

void expect_c_error(const char* json, int64_t max_positions, DLTensor* out, const char* fragment) {
  EXPECT_EQ(ropekit_cos_sin_cache_from_hf_config(json, max_positions, out),
            ROPEKIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ropekit_last_error()).find(fragment), std::string::npos)
      << ropekit_last_error();
}

TEST(VariantCacheCApi, ErrorsNameTheArgumentAndWriteNothing) {
  const char* json = R"({"head_dim": 64, "rope_theta": 10000.0})";
  HostTensor cache = make_host_tensor(DType::float32, {16, 64});
  int64_t shape[2];
  DLTensor out = dl_tensor(cache, shape);
  expect_c_error(nullptr, 16, &out, "config_json");
  expect_c_error("{", 16, &out, "config_json");
  expect_c_error(json, 16, nullptr, "out");
  expect_c_error(json, 8, &out, "max_positions = 8");
  shape[1] = 32;
  expect_c_error(json, 16, &out, "rotary_dim = 64");
  shape[1] = 64;
  out.dtype = {static_cast<uint8_t>(kDLBfloat), 16, 1};
  expect_c_error(json, 16, &out, "float32 or float64");
  out.dtype = {static_cast<uint8_t>(kDLFloat), 32, 1};
  out.device = {kDLCUDA, 0};
  expect_c_error(json, 16, &out, "cpu");
  for (int64_t i = 0; i < 16 * 64; ++i) EXPECT_TRUE(std::isnan(cache.get(i))) << "written at " << i;
}

}  // namespace
}  // namespace ropekit::testing
