// The overlap tests against brute force: random small layouts (odd, equal, zero and nested
// strides, interleaved bases) whose bytes are enumerated one by one.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "core/overlap.hpp"

namespace ropekit::detail {
namespace {

// Byte offsets of every row start; empty when any count is 0.
std::vector<uintptr_t> row_starts(const Footprint& f) {
  std::vector<uintptr_t> starts{f.base};
  for (int d = 0; d < f.ndims; ++d) {
    std::vector<uintptr_t> next;
    for (uintptr_t s : starts)
      for (int64_t i = 0; i < f.count[d]; ++i) next.push_back(s + uintptr_t(i * f.stride[d]));
    starts = std::move(next);
  }
  return starts;
}

bool brute_internal(const Footprint& f) {
  std::set<uintptr_t> bytes;
  size_t total = 0;
  for (uintptr_t s : row_starts(f))
    for (int64_t b = 0; b < f.row_bytes; ++b, ++total) bytes.insert(s + uintptr_t(b));
  return bytes.size() != total;
}

bool brute_overlap(const Footprint& a, const Footprint& b) {
  std::set<uintptr_t> bytes;
  for (uintptr_t s : row_starts(a))
    for (int64_t i = 0; i < a.row_bytes; ++i) bytes.insert(s + uintptr_t(i));
  for (uintptr_t s : row_starts(b))
    for (int64_t i = 0; i < b.row_bytes; ++i)
      if (bytes.count(s + uintptr_t(i))) return true;
  return false;
}

Footprint random_footprint(std::mt19937_64& rng) {
  const auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Footprint f;
  f.empty = false;
  f.base = uintptr_t(1) << 20 | uintptr_t(pick(0, 96));
  f.row_bytes = pick(1, 3) * (int64_t(1) << pick(0, 2));
  f.ndims = int(pick(0, 3));
  for (int d = 0; d < f.ndims; ++d) {
    f.count[d] = pick(1, 4);
    // Mostly multiples of the row (real layouts), sometimes anything, zero included.
    f.stride[d] = pick(0, 3) ? f.row_bytes * pick(0, 6) + pick(0, 1) * pick(0, 3) : pick(0, 40);
  }
  return f;
}

TEST(Overlap, InternalOverlapMatchesBruteForce) {
  std::mt19937_64 rng(std::random_device{}());
  int found = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const Footprint f = random_footprint(rng);
    const Overlap result = internal_overlap(f);
    ASSERT_NE(result, Overlap::unknown);
    const bool expected = brute_internal(f);
    found += expected;
    ASSERT_EQ(result == Overlap::some, expected) << "trial " << trial;
  }
  EXPECT_GT(found, 1000);  // the generator reaches both answers
  EXPECT_LT(found, 19000);
}

TEST(Overlap, PairOverlapMatchesBruteForce) {
  std::mt19937_64 rng(std::random_device{}());
  int found = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const Footprint a = random_footprint(rng), b = random_footprint(rng);
    const Overlap result = overlap(a, b);
    ASSERT_NE(result, Overlap::unknown);
    const bool expected = brute_overlap(a, b);
    found += expected;
    ASSERT_EQ(result == Overlap::some, expected) << "trial " << trial;
    ASSERT_EQ(overlap(b, a), result);
  }
  EXPECT_GT(found, 1000);
  EXPECT_LT(found, 19000);
}

TensorView view(uintptr_t address, DType dtype, std::vector<int64_t> shape,
                std::vector<int64_t> strides) {
  TensorView v;
  v.data = reinterpret_cast<void*>(address);
  v.dtype = dtype;
  v.ndim = int(shape.size());
  for (int d = 0; d < v.ndim; ++d) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
  }
  return v;
}

// q, k and v of a fused qkv buffer [T, (32 + 8 + 8) * 128] at T = 2^20: decided in a few steps.
TEST(Overlap, FusedQkvViewsAtLargeSizesAreDisjoint) {
  const int64_t tokens = int64_t(1) << 20, row = (32 + 8 + 8) * 128;
  const uintptr_t base = uintptr_t(1) << 40;
  const TensorView q = view(base, DType::bfloat16, {tokens, 32, 128}, {row, 128, 1});
  const TensorView k = view(base + 2 * 32 * 128, DType::bfloat16, {tokens, 8 * 128}, {row, 1});
  const TensorView v = view(base + 2 * 40 * 128, DType::bfloat16, {tokens, 8, 128}, {row, 128, 1});
  EXPECT_EQ(internal_overlap(footprint_of(q)), Overlap::none);
  EXPECT_EQ(overlap(footprint_of(q), footprint_of(k)), Overlap::none);
  EXPECT_EQ(overlap(footprint_of(k), footprint_of(v)), Overlap::none);
  // One element more per row of k reaches v's first element.
  const TensorView k_wide =
      view(base + 2 * 32 * 128, DType::bfloat16, {tokens, 8 * 128 + 1}, {row, 1});
  EXPECT_EQ(overlap(footprint_of(k_wide), footprint_of(v)), Overlap::some);
  // Positions stored in the token padding of a padded query do not overlap it; in its heads they
  // do.
  const TensorView padded = view(base, DType::bfloat16, {64, 2, 128}, {512, 128, 1});
  const TensorView in_padding = view(base + 2 * 256, DType::int64, {64}, {128});
  const TensorView in_heads = view(base + 2 * 250, DType::int64, {64}, {128});
  EXPECT_EQ(overlap(footprint_of(padded), footprint_of(in_padding)), Overlap::none);
  EXPECT_EQ(overlap(footprint_of(padded), footprint_of(in_heads)), Overlap::some);
}

TEST(Overlap, EmptyTensorsOverlapNothing) {
  const TensorView empty = view(4096, DType::float32, {0, 8}, {8, 1});
  const TensorView full = view(4096, DType::float32, {4, 8}, {8, 1});
  EXPECT_EQ(overlap(footprint_of(empty), footprint_of(full)), Overlap::none);
  EXPECT_EQ(internal_overlap(footprint_of(view(4096, DType::float32, {0, 8}, {0, 1}))),
            Overlap::none);
}

}  // namespace
}  // namespace ropekit::detail
