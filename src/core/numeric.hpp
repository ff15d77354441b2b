// Bit-exact conversions between float and the 16-bit storage types, for host code.
// (CUDA kernels use the cuda_fp16 / cuda_bf16 intrinsics, which round the same way.)
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ropekit::detail {

// Storage-only 16-bit types: arithmetic always happens in float or double.
struct bf16_t { uint16_t bits; };
struct f16_t { uint16_t bits; };

inline uint32_t float_bits(float value) { uint32_t b; std::memcpy(&b, &value, 4); return b; }
inline float bits_float(uint32_t b) { float value; std::memcpy(&value, &b, 4); return value; }

inline float bf16_to_float(bf16_t v) { return bits_float(uint32_t(v.bits) << 16); }

// Round to nearest even; NaN stays NaN.
inline bf16_t float_to_bf16(float value) {
  uint32_t x = float_bits(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((x >> 16) | 0x0040u)};
  x += 0x7fffu + ((x >> 16) & 1u);
  return bf16_t{uint16_t(x >> 16)};
}

inline float f16_to_float(f16_t v) {
  const uint32_t sign = uint32_t(v.bits & 0x8000u) << 16;
  const uint32_t exponent = (v.bits >> 10) & 0x1fu;
  const uint32_t mantissa = v.bits & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = float(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// Round to nearest even, with subnormals, overflow to infinity and NaN kept.
inline f16_t float_to_f16(float value) {
  uint32_t x = float_bits(value);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return f16_t{uint16_t(sign | 0x7e00u)};
  if (x >= 0x477ff000u) return f16_t{uint16_t(sign | 0x7c00u)};  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                                          // below 2^-14: subnormal
    if (x < 0x33000000u) return f16_t{sign};                      // <= 2^-25 rounds to 0
    const uint32_t exponent = x >> 23;
    const uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exponent;
    uint32_t units = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (units & 1u))) ++units;
    return f16_t{uint16_t(sign | units)};
  }
  const uint32_t rebased = x - 0x38000000u;
  uint32_t result = rebased >> 13;
  const uint32_t rest = rebased & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) ++result;
  return f16_t{uint16_t(sign | result)};
}

// double -> float rounded to odd: with at least two spare bits, a second rounding to a narrower
// type then equals one correct rounding of the double (no double-rounding error).
inline float double_to_float_round_to_odd(double value) {
  float rounded = static_cast<float>(value);
  if (static_cast<double>(rounded) != value && !std::isnan(value) &&
      (float_bits(rounded) & 1u) == 0 && std::isfinite(rounded)) {
    rounded = std::nextafter(rounded, value > rounded ? INFINITY : -INFINITY);
  }
  return rounded;
}

template <class T> inline float to_float(T v);
template <> inline float to_float<float>(float v) { return v; }
template <> inline float to_float<bf16_t>(bf16_t v) { return bf16_to_float(v); }
template <> inline float to_float<f16_t>(f16_t v) { return f16_to_float(v); }

template <class T> inline double to_double(T v) { return static_cast<double>(to_float(v)); }
template <> inline double to_double<double>(double v) { return v; }

template <class T> inline T from_float(float v);
template <> inline float from_float<float>(float v) { return v; }
template <> inline bf16_t from_float<bf16_t>(float v) { return float_to_bf16(v); }
template <> inline f16_t from_float<f16_t>(float v) { return float_to_f16(v); }

// One correct rounding from double to the storage type.
template <class T> inline T from_double(double v) {
  return from_float<T>(double_to_float_round_to_odd(v));
}
template <> inline float from_double<float>(double v) { return static_cast<float>(v); }
template <> inline double from_double<double>(double v) { return v; }

}  // namespace ropekit::detail
