// Random problems for `ropekit verify`, covering the whole argument surface of rotary_embedding.
#pragma once
#include <cstdint>
#include <random>

#include "problem_buffers.hpp"

namespace ropekit::cli {

// Case `index` of a sweep: shapes (head sizes 8..256, rotary dims incl. 24 of 96 and 64 of 128,
// GQA, MQA, no key), fused-qkv views, [B, S] forms with gaps, padded tokens and heads,
// int32/int64 positions, out of place, inverse. The dtype pair cycles with `index` so every
// (x, cache) pair of the nine appears in any nine consecutive cases.
ProblemSpec random_case(std::mt19937_64& rng, int64_t index);

}  // namespace ropekit::cli
