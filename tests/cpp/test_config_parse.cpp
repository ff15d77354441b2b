// Every real config of tests/data/configs parses to the values read off its config.json by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "test_config_data.hpp"

namespace ropekit::testing {
namespace {

struct Expected {
  RopeType type;
  double rope_theta;
  int64_t head_size;
  int64_t rotary_dim;
  bool is_neox;
  int64_t max_position_embeddings;
  std::optional<std::array<int64_t, 3>> mrope_section = std::nullopt;
  bool mrope_interleaved = false;
};

// Derived by hand from each file (head size = head_dim, or hidden_size / num_attention_heads).
const std::map<std::string, Expected>& expected_configs() {
  static const std::map<std::string, Expected> table = {
      {"llama2_7b.json", {RopeType::default_rope, 1e4, 128, 128, true, 4096}},
      {"llama3_1_8b.json", {RopeType::llama3, 5e5, 128, 128, true, 131072}},
      {"mistral_7b_v0_3.json", {RopeType::default_rope, 1e6, 128, 128, true, 32768}},
      {"qwen2_5_7b_instruct_yarn.json", {RopeType::yarn, 1e6, 128, 128, true, 32768}},
      {"deepseek_v3.json", {RopeType::yarn, 1e4, 64, 64, false, 163840}},
      {"phi3_5_mini_instruct.json", {RopeType::longrope, 1e4, 96, 96, true, 131072}},
      {"qwen2_vl_7b_instruct.json",
       {RopeType::default_rope, 1e6, 128, 128, true, 32768, std::array<int64_t, 3>{16, 24, 24}}},
      {"qwen3_vl_8b_instruct.json",
       {RopeType::default_rope, 5e6, 128, 128, true, 262144, std::array<int64_t, 3>{24, 20, 20},
        true}},
      {"qwen3_6_35b_a3b.json",
       {RopeType::default_rope, 1e7, 256, 64, true, 262144, std::array<int64_t, 3>{11, 11, 10},
        true}},
      {"glm_4_9b_chat_hf.json", {RopeType::default_rope, 1e4, 128, 64, false, 131072}},
      {"gpt_neox_20b.json", {RopeType::default_rope, 1e4, 96, 24, true, 2048}},
      {"gptj_6b.json", {RopeType::default_rope, 1e4, 256, 64, false, 2048}},
      {"gemma3_12b_it.json", {RopeType::linear, 1e6, 256, 256, true, 131072}},
      {"internlm2_5_7b_chat.json", {RopeType::dynamic, 1e6, 128, 128, true, 32768}},
  };
  return table;
}

TEST(ConfigParse, EveryRealConfigMatchesItsHandReadValues) {
  const auto files = all_config_files();
  ASSERT_GE(files.size(), 10u) << "expected at least 10 real configs in " << config_dir();
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const auto it = expected_configs().find(file.filename().string());
    ASSERT_NE(it, expected_configs().end()) << "add the expected values of this config";
    const Expected& want = it->second;
    RopeConfig config;
    ASSERT_NO_THROW(config = load_hf_config(file.string()));
    EXPECT_EQ(config.type, want.type) << to_string(config.type);
    EXPECT_EQ(config.rope_theta, want.rope_theta);
    EXPECT_EQ(config.head_size, want.head_size);
    EXPECT_EQ(config.rotary_dim, want.rotary_dim);
    EXPECT_EQ(config.is_neox, want.is_neox);
    EXPECT_EQ(config.max_position_embeddings, want.max_position_embeddings);
    EXPECT_EQ(config.mrope_section, want.mrope_section);
    EXPECT_EQ(config.mrope_interleaved, want.mrope_interleaved);
  }
}

TEST(ConfigParse, ScalingFieldsOfEachType) {
  const RopeConfig llama3 = load_hf_config(config_path("llama3_1_8b.json"));
  EXPECT_EQ(llama3.factor, 8.0);
  EXPECT_EQ(llama3.low_freq_factor, 1.0);
  EXPECT_EQ(llama3.high_freq_factor, 4.0);
  EXPECT_EQ(llama3.original_max_position_embeddings, 8192);

  const RopeConfig deepseek = load_hf_config(config_path("deepseek_v3.json"));
  EXPECT_EQ(deepseek.factor, 40.0);
  EXPECT_EQ(deepseek.mscale, 1.0);
  EXPECT_EQ(deepseek.mscale_all_dim, 1.0);
  EXPECT_EQ(deepseek.beta_fast, 32.0);
  EXPECT_EQ(deepseek.beta_slow, 1.0);
  EXPECT_EQ(deepseek.original_max_position_embeddings, 4096);
  EXPECT_TRUE(deepseek.truncate);

  const RopeConfig phi = load_hf_config(config_path("phi3_5_mini_instruct.json"));
  ASSERT_EQ(phi.short_factor.size(), 48u);
  ASSERT_EQ(phi.long_factor.size(), 48u);
  EXPECT_EQ(phi.short_factor[0], 1.0);
  EXPECT_EQ(phi.long_factor[47], 64.83999633789062);
  EXPECT_EQ(phi.original_max_position_embeddings, 4096);  // top-level field
  EXPECT_FALSE(phi.factor.has_value());

  const RopeConfig gemma = load_hf_config(config_path("gemma3_12b_it.json"));
  EXPECT_EQ(gemma.factor, 8.0);
  const RopeConfig internlm = load_hf_config(config_path("internlm2_5_7b_chat.json"));
  EXPECT_EQ(internlm.factor, 2.0);
}

TEST(ConfigParse, TextAndFileGiveTheSameConfig) {
  const std::string path = config_path("qwen3_vl_8b_instruct.json");
  const RopeConfig from_text = parse_hf_config(read_text(path));
  const RopeConfig from_file = load_hf_config(path);
  EXPECT_EQ(from_text.rotary_dim, from_file.rotary_dim);
  EXPECT_EQ(from_text.rope_theta, from_file.rope_theta);
  EXPECT_EQ(from_text.mrope_section, from_file.mrope_section);
}

// Spellings seen across transformers versions, each on a minimal config.
TEST(ConfigParse, AlternativeSpellings) {
  // rope_parameters (transformers v5) with rope_theta inside, yarn without factor: the ratio.
  RopeConfig c = parse_hf_config(R"({"head_dim": 64, "max_position_embeddings": 16384,
      "rope_parameters": {"rope_type": "yarn", "rope_theta": 50000.0,
                          "original_max_position_embeddings": 4096}})");
  EXPECT_EQ(c.type, RopeType::yarn);
  EXPECT_EQ(c.rope_theta, 50000.0);
  EXPECT_FALSE(c.factor.has_value());
  EXPECT_NEAR(rope_frequencies(c).attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-15);

