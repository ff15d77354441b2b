// cos/sin caches for a RopeConfig: the frequencies of rope_variants.cpp fed to the one cache
// builder (build_cos_sin_cache in cache.cpp), plus LongRoPE's two-part cache.
#include <string>

#include "core/rope_variants.hpp"
#include "ropekit/cache.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"

namespace ropekit {
namespace {

void require_longrope(const RopeConfig& config) {
  if (config.type != RopeType::longrope)
    throw Error("rope_type: expected \"longrope\" for a short/long cache, got \"" +
                to_string(config.type) + "\"");
}

// Rows [first, first + count) of a [rows, rotary_dim] view.
TensorView row_range(const TensorView& cache, int64_t first, int64_t count) {
  TensorView rows = cache;
  rows.data = static_cast<char*>(cache.data) + first * cache.strides[0] * element_size(cache.dtype);
  rows.shape[0] = count;
  return rows;
}

}  // namespace

void build_cos_sin_cache(const RopeConfig& config, const TensorView& out, int64_t sequence_length) {
  const RopeFrequencies frequencies = rope_frequencies(config, sequence_length);
  build_cos_sin_cache(frequencies.inv_freq, frequencies.attention_factor, out);
}

int64_t longrope_cache_rows(const RopeConfig& config, int64_t max_position) {
  require_longrope(config);
  validate(config);
  if (max_position < 1)
    throw Error("max_position: expected a positive value, got " + std::to_string(max_position));
  return detail::original_length(config) + max_position;
}

void build_longrope_cos_sin_cache(const RopeConfig& config, const TensorView& out) {
  require_longrope(config);
  validate(config);
  const int64_t short_rows = detail::original_length(config);
  if (out.ndim != 2 || out.shape[0] <= short_rows)
    throw Error("out: expected [original_max_position_embeddings (" + std::to_string(short_rows) +
                ") + max_position, rotary_dim] with max_position >= 1, got " +
                (out.ndim == 2 ? std::to_string(out.shape[0]) + " rows"
                               : std::to_string(out.ndim) + " dimension(s)"));
  // Any length above L0 selects the long factors; L0 itself selects the short ones.
  build_cos_sin_cache(config, row_range(out, 0, short_rows), /*sequence_length=*/short_rows);
  build_cos_sin_cache(config, row_range(out, short_rows, out.shape[0] - short_rows),
                      /*sequence_length=*/short_rows + 1);
}

int64_t longrope_position_offset(const RopeConfig& config, int64_t max_position_in_batch) {
  require_longrope(config);
  const int64_t short_rows = detail::original_length(config);
  if (max_position_in_batch < 0)
    throw Error("max_position_in_batch: expected a non-negative value, got " +
                std::to_string(max_position_in_batch));
  // transformers: long factors once the sequence length max(position) + 1 exceeds L0.
  return max_position_in_batch + 1 > short_rows ? short_rows : 0;
}

TensorView longrope_cache_for_batch(const RopeConfig& config, const TensorView& combined,
                                    int64_t max_position_in_batch) {
  const int64_t short_rows = detail::original_length(config);
  if (combined.ndim != 2 || combined.shape[0] <= short_rows)
    throw Error("combined: expected the cache of build_longrope_cos_sin_cache, with more than " +
                std::to_string(short_rows) + " rows");
  const int64_t offset = longrope_position_offset(config, max_position_in_batch);
  if (offset == 0) return row_range(combined, 0, short_rows);
  return row_range(combined, short_rows, combined.shape[0] - short_rows);
}

}  // namespace ropekit
