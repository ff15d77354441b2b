// RoPE parameters from a Hugging Face config.json, and what every variant derives from them:
// inv_freq, the attention factor and the cos/sin cache (transformers' semantics, float64 math).
//
//   RopeConfig config = ropekit::load_hf_config("config.json");
//   RopeFrequencies f = ropekit::rope_frequencies(config);   // inv_freq + attention factor
//   ropekit::build_cos_sin_cache(config, cache_view);         // [max_position, rotary_dim]
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ropekit/export.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit {

// rope_scaling.rope_type (older configs: "type"). "mrope" and "su"/"longrope" spellings are
// folded into default and longrope by the parser, as transformers does.
enum class RopeType { default_rope, linear, dynamic, yarn, llama3, longrope };

// "default", "linear", "dynamic", "yarn", "llama3", "longrope"
ROPEKIT_CXX_API std::string to_string(RopeType type);

// Everything about one model's rotary embedding. Fields that a type does not use keep their
// defaults; parse_hf_config() rejects fields that do not belong to the type.
struct RopeConfig {
  RopeType type = RopeType::default_rope;
  double rope_theta = 10000.0;
  int64_t head_size = 0;   // the attention head size
  int64_t rotary_dim = 0;  // rotated elements per head: even, in [2, head_size]
  // Pairing: NeoX (x[i], x[i + rotary_dim/2]) or GPT-J (x[2i], x[2i+1]); HF configs do not state
  // it, so the parser derives it from model_type (docs/PRECISION.md lists the GPT-J families).
  bool is_neox = true;
  std::string model_type;               // as the config says ("" if absent)
  int64_t max_position_embeddings = 0;  // 0: the config does not say
  std::optional<int64_t> original_max_position_embeddings;

  std::optional<double> factor;            // linear, dynamic, yarn, llama3, longrope
  std::optional<double> attention_factor;  // yarn, longrope: overrides the derived value

  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  bool truncate = true;

  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;

  // longrope: rotary_dim / 2 values each
  std::vector<double> short_factor;
  std::vector<double> long_factor;

  // Multimodal RoPE (Qwen2-VL, Qwen2.5-VL: contiguous; Qwen3-VL: interleaved). Sums to
  // rotary_dim / 2. The cache is the plain one; the rotation takes positions [3, T].
  std::optional<std::array<int64_t, 3>> mrope_section;
  bool mrope_interleaved = false;
};

// Parses the text of an HF config.json (a nested "text_config" is used when present). Unknown or
// malformed fields of the rope section throw ropekit::Error naming the field.
ROPEKIT_CXX_API RopeConfig parse_hf_config(const std::string& json_text);
// Reads and parses a config.json file; errors name the path.
ROPEKIT_CXX_API RopeConfig load_hf_config(const std::string& path);
// Checks the cross-field rules (rotary_dim, factors present for the type, list lengths, ...);
// parse_hf_config() calls it, hand-built configs should too. Throws ropekit::Error.
ROPEKIT_CXX_API void validate(const RopeConfig& config);

struct RopeFrequencies {
  std::vector<double> inv_freq;   // rotary_dim / 2 values
  double attention_factor = 1.0;  // multiplies cos and sin
};

// inv_freq and the attention factor, float64 math. `sequence_length` matters only for dynamic
// (NTK base grows with it, transformers' per-length update) and longrope (long factors once it
// exceeds original_max_position_embeddings); 0 means "at load time", transformers' initial values.
ROPEKIT_CXX_API RopeFrequencies rope_frequencies(const RopeConfig& config,
                                                 int64_t sequence_length = 0);

// The length at which vLLM builds its one dynamic-NTK cache: original length L0 * factor.
// rope_frequencies(config, dynamic_ntk_vllm_length(config)) gives vLLM's frequencies.
ROPEKIT_CXX_API int64_t dynamic_ntk_vllm_length(const RopeConfig& config);

// The cos/sin cache for `config` at `sequence_length` (as in rope_frequencies), attention factor
// applied: `out` is a CPU tensor [max_position, rotary_dim] of float32, float64, float16 or
// bfloat16. Angles in float64, rounded once.
ROPEKIT_CXX_API void build_cos_sin_cache(const RopeConfig& config, const TensorView& out,
                                         int64_t sequence_length = 0);

// LongRoPE keeps two caches and picks one per batch (vLLM's layout): one tensor of
// original_max_position_embeddings short rows followed by max_position long rows,
// [L0 + max_position, rotary_dim].
ROPEKIT_CXX_API int64_t longrope_cache_rows(const RopeConfig& config, int64_t max_position);
ROPEKIT_CXX_API void build_longrope_cos_sin_cache(const RopeConfig& config, const TensorView& out);
// The cache a batch should read from that combined tensor: the short rows while every position
// is below L0 (the sequence fits the original length), else the long rows. Positions need no
// offset: the returned view starts at the right row. (vLLM adds an offset L0 to the positions
// instead; longrope_position_offset() returns it.)
ROPEKIT_CXX_API TensorView longrope_cache_for_batch(const RopeConfig& config,
                                                    const TensorView& combined,
                                                    int64_t max_position_in_batch);
ROPEKIT_CXX_API int64_t longrope_position_offset(const RopeConfig& config,
                                                 int64_t max_position_in_batch);

}  // namespace ropekit
