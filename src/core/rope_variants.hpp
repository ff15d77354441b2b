// Internal helpers shared by the RoPE variant code (config validation, frequencies, caches).
#pragma once
#include <cstdint>

#include "ropekit/config.hpp"

namespace ropekit::detail {

// The pretraining length L0 the scaled types measure against: original_max_position_embeddings,
// else max_position_embeddings (transformers' standardize_rope_params); 0 when neither is known.
int64_t original_length(const RopeConfig& config);

// yarn and longrope: the explicit factor, else max_position_embeddings / L0 (transformers 5.x:
// "Using the explicit factor" when both are present and disagree).
double effective_factor(const RopeConfig& config);

}  // namespace ropekit::detail
