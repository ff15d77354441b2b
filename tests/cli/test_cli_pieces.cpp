// Unit tests of the pieces `ropekit verify` and `ropekit bench` trust: the comparison with the
// reference (it must catch a wrong element anywhere, and accept float32-computed results within
// one rounding), the traffic model behind GB/s, and the coverage of the random cases.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "bench_traffic.hpp"
#include "compare_outputs.hpp"
#include "element_access.hpp"
#include "common/model_shapes.hpp"
#include "problem_buffers.hpp"
#include "verify_cases.hpp"

namespace ropekit::cli {
namespace {

uint64_t fresh_seed() { return (uint64_t(std::random_device{}()) << 32) | std::random_device{}(); }

ProblemSpec partial_rotary_spec(DType dtype) {
  ProblemSpec spec;
  spec.tokens = 7;
  spec.num_heads = 4;
  spec.num_kv_heads = 2;
  spec.head_size = 64;
  spec.rotary_dim = 32;  // a pass-through tail of 32 elements per head
  spec.x_dtype = dtype;
  spec.cache_dtype = DType::float32;
  spec.max_position = 100;
  spec.fused_qkv = true;  // the v part follows k in each row
  spec.token_padding = 3;
  return spec;
}

// Two identical host problems, the reference run on both: the downloads must compare equal.
struct TwoRuns {
  std::unique_ptr<DeviceOps> ops = make_host_ops();
  std::unique_ptr<ProblemBuffers> problem;
  std::vector<std::vector<unsigned char>> expected, got;

