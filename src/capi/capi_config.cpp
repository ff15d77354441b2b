// extern "C" entry points for the RoPE variants: the cache from an HF config.json, and MRoPE.
#include <algorithm>
#include <string>

#include "capi/dlpack_view.hpp"
#include "capi/guarded.hpp"
#include "capi/rotary_args.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "ropekit/ropekit.h"
#include "ropekit/rotary.hpp"

extern "C" {

int ropekit_cos_sin_cache_from_hf_config(const char* config_json, int64_t max_positions,
                                         DLTensor* out) {
  return ropekit::capi::guarded([&] {
    if (config_json == nullptr) throw ropekit::Error("config_json: expected JSON text, got NULL");
    const ropekit::TensorView view = ropekit::capi::view_of(out, "out");
    const ropekit::RopeConfig config = ropekit::parse_hf_config(config_json);
    if (view.device != ropekit::Device::cpu)
      throw ropekit::Error("out: expected a cpu tensor, got " + ropekit::to_string(view.device));
    if (view.dtype != ropekit::DType::float32 && view.dtype != ropekit::DType::float64)
      throw ropekit::Error("out: expected dtype float32 or float64, got " +
                           ropekit::to_string(view.dtype));
    if (max_positions < 1)
      throw ropekit::Error("max_positions: expected a positive value, got " +
                           std::to_string(max_positions));
    if (view.ndim != 2 || view.shape[0] != max_positions || view.shape[1] != config.rotary_dim)
      throw ropekit::Error("out: expected shape [max_positions = " + std::to_string(max_positions) +
                           ", rotary_dim = " + std::to_string(config.rotary_dim) + "], got " +
                           (view.ndim == 2 ? "[" + std::to_string(view.shape[0]) + ", " +
                                                 std::to_string(view.shape[1]) + "]"
                                           : std::to_string(view.ndim) + " dimension(s)"));
    ropekit::build_cos_sin_cache(config, view);
  });
}

int ropekit_rope_frequencies_from_hf_config(const char* config_json, int64_t sequence_length,
                                            double* inv_freq, int64_t capacity, int64_t* count,
                                            double* attention_factor) {
  return ropekit::capi::guarded([&] {
    if (config_json == nullptr) throw ropekit::Error("config_json: expected JSON text, got NULL");
    if (count == nullptr) throw ropekit::Error("count: expected a pointer, got NULL");
    if (attention_factor == nullptr)
      throw ropekit::Error("attention_factor: expected a pointer, got NULL");
    const ropekit::RopeFrequencies f =
        ropekit::rope_frequencies(ropekit::parse_hf_config(config_json), sequence_length);
    const int64_t needed = static_cast<int64_t>(f.inv_freq.size());
    const bool size_query = inv_freq == nullptr && capacity == 0;
    if (!size_query && (inv_freq == nullptr || capacity < needed))
      throw ropekit::Error("inv_freq: expected room for rotary_dim / 2 = " + std::to_string(needed) +
                           " values, got capacity " + std::to_string(capacity) +
                           (inv_freq == nullptr ? " and NULL" : ""));
    if (!size_query) std::copy(f.inv_freq.begin(), f.inv_freq.end(), inv_freq);
    *count = needed;
    *attention_factor = f.attention_factor;
  });
}

int ropekit_rotary_embedding_mrope(const ropekit_rotary_args* args, const int64_t mrope_section[3],
                                   int mrope_interleaved) {
  return ropekit::capi::guarded([&] {
    if (mrope_section == nullptr)
      throw ropekit::Error("mrope_section: expected 3 sizes, got NULL");
    ropekit::RotaryArgs cpp = ropekit::capi::rotary_args_of(args);
    cpp.mrope_section = std::array<int64_t, 3>{mrope_section[0], mrope_section[1], mrope_section[2]};
    cpp.mrope_interleaved = mrope_interleaved != 0;
    ropekit::rotary_embedding(cpp);
  });
}

}  // extern "C"
