// inv_freq and attention factor of every RoPE type against values derived by hand from the
// formulas (ROPE_SPEC §3, transformers 5.x), evaluated once in float64 and pasted here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "test_config_data.hpp"

namespace ropekit::testing {
namespace {

// float64 math on both sides: only a few ulps of pow/log differences are allowed.
void expect_close(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, 4e-15 * std::fabs(want)) << what;
}

RopeFrequencies frequencies_of(const std::string& file, int64_t sequence_length = 0) {
  return rope_frequencies(load_hf_config(config_path(file)), sequence_length);
}

TEST(VariantFrequencies, DefaultIsThetaPowers) {
  const RopeFrequencies f = frequencies_of("llama2_7b.json");
  ASSERT_EQ(f.inv_freq.size(), 64u);
  expect_close(f.inv_freq[0], 1.0, "i=0");
  expect_close(f.inv_freq[1], std::pow(10000.0, -2.0 / 128.0), "i=1");
  expect_close(f.inv_freq[63], std::pow(10000.0, -126.0 / 128.0), "i=63");
  EXPECT_EQ(f.attention_factor, 1.0);
}

TEST(VariantFrequencies, PartialRotaryUsesRotaryDim) {
  // GPT-NeoX-20B: rotary_dim 24 of head 96; exponents are 2i / 24.
  const RopeFrequencies f = frequencies_of("gpt_neox_20b.json");
  ASSERT_EQ(f.inv_freq.size(), 12u);
  expect_close(f.inv_freq[11], std::pow(10000.0, -22.0 / 24.0), "i=11");
}

TEST(VariantFrequencies, LinearDividesByFactor) {
  const RopeFrequencies f = frequencies_of("gemma3_12b_it.json");
  expect_close(f.inv_freq[0], 1.0 / 8.0, "i=0");
  expect_close(f.inv_freq[10], std::pow(1e6, -20.0 / 256.0) / 8.0, "i=10");
  EXPECT_EQ(f.attention_factor, 1.0);
}

TEST(VariantFrequencies, Llama3HighMediumLowBands) {
  const RopeFrequencies f = frequencies_of("llama3_1_8b.json");
  expect_close(f.inv_freq[0], 1.0, "high band, unchanged");
  expect_close(f.inv_freq[20], 0.016560440080994446, "high band, unchanged");
  expect_close(f.inv_freq[29], 0.002166570763503359, "medium band, smoothed");
  expect_close(f.inv_freq[32], 0.0005248461609929547, "medium band, smoothed");
  expect_close(f.inv_freq[34], 0.00017850781276799638, "medium band, smoothed");
  expect_close(f.inv_freq[40], 3.428102195952591e-05, "low band, / factor");
  expect_close(f.inv_freq[63], 3.068925988914511e-07, "low band, / factor");
  EXPECT_EQ(f.attention_factor, 1.0);
}

TEST(VariantFrequencies, YarnDeepSeekMscaleCancels) {
  // factor 40, L0 4096, d 64, base 1e4: ramp from dim 10 to 23; mscale / mscale_all_dim = 1.
  const RopeFrequencies f = frequencies_of("deepseek_v3.json");
  ASSERT_EQ(f.inv_freq.size(), 32u);
  expect_close(f.inv_freq[5], 0.23713737056616555, "extrapolated");
  expect_close(f.inv_freq[12], 0.026879360111431223, "on the ramp");
  expect_close(f.inv_freq[18], 0.002249365300761396, "on the ramp");
  expect_close(f.inv_freq[31], 3.3338035804083097e-06, "interpolated");
  expect_close(f.attention_factor, 1.0, "mscale 1 / mscale_all_dim 1");
}

TEST(VariantFrequencies, YarnExplicitFactorWinsOverLengthRatio) {
  // Qwen2.5 + yarn block: factor 4 although max_position_embeddings / L0 = 1. transformers 5.x
  // uses the explicit factor (older 4.4x releases used the ratio and got no scaling at all).
  const RopeFrequencies f = frequencies_of("qwen2_5_7b_instruct_yarn.json");
  expect_close(f.attention_factor, 1.138629436111989, "0.1 ln 4 + 1");
  expect_close(f.inv_freq[10], 0.1154781984689458, "extrapolated");
  expect_close(f.inv_freq[25], 0.004131738022518394, "on the ramp (23..40)");
  expect_close(f.inv_freq[35], 0.0002462584069089387, "on the ramp");
  expect_close(f.inv_freq[63], 3.102344401879299e-07, "interpolated: / 4");
}

TEST(VariantFrequencies, YarnExplicitAttentionFactorAndNoTruncation) {
  RopeConfig c = parse_hf_config(R"({"head_dim": 64, "rope_scaling": {"rope_type": "yarn",
      "factor": 4, "original_max_position_embeddings": 4096, "attention_factor": 0.75,
      "truncate": false}})");
  const RopeFrequencies f = rope_frequencies(c);
  EXPECT_EQ(f.attention_factor, 0.75);
  // Untruncated ramp bounds: corr_dim(32) and corr_dim(1) without floor/ceil.
  const double dim = 64, base = 10000, length = 4096;
  const auto corr = [&](double r) {
    return dim * std::log(length / (r * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  const double low = corr(32), high = corr(1);
  for (int i : {0, 12, 20, 31}) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double base_inv = std::pow(base, -2.0 * i / dim);
    expect_close(f.inv_freq[i], base_inv / 4 * ramp + base_inv * (1 - ramp), "i=" + std::to_string(i));
  }
}

TEST(VariantFrequencies, LongropeShortLongAndAttentionFactor) {
  const RopeConfig c = load_hf_config(config_path("phi3_5_mini_instruct.json"));
  // factor = 131072 / 4096 = 32: sqrt(1 + ln 32 / ln 4096) = sqrt(17 / 12).
  const RopeFrequencies at_load = rope_frequencies(c);
  expect_close(at_load.attention_factor, 1.1902380714238083, "sqrt(17/12)");
  const RopeFrequencies at_4096 = rope_frequencies(c, 4096);
  const RopeFrequencies at_4097 = rope_frequencies(c, 4097);
  for (int i : {0, 1, 20, 47}) {
    const double base_inv = std::pow(10000.0, -2.0 * i / 96.0);
    expect_close(at_load.inv_freq[i], base_inv / c.short_factor[i], "short at load");
    expect_close(at_4096.inv_freq[i], base_inv / c.short_factor[i], "short up to L0");
    expect_close(at_4097.inv_freq[i], base_inv / c.long_factor[i], "long beyond L0");
  }
  EXPECT_EQ(at_4097.attention_factor, at_load.attention_factor);
}

TEST(VariantFrequencies, DynamicNtkPerLengthAndVllmLength) {
  const RopeConfig c = load_hf_config(config_path("internlm2_5_7b_chat.json"));
  // Up to max_position_embeddings (32768) the base is unchanged.
  expect_close(rope_frequencies(c).inv_freq[1], std::pow(1e6, -2.0 / 128.0), "at load");
  expect_close(rope_frequencies(c, 32768).inv_freq[1], std::pow(1e6, -2.0 / 128.0), "at L0");
  // At 65536: base' = 1e6 * (2 * 2 - 1)^(128 / 126).
  expect_close(rope_frequencies(c, 65536).inv_freq[1], 0.7919114945129185, "at 2 L0");
  // vLLM builds one cache at L0 * factor = 65536: the same frequencies.
  EXPECT_EQ(dynamic_ntk_vllm_length(c), 65536);
  EXPECT_THROW(dynamic_ntk_vllm_length(load_hf_config(config_path("llama2_7b.json"))), Error);
}

TEST(VariantFrequencies, MropeUsesPlainFrequencies) {
  const RopeFrequencies f = frequencies_of("qwen2_vl_7b_instruct.json");
  expect_close(f.inv_freq[5], std::pow(1e6, -10.0 / 128.0), "i=5");
  EXPECT_EQ(f.attention_factor, 1.0);
}

TEST(VariantFrequencies, NegativeSequenceLengthIsAnError) {
  EXPECT_THROW(frequencies_of("internlm2_5_7b_chat.json", -1), Error);
}

}  // namespace
}  // namespace ropekit::testing