  TwoRuns(const ProblemSpec& spec, uint64_t seed) {
    ProblemBuffers oracle(*ops, spec, seed);
    rotary_embedding(oracle.args(Backend::reference));
    expected = oracle.download();
    problem = std::make_unique<ProblemBuffers>(*ops, spec, seed);
    rotary_embedding(problem->args(Backend::reference));
    got = problem->download();
  }
  const HeadOperand& query_out() const { return problem->query_out(); }
  DType dtype() const { return problem->spec().x_dtype; }
  double get(int64_t buffer, int64_t offset) const {
    return load_element(dtype(), got[buffer].data(), offset);
  }
  void set(int64_t buffer, int64_t offset, double value) {
    store_element(dtype(), got[buffer].data(), offset, value);
  }
};

TEST(CompareWithReference, IdenticalRunsPass) {
  for (DType dtype : {DType::float32, DType::float16, DType::bfloat16}) {
    TwoRuns runs(partial_rotary_spec(dtype), fresh_seed());
    const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
    EXPECT_TRUE(result.passed()) << result.first_mismatches;
    // 7 tokens x (4 + 2) heads x 32 rotated elements.
    EXPECT_EQ(result.rotated_elements, 7 * 6 * 32);
    EXPECT_EQ(result.max_abs_error, 0.0);
  }
}

TEST(CompareWithReference, CatchesAnElementTwoUlpsOff) {
  for (DType dtype : {DType::float16, DType::bfloat16}) {
    TwoRuns runs(partial_rotary_spec(dtype), fresh_seed());
    const int64_t offset = runs.query_out().element(0, 3, 1, 5);
    const int buffer = runs.query_out().buffer;
    const double value = runs.get(buffer, offset);
    const int mantissa_bits = dtype == DType::float16 ? 10 : 7;
    const double ulp = std::ldexp(1.0, std::ilogb(std::fabs(value)) - mantissa_bits);
    // Toward zero: the binade below is finer, so the changed value is stored exactly.
    runs.set(buffer, offset, value - std::copysign(2 * ulp, value));
    const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
    EXPECT_EQ(result.mismatches, 1) << to_string(dtype) << " value " << value;
    EXPECT_GT(result.max_error_ratio, 1.0);
  }
}

TEST(CompareWithReference, AcceptsOneRoundingOfAFloat32Result) {
  // One ulp of the output dtype is what rounding a float32 result may cost.
  TwoRuns runs(partial_rotary_spec(DType::bfloat16), fresh_seed());
  const int64_t offset = runs.query_out().element(0, 2, 0, 0);
  const int buffer = runs.query_out().buffer;
  const double value = runs.get(buffer, offset);
  runs.set(buffer, offset,
           value - std::copysign(std::ldexp(1.0, std::ilogb(std::fabs(value)) - 7), value));
  const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
  EXPECT_TRUE(result.passed()) << result.first_mismatches;
  EXPECT_GT(result.max_abs_error, 0.0);
}

TEST(CompareWithReference, CatchesNaN) {
  TwoRuns runs(partial_rotary_spec(DType::float32), fresh_seed());
  runs.set(runs.query_out().buffer, runs.query_out().element(0, 6, 3, 31), NAN);
  const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
  EXPECT_EQ(result.mismatches, 1);
  EXPECT_TRUE(std::isinf(result.max_error_ratio));
}

TEST(CompareWithReference, CatchesWritesOutsideTheRotaryPart) {
  const ProblemSpec spec = partial_rotary_spec(DType::bfloat16);
  const int64_t row = (spec.num_heads + 2 * spec.num_kv_heads) * spec.head_size + spec.token_padding;
  struct Place { const char* what; int64_t offset; };
  const Place places[] = {
      {"pass-through tail", 1 * row + 2 * spec.head_size + 40},  // token 1, head 2
      {"v part", 4 * row + (spec.num_heads + spec.num_kv_heads) * spec.head_size + 7},
      {"row padding", 5 * row + row - 1},
  };
  for (const Place& place : places) {
    TwoRuns runs(spec, fresh_seed());
    const int buffer = runs.query_out().buffer;
    runs.set(buffer, place.offset, runs.get(buffer, place.offset) + 0.5);
    const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
    EXPECT_EQ(result.mismatches, 1) << place.what;
  }
}

TEST(CompareWithReference, CatchesChangedInputsOutOfPlace) {
  ProblemSpec spec = partial_rotary_spec(DType::float16);
  spec.fused_qkv = false;
  spec.out_of_place = true;
  TwoRuns runs(spec, fresh_seed());
  const HeadOperand& key = runs.problem->key();
  runs.set(key.buffer, key.element(0, 0, 0, 0), 1.25);  // the input, not key_out
  const Comparison result = compare_with_reference(*runs.problem, runs.expected, runs.got);
  EXPECT_EQ(result.mismatches, 1);
}

TEST(BytesMoved, CountsSectorsOfRotaryPartsCacheRowsAndPositions) {
  auto ops = make_host_ops();
  ProblemSpec spec;
  spec.tokens = 1;
  spec.x_dtype = spec.cache_dtype = DType::bfloat16;
  spec.max_position = 1000;
  const auto use_shape = [&spec](std::string_view name) {
    const shapes::ModelShape* shape = shapes::find_model_shape(name);
    ASSERT_NE(shape, nullptr) << name;
    spec.num_heads = shape->num_heads;
    spec.num_kv_heads = shape->num_kv_heads;
    spec.head_size = shape->head_size;
    spec.rotary_dim = shape->rotary_dim;
  };
  // llama3-8b: each head's 128 bf16 = 256 bytes = 8 sectors, read and written; 32 + 8 heads;
  // one 256-byte cache row; 8 bytes of positions occupy one sector.
  use_shape("llama3-8b");
  EXPECT_EQ(bytes_moved(ProblemBuffers(*ops, spec, fresh_seed())), 2 * 40 * 256 + 256 + 32);
  // neox-20b: 24 rotary bf16 = 48 bytes at the start of 192-byte heads: 2 sectors; the 48-byte
  // cache row at position p starts at 48p, 0 or 16 bytes into a sector: 2 sectors either way;
  // 64 + 64 heads.
  use_shape("neox-20b");
  EXPECT_EQ(bytes_moved(ProblemBuffers(*ops, spec, fresh_seed())), 2 * 128 * 64 + 64 + 32);
}

TEST(RandomCases, NineConsecutiveCasesCoverEveryDtypePair) {
  std::mt19937_64 rng(fresh_seed());
  std::set<std::pair<DType, DType>> pairs;
  for (int64_t index = 18; index < 27; ++index) {
    const ProblemSpec spec = random_case(rng, index);
    pairs.insert({spec.x_dtype, spec.cache_dtype});
    EXPECT_EQ(spec.rotary_dim % 2, 0);
    EXPECT_LE(spec.rotary_dim, spec.head_size);
    if (spec.num_kv_heads > 0) {
      EXPECT_EQ(spec.num_heads % spec.num_kv_heads, 0);
    }
  }
  EXPECT_EQ(pairs.size(), 9u);
}

}  // namespace
}  // namespace ropekit::cli
