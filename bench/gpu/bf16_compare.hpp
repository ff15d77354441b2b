// Element-wise agreement of two bf16 arrays: how many differ, by how many units in the last place
// at most, and whether either holds a NaN (which never agrees).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace ropekit::bench {

inline float bf16_to_float(uint16_t bits) {
  const uint32_t wide = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// bf16 bits mapped to integers in the order of their values: neighbours differ by 1.
inline int64_t bf16_order(uint16_t bits) {
  return (bits & 0x8000) ? -int64_t(bits & 0x7fff) : int64_t(bits & 0x7fff);
}

struct Agreement {
  int64_t differing = 0;   // elements whose bits differ
  int64_t over = 0;        // elements beyond the tolerance
  int64_t max_ulp = 0;
  bool nan = false;

  bool identical() const { return differing == 0 && !nan; }
  bool ok() const { return over == 0 && !nan; }
  std::string describe() const {
    if (nan) return "NaN";
    if (differing == 0) return "identical";
    return (over ? "WRONG:" : "ulp" + std::to_string(max_ulp) + ":") +
           std::to_string(over ? over : differing);
  }
};

// Tolerance: one bf16 rounding apart (1 ulp), or 2^-20 absolute where a cancellation left a
// result so small that float32 arithmetic and float64 arithmetic round it to different ulps.
inline Agreement compare_bf16(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  Agreement result;
  for (size_t i = 0; i < a.size(); ++i) {
    const float x = bf16_to_float(a[i]), y = bf16_to_float(b[i]);
    if (std::isnan(x) || std::isnan(y)) {
      result.nan = true;
      continue;
    }
    if (a[i] == b[i]) continue;
    ++result.differing;
    const int64_t ulp = std::llabs(bf16_order(a[i]) - bf16_order(b[i]));
    result.max_ulp = std::max(result.max_ulp, ulp);
    if (ulp > 1 && std::fabs(x - y) > 0x1p-20f) ++result.over;
  }
  return result;
}

}  // namespace ropekit::bench
