// Random sweeps: every host backend against the float64 oracle over the whole argument surface.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace ropekit::testing {
namespace {

void expect_backend_matches_oracle(Backend backend, const Case& c, uint64_t seed) {
  Problem problem = make_problem(c, seed);
  ASSERT_NO_THROW(rotary_embedding(problem.args(backend))) << c.describe();
  const std::string errors = check_result(problem);
  EXPECT_TRUE(errors.empty()) << to_string(backend) << " " << c.describe() << "\n" << errors;
}

class HostBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(HostBackends, RandomSweep) {
  std::random_device entropy;
  const uint64_t base_seed = (uint64_t(entropy()) << 32) | entropy();
  std::mt19937_64 rng(base_seed);
  for (int i = 0; i < 300; ++i) {
    const Case c = random_case(rng);
    SCOPED_TRACE("seed " + std::to_string(base_seed) + " case " + std::to_string(i));
    expect_backend_matches_oracle(GetParam(), c, rng());
    if (HasFailure()) break;
  }
}

// The shapes the issue names explicitly, each dtype pair, both pairings.
TEST_P(HostBackends, NamedShapes) {
  struct Shape { int64_t heads, kv_heads, head_size, rotary_dim; };
  const Shape shapes[] = {{32, 8, 128, 128}, {32, 2, 128, 64}, {8, 1, 64, 64}, {4, 4, 96, 24},
                          {2, 1, 80, 80},    {2, 2, 256, 256}, {4, 1, 128, 64}, {3, 0, 64, 32}};
  const DType dtypes[] = {DType::float32, DType::float16, DType::bfloat16};
  std::random_device entropy;
  uint64_t seed = entropy();
  for (const Shape& shape : shapes)
    for (DType x : dtypes)
      for (DType cache : dtypes)
        for (bool neox : {true, false}) {
          Case c;
          c.num_heads = shape.heads;
          c.num_kv_heads = shape.kv_heads;
          c.head_size = shape.head_size;
          c.rotary_dim = shape.rotary_dim;
          c.x_dtype = x;
          c.cache_dtype = cache;
          c.is_neox = neox;
          c.tokens = 5;
          expect_backend_matches_oracle(GetParam(), c, seed++);
        }
}

TEST_P(HostBackends, FusedQkvBatchedInt32OutOfPlace) {
  Case c;
  c.batch = 2;
  c.tokens = 9;
  c.fused_qkv = true;
  c.positions_dtype = DType::int32;
  c.out_of_place = true;
  c.explicit_heads = true;
  c.x_dtype = DType::bfloat16;
  expect_backend_matches_oracle(GetParam(), c, std::random_device{}());
}

TEST_P(HostBackends, InverseUndoesForward) {
  std::random_device entropy;
  for (DType x : {DType::float32, DType::float16, DType::bfloat16})
    for (bool neox : {true, false}) {
      Case c;
      c.x_dtype = x;
      c.is_neox = neox;
      c.tokens = 11;
      c.rotary_dim = 32;
      c.fused_qkv = true;
      Problem problem = make_problem(c, entropy());
      // Use a genuine rotation (cos^2 + sin^2 = 1) so the inverse exists.
      std::vector<double> inv_freq = default_inv_freq(10000.0, c.rotary_dim);
      HostTensor cache = make_host_tensor(DType::float32, {c.max_position, c.rotary_dim});
      build_cos_sin_cache(inv_freq, 1.0, cache.view);
      RotaryArgs forward = problem.args(GetParam());
      forward.cos_sin_cache = cache.view;
      const std::vector<unsigned char> before = problem.qkv.storage;
      rotary_embedding(forward);
      RotaryArgs backward = forward;
      backward.inverse = true;
      rotary_embedding(backward);
      // Inputs lie in [-2, 2], so a pair's norm is at most 2*sqrt(2) and a rotation keeps it.
      // Each of the two roundings moves an element by at most half an ulp of that norm, and the
      // second rotation mixes the pair's two errors: two tolerances at the largest norm bound it.
      HostTensor original;
      original.view = problem.qkv.view;
      original.view.data = const_cast<unsigned char*>(before.data());
      const double largest_norm = 2.0 * std::sqrt(2.0);
      const double tol = 2 * tolerance(x, largest_norm, 2 * largest_norm);
      for (int64_t i = 0; i < problem.qkv.view.numel(); ++i)
        ASSERT_LE(std::fabs(problem.qkv.get(i) - original.get(i)), tol)
            << "element " << i << " " << c.describe();
    }
}

INSTANTIATE_TEST_SUITE_P(Host, HostBackends,
                         ::testing::Values(Backend::reference, Backend::cpu),
                         [](const auto& info) { return to_string(info.param); });

}  // namespace
}  // namespace ropekit::testing
