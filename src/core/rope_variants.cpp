// inv_freq and attention factor for every RoPE type, in float64, following transformers 5.x
// (modeling_rope_utils.py, ROPE_INIT_FUNCTIONS). transformers computes in float32; we keep float64
// so that the cache is rounded once, at the end.
#include "core/rope_variants.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "ropekit/cache.hpp"
#include "ropekit/error.hpp"

namespace ropekit {
namespace detail {

int64_t original_length(const RopeConfig& config) {
  return config.original_max_position_embeddings.value_or(config.max_position_embeddings);
}

double effective_factor(const RopeConfig& config) {
  if (config.factor) return *config.factor;
  return static_cast<double>(config.max_position_embeddings) /
         static_cast<double>(original_length(config));
}

}  // namespace detail

namespace {

using detail::effective_factor;
using detail::original_length;

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw Error(field + ": " + message);
}

void require_factor(const RopeConfig& config) {
  if (!config.factor)
    fail("factor", "required by rope_type \"" + to_string(config.type) + "\" but not given");
  if (*config.factor < 1.0)
    fail("factor", "expected a value >= 1, got " + std::to_string(*config.factor));
}

void require_original_length(const RopeConfig& config) {
  if (original_length(config) < 1)
    fail("original_max_position_embeddings",
         "required by rope_type \"" + to_string(config.type) +
             "\" (or max_position_embeddings to default it) but neither is given");
}

// YaRN's ramp bounds: the dimension whose wavelength makes `rotations` turns over L0.
double correction_dim(double rotations, double dim, double base, double length) {
  return dim * std::log(length / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RopeFrequencies yarn_frequencies(const RopeConfig& config) {
  const double dim = static_cast<double>(config.rotary_dim);
  const double base = config.rope_theta;
  const double factor = effective_factor(config);
  const double length = static_cast<double>(original_length(config));

  RopeFrequencies result;
  if (config.attention_factor) {
    result.attention_factor = *config.attention_factor;
  } else if (config.mscale.value_or(0.0) != 0.0 && config.mscale_all_dim.value_or(0.0) != 0.0) {
    // transformers tests `if mscale and mscale_all_dim`: zero counts as absent.
    result.attention_factor =
        yarn_mscale(factor, *config.mscale) / yarn_mscale(factor, *config.mscale_all_dim);
  } else {
    result.attention_factor = yarn_mscale(factor, 1.0);
  }

  double low = correction_dim(config.beta_fast, dim, base, length);
  double high = correction_dim(config.beta_slow, dim, base, length);
  if (config.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1.0);
  if (low == high) high += 0.001;  // transformers: prevent a zero-width ramp

  const std::vector<double> base_inv_freq = default_inv_freq(base, config.rotary_dim);
  result.inv_freq.resize(base_inv_freq.size());
  for (size_t i = 0; i < base_inv_freq.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1.0 - ramp;
    result.inv_freq[i] = base_inv_freq[i] / factor * (1.0 - extrapolation) +
                         base_inv_freq[i] * extrapolation;
  }
  return result;
}

RopeFrequencies llama3_frequencies(const RopeConfig& config) {
  const double factor = *config.factor;
  const double length = static_cast<double>(original_length(config));
  const double low_freq_wavelen = length / config.low_freq_factor;
  const double high_freq_wavelen = length / config.high_freq_factor;
  RopeFrequencies result;
  result.inv_freq = default_inv_freq(config.rope_theta, config.rotary_dim);
  for (double& inv_freq : result.inv_freq) {
    const double wavelen = 2.0 * std::numbers::pi / inv_freq;
    if (wavelen > low_freq_wavelen) {
      inv_freq /= factor;  // low frequencies: interpolate fully
    } else if (!(wavelen < high_freq_wavelen)) {
      const double smooth = (length / wavelen - config.low_freq_factor) /
                            (config.high_freq_factor - config.low_freq_factor);
      inv_freq = (1.0 - smooth) * inv_freq / factor + smooth * inv_freq;
    }  // high frequencies: unchanged
  }
  return result;
}

RopeFrequencies dynamic_frequencies(const RopeConfig& config, int64_t sequence_length) {
  // transformers measures dynamic NTK against max_position_embeddings (not the original length):
  // at or below it the base is unchanged.
  const double dim = static_cast<double>(config.rotary_dim);
  const double length = static_cast<double>(config.max_position_embeddings);
  const double seq = std::max(static_cast<double>(sequence_length), length);
  const double factor = *config.factor;
  const double base =
      config.rope_theta * std::pow(factor * seq / length - (factor - 1.0), dim / (dim - 2.0));
  return {default_inv_freq(base, config.rotary_dim), 1.0};
}

RopeFrequencies longrope_frequencies(const RopeConfig& config, int64_t sequence_length) {
  const int64_t length = original_length(config);
  const double factor = effective_factor(config);
  RopeFrequencies result;
  if (config.attention_factor) {
    result.attention_factor = *config.attention_factor;
  } else {
    result.attention_factor =
        factor <= 1.0 ? 1.0
                      : std::sqrt(1.0 + std::log(factor) / std::log(static_cast<double>(length)));
  }
  const std::vector<double>& ext =
      sequence_length > length ? config.long_factor : config.short_factor;
  result.inv_freq = default_inv_freq(config.rope_theta, config.rotary_dim);
  for (size_t i = 0; i < result.inv_freq.size(); ++i) result.inv_freq[i] /= ext[i];
  return result;
}

}  // namespace

std::string to_string(RopeType type) {
  switch (type) {
    case RopeType::default_rope: return "default";
    case RopeType::linear: return "linear";
    case RopeType::dynamic: return "dynamic";
    case RopeType::yarn: return "yarn";
    case RopeType::llama3: return "llama3";
    case RopeType::longrope: return "longrope";
  }
  return "unknown";
}

void validate(const RopeConfig& config) {
  if (!(config.rope_theta > 1.0) || !std::isfinite(config.rope_theta))
    fail("rope_theta", "expected a finite value > 1, got " + std::to_string(config.rope_theta));
  if (config.head_size < 2)
    fail("head_size", "expected a value >= 2, got " + std::to_string(config.head_size));
  if (config.rotary_dim < 2 || config.rotary_dim % 2 != 0 || config.rotary_dim > config.head_size)
    fail("rotary_dim", "expected an even value in [2, head_size = " +
                           std::to_string(config.head_size) + "], got " +
                           std::to_string(config.rotary_dim));
  if (config.max_position_embeddings < 0)
    fail("max_position_embeddings", "expected a non-negative value, got " +
                                        std::to_string(config.max_position_embeddings));
  const size_t half = static_cast<size_t>(config.rotary_dim / 2);
  switch (config.type) {
    case RopeType::default_rope: break;
    case RopeType::linear: require_factor(config); break;
    case RopeType::dynamic:
      require_factor(config);
      if (config.max_position_embeddings < 1)
        fail("max_position_embeddings", "required by rope_type \"dynamic\" but not given");
      if (config.rotary_dim < 4)
        fail("rotary_dim", "dynamic NTK needs rotary_dim >= 4 (exponent d / (d - 2)), got " +
                               std::to_string(config.rotary_dim));
      break;
    case RopeType::yarn:
      require_original_length(config);
      if (!config.factor && config.max_position_embeddings < 1)
        fail("factor", "required by rope_type \"yarn\" (or max_position_embeddings to derive it)");
      if (effective_factor(config) <= 0)
        fail("factor", "expected a positive value, got " + std::to_string(effective_factor(config)));
      break;
    case RopeType::llama3:
      require_factor(config);
      require_original_length(config);
      if (!(config.high_freq_factor > config.low_freq_factor))
        fail("high_freq_factor", "expected a value > low_freq_factor = " +
                                     std::to_string(config.low_freq_factor) + ", got " +
                                     std::to_string(config.high_freq_factor));
      break;
    case RopeType::longrope:
      require_original_length(config);
      if (!config.factor && config.max_position_embeddings < 1)
        fail("factor", "required by rope_type \"longrope\" (or max_position_embeddings to derive it)");
      if (config.short_factor.size() != half)
        fail("short_factor", "expected rotary_dim / 2 = " + std::to_string(half) +
                                 " values, got " + std::to_string(config.short_factor.size()));
      if (config.long_factor.size() != half)
        fail("long_factor", "expected rotary_dim / 2 = " + std::to_string(half) + " values, got " +
                                std::to_string(config.long_factor.size()));
      if (original_length(config) < 2)
        fail("original_max_position_embeddings", "expected a value >= 2 (its log divides)");
      break;
  }
  if (config.mrope_section) {
    const auto& s = *config.mrope_section;
    if (s[0] < 0 || s[1] < 0 || s[2] < 0 || s[0] + s[1] + s[2] != config.rotary_dim / 2)
      fail("mrope_section", "expected 3 non-negative sizes summing to rotary_dim / 2 = " +
                                std::to_string(config.rotary_dim / 2) + ", got [" +
                                std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " +
                                std::to_string(s[2]) + "]");
    if (!config.is_neox)
      fail("mrope_section", "multimodal RoPE rotates NeoX pairs, but model_type \"" +
                                config.model_type + "\" uses GPT-J pairs");
  } else if (config.mrope_interleaved) {
    fail("mrope_interleaved", "given without mrope_section");
  }
}

RopeFrequencies rope_frequencies(const RopeConfig& config, int64_t sequence_length) {
  validate(config);
  if (sequence_length < 0)
    fail("sequence_length", "expected a non-negative value, got " + std::to_string(sequence_length));
  switch (config.type) {
    case RopeType::default_rope: return {default_inv_freq(config.rope_theta, config.rotary_dim), 1.0};
    case RopeType::linear: {
      RopeFrequencies result{default_inv_freq(config.rope_theta, config.rotary_dim), 1.0};
      for (double& inv_freq : result.inv_freq) inv_freq /= *config.factor;
      return result;
    }
    case RopeType::dynamic: return dynamic_frequencies(config, sequence_length);
    case RopeType::yarn: return yarn_frequencies(config);
    case RopeType::llama3: return llama3_frequencies(config);
    case RopeType::longrope: return longrope_frequencies(config, sequence_length);
  }
  fail("rope_type", "internal error: unhandled type");
}

int64_t dynamic_ntk_vllm_length(const RopeConfig& config) {
  validate(config);
  if (config.type != RopeType::dynamic)
    fail("rope_type", "expected \"dynamic\", got \"" + to_string(config.type) + "\"");
  return static_cast<int64_t>(static_cast<double>(config.max_position_embeddings) * *config.factor);
}

}  // namespace ropekit
