// Malformed configs: one test per kind of error, each checking that ropekit::Error names the field.
#include <gtest/gtest.h>

#include <string>

#include "ropekit/config.hpp"
#include "ropekit/error.hpp"

namespace ropekit::testing {
namespace {

// Parses `json` expecting an Error whose message contains every one of `fragments`.
void expect_error(const std::string& json, std::initializer_list<const char*> fragments) {
  try {
    parse_hf_config(json);
    ADD_FAILURE() << "no error for " << json;
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const char* fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
  }
}

TEST(ConfigErrors, NotJson) { expect_error("{\"head_dim\": 64,", {"config_json", "not valid JSON"}); }

TEST(ConfigErrors, NotAnObject) { expect_error("[1, 2]", {"config_json", "expected a JSON object"}); }

TEST(ConfigErrors, UnknownFieldInRopeSection) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "linear", "factor": 2, "fator": 3}})",
               {"rope_scaling.fator", "unknown field", "linear"});
}

TEST(ConfigErrors, FieldOfAnotherRopeType) {
  // beta_fast belongs to yarn, not to llama3: never silently ignored.
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "llama3", "factor": 8,
      "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192,
      "beta_fast": 32}})",
               {"rope_scaling.beta_fast", "unknown field", "llama3"});
}

TEST(ConfigErrors, UnknownRopeType) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "ntk-by-parts", "factor": 2}})",
               {"rope_scaling.rope_type", "ntk-by-parts"});
}

TEST(ConfigErrors, TypeAndRopeTypeDisagree) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "linear", "type": "dynamic", "factor": 2}})",
               {"rope_scaling.rope_type", "disagrees", "rope_scaling.type"});
}

TEST(ConfigErrors, NumberGivenAsString) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "linear", "factor": "8"}})",
               {"rope_scaling.factor", "expected a number", "string"});
}

TEST(ConfigErrors, NonPositiveFactor) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "linear", "factor": -2}})",
               {"rope_scaling.factor", "positive"});
}

TEST(ConfigErrors, FactorBelowOne) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "linear", "factor": 0.5}})",
               {"factor", ">= 1"});
}

TEST(ConfigErrors, MissingRequiredFactor) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "dynamic"}})",
               {"factor", "required", "dynamic"});
}

TEST(ConfigErrors, MissingOriginalLength) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "llama3", "factor": 8,
      "low_freq_factor": 1, "high_freq_factor": 4}})",
               {"original_max_position_embeddings", "required", "llama3"});
}

TEST(ConfigErrors, Llama3FrequencyFactorsOutOfOrder) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "llama3", "factor": 8,
      "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}})",
               {"high_freq_factor", "low_freq_factor"});
}

TEST(ConfigErrors, IntegerFieldNotInteger) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "yarn", "factor": 4,
      "original_max_position_embeddings": 4096.5}})",
               {"rope_scaling.original_max_position_embeddings", "integer"});
}

TEST(ConfigErrors, BooleanFieldNotBoolean) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "yarn", "factor": 4,
      "original_max_position_embeddings": 4096, "truncate": "no"}})",
               {"rope_scaling.truncate", "true or false"});
}

TEST(ConfigErrors, LongropeFactorListWrongLength) {
  expect_error(R"({"head_dim": 8, "max_position_embeddings": 64, "original_max_position_embeddings": 16,
      "rope_scaling": {"type": "longrope", "short_factor": [1, 1, 1], "long_factor": [2, 2, 2, 2]}})",
               {"short_factor", "rotary_dim / 2 = 4", "got 3"});
}

TEST(ConfigErrors, LongropeFactorListNotNumbers) {
  expect_error(R"({"head_dim": 4, "max_position_embeddings": 64, "original_max_position_embeddings": 16,
      "rope_scaling": {"type": "longrope", "short_factor": [1, "x"], "long_factor": [2, 2]}})",
               {"rope_scaling.short_factor[1]", "number"});
}

TEST(ConfigErrors, MropeSectionWrongSum) {
  expect_error(R"({"head_dim": 128, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 16]}})",
               {"mrope_section", "rotary_dim / 2 = 64", "[16, 24, 16]"});
}

TEST(ConfigErrors, MropeSectionWrongLength) {
  expect_error(R"({"head_dim": 128, "rope_scaling": {"type": "mrope", "mrope_section": [32, 32]}})",
               {"rope_scaling.mrope_section", "3 integers"});
}

TEST(ConfigErrors, MropeOnGptjPairs) {
  expect_error(R"({"model_type": "glm", "head_dim": 128, "rope_scaling": {"type": "mrope",
      "mrope_section": [16, 24, 24]}})",
               {"mrope_section", "NeoX", "glm"});
}

TEST(ConfigErrors, RopeSectionNotAnObject) {
  expect_error(R"({"head_dim": 64, "rope_scaling": "linear"})", {"rope_scaling", "expected an object"});
}

TEST(ConfigErrors, BothRopeSections) {
  expect_error(R"({"head_dim": 64, "rope_scaling": {"rope_type": "default"},
      "rope_parameters": {"rope_type": "default"}})",
               {"rope_parameters", "rope_scaling"});
}

TEST(ConfigErrors, NoHeadSize) {
  expect_error(R"({"rope_theta": 10000.0})", {"head_dim", "hidden_size", "num_attention_heads"});
}

TEST(ConfigErrors, HiddenSizeNotDivisible) {
  expect_error(R"({"hidden_size": 100, "num_attention_heads": 3})",
               {"hidden_size", "multiple of num_attention_heads = 3"});
}

TEST(ConfigErrors, OddRotaryDim) {
  expect_error(R"({"head_dim": 50, "partial_rotary_factor": 0.5})",
               {"partial_rotary_factor", "rotary_dim 25", "even"});
}

TEST(ConfigErrors, PartialRotaryFactorOutOfRange) {
  expect_error(R"({"head_dim": 64, "partial_rotary_factor": 1.5})",
               {"partial_rotary_factor", "(0, 1]"});
}

TEST(ConfigErrors, BadRopeTheta) {
  expect_error(R"({"head_dim": 64, "rope_theta": -1})", {"rope_theta", "positive"});
}

TEST(ConfigErrors, MissingFileNamesThePath) {
  try {
    load_hf_config("/nonexistent/config.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/config.json"), std::string::npos);
  }
}

TEST(ConfigErrors, HandBuiltConfigIsValidatedToo) {
  RopeConfig config;
  config.head_size = 64;
  config.rotary_dim = 64;
  config.type = RopeType::longrope;
  config.original_max_position_embeddings = 4096;
  config.factor = 2.0;
  EXPECT_THROW(rope_frequencies(config), Error);  // no short/long factors
}

}  // namespace
}  // namespace ropekit::testing
