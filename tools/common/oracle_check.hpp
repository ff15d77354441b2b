// The float64 checker: every element a plain-RoPE call may touch, compared with the rotation
// computed here from the definition (not the library's reference backend), with tolerances
// justified by the output dtype (docs/PRECISION.md).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "host_problem.hpp"

namespace ropekit::check {

struct CheckReport {
  int64_t rotated_elements = 0;  // elements compared with a tolerance
  int64_t mismatches = 0;        // rotated elements out of tolerance + other places changed
  double max_abs_error = 0;      // over rotated elements
  double max_error_ratio = 0;    // max |got - expected| / tolerance: <= 1 passes; NaN gives inf
  std::string first_mismatches;  // a few lines describing the first failures

  bool passed() const { return mismatches == 0; }
};

// Checks `problem` after a run: rotated elements of the outputs within tolerance() of the float64
// rotation of the input snapshot; pass-through parts copied (out of place) or left alone; every
// other input byte (padding, the v part of a fused qkv, all inputs out of place), the positions
// and the cache unchanged; output padding still poisoned. A changed buffer counts once.
CheckReport check_against_oracle(const Problem& problem);

// The position stream (0 t, 1 h, 2 w) of frequency i of a multimodal RoPE case, restated from
// ROPE_SPEC section 4 rather than shared with the library, so that a wrong rule in one place
// cannot hide in both.
int mrope_stream(int64_t i, const std::array<int64_t, 3>& section, bool interleaved);

// check_against_oracle's first mismatches, "" when it passed.
std::string check_result(const Problem& problem);

// Tolerance of one output element of `dtype` computed in float32 and rounded once: the float32
// value may sit on the other side of a rounding boundary from the exact one, so one ulp of
// |expected| in the dtype; plus the float32 error of the two products and their sum (a few units
// of 2^-24 relative to |x1 cos| + |x2 sin|, 8 for margin).
double tolerance(DType dtype, double expected, double product_magnitude);

}  // namespace ropekit::check