  // "su" is LongRoPE's first name; rope_type and type may both be present when they agree.
  c = parse_hf_config(R"({"head_dim": 4, "max_position_embeddings": 8,
      "original_max_position_embeddings": 4,
      "rope_scaling": {"type": "su", "short_factor": [1, 2], "long_factor": [3, 4]}})");
  EXPECT_EQ(c.type, RopeType::longrope);
  c = parse_hf_config(R"({"head_dim": 8, "rope_scaling": {"type": "linear", "rope_type": "linear",
      "factor": 2}})");
  EXPECT_EQ(c.type, RopeType::linear);
  // Qwen2-VL re-saved by transformers 5: the old "mrope" beside the standardized "default".
  c = parse_hf_config(R"({"head_dim": 128, "rope_scaling": {"type": "mrope", "rope_type": "default",
      "mrope_section": [16, 24, 24]}})");
  EXPECT_EQ(c.type, RopeType::default_rope);
  EXPECT_TRUE(c.mrope_section.has_value());

  // Per-layer-type rope_parameters (Gemma-3 in v5): the full-attention section is used.
  c = parse_hf_config(R"({"head_dim": 256, "rope_parameters": {
      "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
      "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}}})");
  EXPECT_EQ(c.type, RopeType::linear);
  EXPECT_EQ(c.rope_theta, 1e6);

  // null means "not set", as HF writes it.
  c = parse_hf_config(R"({"hidden_size": 64, "num_attention_heads": 2, "rope_scaling": null,
      "head_dim": null})");
  EXPECT_EQ(c.head_size, 32);
  EXPECT_EQ(c.type, RopeType::default_rope);
}

}  // namespace
}  // namespace ropekit::testing
