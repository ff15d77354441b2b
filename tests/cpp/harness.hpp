// Test harness shared by every C++ test: random problems in every layout, an independent float64
// oracle written from the definition (not the library's reference backend), poisoned outputs and
// per-element tolerances derived from the dtype.
#pragma once
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ropekit/ropekit.hpp"

namespace ropekit::testing {

// An owning host tensor: a byte buffer plus the view into it (strides in elements).
struct HostTensor {
  std::vector<unsigned char> storage;
  TensorView view;  // points into storage: move-only, a copy would dangle

  HostTensor() = default;
  HostTensor(HostTensor&&) = default;
  HostTensor& operator=(HostTensor&&) = default;
  HostTensor(const HostTensor&) = delete;
  HostTensor& operator=(const HostTensor&) = delete;

  double get(int64_t offset) const;          // element at `offset` elements from view.data
  void set(int64_t offset, double value);    // rounds to the dtype
};

// A contiguous row-major tensor of `shape`, filled with NaN (floats) or -1 (integers).
HostTensor make_host_tensor(DType dtype, const std::vector<int64_t>& shape);

struct Case {
  int64_t batch = 0;  // 0: positions [T] and query [T, ...]; else positions [batch, seq]
  int64_t tokens = 7; // T, or seq when batch > 0
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;  // 0: no key
  int64_t head_size = 64;
  int64_t rotary_dim = 64;
  bool is_neox = true;
  DType x_dtype = DType::float32;
  DType cache_dtype = DType::float32;
  DType positions_dtype = DType::int64;
  bool fused_qkv = false;       // q and k are strided views of one [T, (nh + 2 nkv) * hs] buffer
  bool explicit_heads = false;  // [.., nh, hs] instead of [.., nh * hs]
  bool out_of_place = false;
  bool inverse = false;
  int64_t max_position = 4096;
  int64_t token_padding = 0;    // extra elements at the end of each token's row
  int64_t head_padding = 0;     // extra elements between heads (explicit_heads, not fused)
  int64_t batch_gap = 0;        // extra rows between batches ([B, S] forms): not collapsible
  int64_t cache_row_padding = 0;

  std::string describe() const;
};

// Draws a random case covering the whole argument surface.
Case random_case(std::mt19937_64& rng);

// A 64-bit seed from std::random_device: every run draws new data (tests print it on failure).
uint64_t fresh_seed();

// All tensors of one problem, filled with fresh random data (outputs poisoned with NaN).
struct Problem {
  Case c;
  HostTensor positions, cache;
  HostTensor qkv;                  // fused buffer, when c.fused_qkv
  HostTensor query, key;           // separate buffers otherwise
  TensorView query_view, key_view; // what is passed as query / key
  HostTensor query_out, key_out;   // when c.out_of_place
  std::vector<unsigned char> snapshot;  // the input bytes (query/key or qkv) before the run

  RotaryArgs args(Backend backend) const;
};

Problem make_problem(const Case& c, uint64_t seed);

// Checks every element the op may touch against the float64 oracle: rotated parts within the
// dtype's tolerance, pass-through parts and bytes outside the views bit-identical (in place) or
// copied (out of place). Returns "" on success, else a description of the first mismatches.
std::string check_result(const Problem& problem);

// Tolerance for one output element of `dtype` computed in float32: one rounding to the dtype
// (an ulp of |expected|, because the float32 value may sit on the other side of a rounding
// boundary) plus float32 arithmetic error on the two products.
double tolerance(DType dtype, double expected, double product_magnitude);

}  // namespace ropekit::testing
