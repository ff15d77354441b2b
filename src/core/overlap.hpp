// Exact memory-overlap tests between strided tensors, so that a call whose written tensors share
// memory with themselves or with any other argument is refused before anything is written.
#pragma once
#include <array>
#include <cstdint>

#include "ropekit/tensor.hpp"

namespace ropekit::detail {

// The bytes a tensor covers: rows of row_bytes contiguous bytes at base + sum(i_d * stride_d),
// 0 <= i_d < count_d.
struct Footprint {
  uintptr_t base = 0;
  int ndims = 0;
  std::array<int64_t, kMaxDims> stride{};  // bytes, non-negative
  std::array<int64_t, kMaxDims> count{};
  int64_t row_bytes = 0;
  bool empty = true;
};

// Needs a view that passed validation (non-negative strides, offsets that fit in int64 bytes).
Footprint footprint_of(const TensorView& view);

// `unknown` when the strides are too irregular to decide within a fixed amount of work; callers
// refuse such layouts rather than risk a race.
enum class Overlap { none, some, unknown };

// Whether two different indices of `t` reach the same byte.
Overlap internal_overlap(const Footprint& t);

// Whether any byte of `a` is also a byte of `b`.
Overlap overlap(const Footprint& a, const Footprint& b);

}  // namespace ropekit::detail
