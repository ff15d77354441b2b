#include "ropekit/cache.hpp"

#include <cmath>
#include <string>

#include "core/numeric.hpp"
#include "ropekit/error.hpp"

namespace ropekit {

std::vector<double> default_inv_freq(double rope_theta, int64_t rotary_dim) {
  if (!(rope_theta > 0.0) || !std::isfinite(rope_theta))
    throw Error("rope_theta: expected a positive finite value, got " + std::to_string(rope_theta));
  if (rotary_dim < 2 || rotary_dim % 2 != 0)
    throw Error("rotary_dim: expected an even value >= 2, got " + std::to_string(rotary_dim));
  std::vector<double> inv_freq(static_cast<size_t>(rotary_dim / 2));
  for (int64_t i = 0; i < rotary_dim / 2; ++i)
    inv_freq[i] = 1.0 / std::pow(rope_theta, static_cast<double>(2 * i) / double(rotary_dim));
  return inv_freq;
}

namespace {

template <class T>
void fill_cache(const std::vector<double>& inv_freq, double attention_factor, const TensorView& out) {
  const int64_t half = static_cast<int64_t>(inv_freq.size());
  for (int64_t position = 0; position < out.shape[0]; ++position) {
    T* row = static_cast<T*>(out.data) + position * out.strides[0];
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position) * inv_freq[i];
      row[i] = detail::from_double<T>(std::cos(angle) * attention_factor);
      row[half + i] = detail::from_double<T>(std::sin(angle) * attention_factor);
    }
  }
}

}  // namespace

void build_cos_sin_cache(const std::vector<double>& inv_freq, double attention_factor,
                         const TensorView& out) {
  const int64_t rotary_dim = 2 * static_cast<int64_t>(inv_freq.size());
  if (inv_freq.empty()) throw Error("inv_freq: expected at least one frequency, got none");
  if (out.device != Device::cpu)
    throw Error("out: expected a cpu tensor, got " + to_string(out.device));
  if (out.ndim != 2 || out.shape[1] != rotary_dim || out.shape[0] < 0)
    throw Error("out: expected shape [max_position, " + std::to_string(rotary_dim) + "], got " +
                std::to_string(out.ndim) + " dimension(s)" +
                (out.ndim == 2 ? " [" + std::to_string(out.shape[0]) + ", " +
                                     std::to_string(out.shape[1]) + "]"
                               : std::string()));
  if (out.strides[1] != 1 || out.strides[0] < rotary_dim)
    throw Error("out: expected non-overlapping rows with a contiguous last dimension");
  if (out.shape[0] > 0 && out.data == nullptr) throw Error("out: data pointer is null");
  if (!std::isfinite(attention_factor))
    throw Error("attention_factor: expected a finite value, got " + std::to_string(attention_factor));
  switch (out.dtype) {
    case DType::float32: return fill_cache<float>(inv_freq, attention_factor, out);
    case DType::float64: return fill_cache<double>(inv_freq, attention_factor, out);
    case DType::float16: return fill_cache<detail::f16_t>(inv_freq, attention_factor, out);
    case DType::bfloat16: return fill_cache<detail::bf16_t>(inv_freq, attention_factor, out);
    default:
      throw Error("out: expected dtype float32, float64, float16 or bfloat16, got " +
                  to_string(out.dtype));
  }
}

}  // namespace ropekit
