// Compares one backend's result with the reference backend's on the same ProblemBuffers data.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "problem_buffers.hpp"

namespace ropekit::cli {

struct Comparison {
  int64_t rotated_elements = 0;  // elements compared with a tolerance
  int64_t mismatches = 0;        // rotated elements out of tolerance + other elements changed
  double max_abs_error = 0;      // over rotated elements
  double max_error_ratio = 0;    // max |got - expected| / tolerance: <= 1 passes
  std::string first_mismatches;  // a few lines describing the first failures

  bool passed() const { return mismatches == 0; }
};

// Tolerance of one output element of `dtype` against the float64 reference when the backend
// computes in float32 and rounds once: the reference rounds the exact value once, the backend
// rounds a float32 value that may sit on the other side of a rounding boundary, so they may
// differ by one ulp of |expected| of the dtype; plus the float32 error of the two products and
// the sum (a few units of 2^-24 relative to |a*c| + |b*s|, 8 for margin).
double tolerance(DType dtype, double expected, double product_magnitude);

// `expected` and `got` are downloads (ProblemBuffers::download) after running the reference and
// the backend on problems built from the same spec and seed. Rotated elements of the outputs are
// compared within tolerance(); every other byte of every buffer (pass-through tails, padding, the
// v part of a fused qkv, inputs of an out-of-place run, positions, cache) must be identical.
Comparison compare_with_reference(const ProblemBuffers& problem,
                                  const std::vector<std::vector<unsigned char>>& expected,
                                  const std::vector<std::vector<unsigned char>>& got);

}  // namespace ropekit::cli
