// Overflow-checked int64 arithmetic for shapes, strides, element counts and byte sizes of a
// request: caller-controlled sizes must be rejected when they wrap, never used wrapped.
#pragma once
#include <cstdint>
#include <optional>

namespace ropekit::detail {

// a * b, or nothing when it does not fit in int64.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t result = 0;
  if (__builtin_mul_overflow(a, b, &result)) return std::nullopt;
  return result;
}

// a + b, or nothing when it does not fit in int64.
inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t result = 0;
  if (__builtin_add_overflow(a, b, &result)) return std::nullopt;
  return result;
}

}  // namespace ropekit::detail
