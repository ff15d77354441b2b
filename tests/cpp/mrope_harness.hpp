// Multimodal RoPE test problems shared by the host tests (test_variants_mrope.cpp) and the GPU
// tests (test_cuda_mrope.cpp): random [3, T] positions, a real cos/sin cache, inputs kept in
// float64 before the run, and an oracle written here from ROPE_SPEC section 4.
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "harness.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::testing {

struct MropeCase {
  int64_t tokens = 9;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;  // 0: no key
  int64_t head_size = 128;
  int64_t rotary_dim = 128;
  std::array<int64_t, 3> section{16, 24, 24};
  bool interleaved = false;
  DType x_dtype = DType::float32;
  DType cache_dtype = DType::float32;
  DType positions_dtype = DType::int64;
  bool inverse = false;
  bool out_of_place = false;
  int64_t max_position = 2048;
};

struct MropeRun {
  HostTensor positions, cache, query, key, query_out, key_out;
  std::vector<double> query_in, key_in;  // the inputs before the run
};

// The stream (0 t, 1 h, 2 w) of frequency i: check::mrope_stream, the float64 checker's rule,
// restated from the spec rather than shared with the library.
int oracle_stream(int64_t i, const std::array<int64_t, 3>& section, bool interleaved);

MropeRun make_run(const MropeCase& c, std::mt19937_64& rng);

// Arguments over the run's host tensors.
RotaryArgs args_of(const MropeCase& c, MropeRun& r, Backend backend);

// Checks every output element against the float64 rotation of its input (gtest failures), and
// that out-of-place runs left the inputs untouched.
void check_run(const MropeCase& c, const MropeRun& r);

}  // namespace ropekit::testing
