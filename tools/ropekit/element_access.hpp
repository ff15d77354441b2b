// Reading and writing one element of a host buffer of any ropekit dtype, as a double.
// Uses the library's own bit-exact bf16/fp16 conversions (src/core/numeric.hpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/numeric.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit::cli {

inline double load_element(DType dtype, const void* base, int64_t offset) {
  using detail::bf16_t;
  using detail::f16_t;
  switch (dtype) {
    case DType::float32: return static_cast<const float*>(base)[offset];
    case DType::float64: return static_cast<const double*>(base)[offset];
    case DType::float16: return detail::f16_to_float(static_cast<const f16_t*>(base)[offset]);
    case DType::bfloat16: return detail::bf16_to_float(static_cast<const bf16_t*>(base)[offset]);
    case DType::int32: return static_cast<const int32_t*>(base)[offset];
    case DType::int64: return double(static_cast<const int64_t*>(base)[offset]);
  }
  return NAN;
}

// Rounds `value` once to the dtype.
inline void store_element(DType dtype, void* base, int64_t offset, double value) {
  using detail::bf16_t;
  using detail::f16_t;
  switch (dtype) {
    case DType::float32: static_cast<float*>(base)[offset] = float(value); break;
    case DType::float64: static_cast<double*>(base)[offset] = value; break;
    case DType::float16: static_cast<f16_t*>(base)[offset] = detail::from_double<f16_t>(value); break;
    case DType::bfloat16: static_cast<bf16_t*>(base)[offset] = detail::from_double<bf16_t>(value); break;
    case DType::int32: static_cast<int32_t*>(base)[offset] = int32_t(value); break;
    case DType::int64: static_cast<int64_t*>(base)[offset] = int64_t(value); break;
  }
}

}  // namespace ropekit::cli
