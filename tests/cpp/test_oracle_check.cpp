// Tests of the float64 checker that every backend test and `ropekit verify` trust: it must accept
// a correctly rounded result and either neighbour of the exact value, and catch a wrong element
// anywhere, a NaN, and any write outside the rotary parts. Plus the coverage of the random cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "harness.hpp"

namespace ropekit::testing {
namespace {

// Fused qkv rows with padding, a pass-through tail of 32 elements per head.
Case partial_rotary_case(DType dtype) {
  Case c;
  c.tokens = 7;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_size = 64;
  c.rotary_dim = 32;
  c.x_dtype = dtype;
  c.cache_dtype = DType::float32;
  c.max_position = 100;
  c.fused_qkv = true;  // the v part follows k in each row
  c.token_padding = 3;
  return c;
}

int64_t fused_row(const Case& c) {
  return (c.num_heads + 2 * c.num_kv_heads) * c.head_size + c.token_padding;
}

int mantissa_bits(DType dtype) {
  return dtype == DType::float16 ? 10 : dtype == DType::bfloat16 ? 7 : 23;
}

Problem rotated_by_reference(const Case& c) {
  Problem problem = make_problem(c, fresh_seed());
  rotary_embedding(problem.args(Backend::reference));
  return problem;
}

// The exact rotation of query element `e` < half of head `h` of token `s` (NeoX pairs, fused).
double exact_first_half(const Problem& p, int64_t s, int64_t h, int64_t e) {
  const Case& c = p.c;
  const int64_t half = c.rotary_dim / 2;
  const int64_t at = s * fused_row(c) + h * c.head_size + e;
  const double x1 = check::read_element(c.x_dtype, p.snapshot.data(), at);
  const double x2 = check::read_element(c.x_dtype, p.snapshot.data(), at + half);
  const int64_t row = int64_t(p.positions.get(s)) * p.cache.view.strides[0];
  return x1 * p.cache.get(row + e) - x2 * p.cache.get(row + half + e);
}

// The representable neighbour of `rounded` on the other side of `exact`: the step toward zero
// from a power of two is half the step away from it.
double other_neighbour(double rounded, double exact, int bits) {
  const int exponent = std::ilogb(std::fabs(rounded));
  double step = std::ldexp(1.0, exponent - bits);
  if (std::fabs(exact) < std::fabs(rounded) && std::fabs(rounded) == std::ldexp(1.0, exponent))
    step /= 2;
  return rounded + (exact > rounded ? step : -step);
}

TEST(OracleCheck, AcceptsTheReferenceBackendWithinHalfATolerance) {
  for (DType dtype : {DType::float32, DType::float16, DType::bfloat16}) {
    const Problem problem = rotated_by_reference(partial_rotary_case(dtype));
    const CheckReport report = check_against_oracle(problem);
    EXPECT_TRUE(report.passed()) << report.first_mismatches;
    // 7 tokens x (4 + 2) heads x 32 rotated elements.
    EXPECT_EQ(report.rotated_elements, 7 * 6 * 32);
    // One correct rounding of the exact value is half an ulp: half the tolerance (plus float64
    // error far below it).
    EXPECT_LE(report.max_error_ratio, 0.5 + 1e-6) << to_string(dtype);
  }
}

TEST(OracleCheck, AcceptsEitherNeighbourOfTheExactValue) {
  for (DType dtype : {DType::float32, DType::float16, DType::bfloat16}) {
    Problem problem = rotated_by_reference(partial_rotary_case(dtype));
    const int64_t offset = 2 * fused_row(problem.c) + 1 * 64 + 3;  // token 2, head 1, element 3
    const double exact = exact_first_half(problem, 2, 1, 3);
    const double other = other_neighbour(problem.qkv.get(offset), exact, mantissa_bits(dtype));
    problem.qkv.set(offset, other);
    ASSERT_EQ(problem.qkv.get(offset), other) << "not representable";
    const CheckReport report = check_against_oracle(problem);
    EXPECT_TRUE(report.passed()) << to_string(dtype) << "\n" << report.first_mismatches;
    EXPECT_GE(report.max_abs_error, std::fabs(other - exact));
  }
}

TEST(OracleCheck, CatchesAnElementTwoUlpsOff) {
  for (DType dtype : {DType::float16, DType::bfloat16}) {
    Problem problem = rotated_by_reference(partial_rotary_case(dtype));
    const int64_t offset = 3 * fused_row(problem.c) + 1 * 64 + 5;  // token 3, head 1, element 5
    const double value = problem.qkv.get(offset);
    const double ulp = std::ldexp(1.0, std::ilogb(std::fabs(value)) - mantissa_bits(dtype));
    // Toward zero: the binade below is finer, so the changed value is stored exactly.
    problem.qkv.set(offset, value - std::copysign(2 * ulp, value));
    const CheckReport report = check_against_oracle(problem);
    EXPECT_EQ(report.mismatches, 1) << to_string(dtype) << " value " << value;
    EXPECT_GT(report.max_error_ratio, 1.0);
  }
}

TEST(OracleCheck, CatchesNaN) {
  Problem problem = rotated_by_reference(partial_rotary_case(DType::float32));
  problem.qkv.set(6 * fused_row(problem.c) + 3 * 64 + 31, NAN);  // token 6, head 3, element 31
  const CheckReport report = check_against_oracle(problem);
  EXPECT_EQ(report.mismatches, 1);
  EXPECT_TRUE(std::isinf(report.max_error_ratio));
}

TEST(OracleCheck, CatchesWritesOutsideTheRotaryPart) {
  const Case c = partial_rotary_case(DType::bfloat16);
  const int64_t row = fused_row(c);
  struct Place { const char* what; int64_t offset; };
  const Place places[] = {
      {"pass-through tail", 1 * row + 2 * c.head_size + 40},  // token 1, head 2
      {"v part", 4 * row + (c.num_heads + c.num_kv_heads) * c.head_size + 7},
      {"row padding", 5 * row + row - 1},
  };
  for (const Place& place : places) {
    Problem problem = rotated_by_reference(c);
    problem.qkv.set(place.offset, problem.qkv.get(place.offset) + 0.5);
    EXPECT_EQ(check_against_oracle(problem).mismatches, 1) << place.what;
  }
}

TEST(OracleCheck, CatchesChangedInputsAndWrittenPaddingOutOfPlace) {
  Case c = partial_rotary_case(DType::float16);
  c.fused_qkv = false;
  c.out_of_place = true;
  Problem changed_input = rotated_by_reference(c);
  changed_input.key.set(0, changed_input.key.get(0) + 0.5);  // the input, not key_out
  EXPECT_EQ(check_against_oracle(changed_input).mismatches, 1);

  Problem written_padding = rotated_by_reference(c);
  const int64_t out_row = c.num_heads * c.head_size + 1;
  written_padding.query_out.set(2 * out_row + out_row - 1, 0.0);
  EXPECT_EQ(check_against_oracle(written_padding).mismatches, 1);
}

TEST(OracleCheck, CatchesChangedPositionsAndCache) {
  const Case c = partial_rotary_case(DType::bfloat16);
  Problem changed_positions = rotated_by_reference(c);
  changed_positions.positions.set(4, double((int64_t(changed_positions.positions.get(4)) + 1) %
                                            c.max_position));
  EXPECT_EQ(check_against_oracle(changed_positions).mismatches, 1);

  Problem changed_cache = rotated_by_reference(c);
  changed_cache.cache.set(7, changed_cache.cache.get(7) + 0.5);
  EXPECT_EQ(check_against_oracle(changed_cache).mismatches, 1);
}

// Multimodal RoPE: each frequency's cache row comes from its own position stream, so a result
// computed with the other stream rule (split vs interleaved) must fail.
TEST(OracleCheck, FollowsEachFrequencysPositionStream) {
  for (bool interleaved : {false, true}) {
    Case c = partial_rotary_case(DType::float32);
    c.mrope_section = {8, 4, 4};
    c.mrope_interleaved = interleaved;
    c.max_position = 4096;  // distinct positions per stream, almost surely
    Problem right = make_problem(c, fresh_seed());
    rotary_embedding(right.args(Backend::reference));
    const CheckReport report = check_against_oracle(right);
    EXPECT_TRUE(report.passed()) << report.first_mismatches;
    EXPECT_EQ(report.rotated_elements, 7 * 6 * 32);

    Problem wrong = make_problem(c, fresh_seed());
    RotaryArgs args = wrong.args(Backend::reference);
    args.mrope_interleaved = !interleaved;
    rotary_embedding(args);
    EXPECT_GT(check_against_oracle(wrong).mismatches, 0) << (interleaved ? "interleaved" : "split");
  }
}

TEST(RandomCases, SweepsIncludeValidMropeCases) {
  std::mt19937_64 rng(fresh_seed());
  int mrope_cases = 0;
  for (int64_t index = 0; index < 400; ++index) {
    const Case c = random_case(rng, index);
    if (!c.mrope()) continue;
    ++mrope_cases;
    EXPECT_EQ(c.batch, 0);
    EXPECT_TRUE(c.is_neox);
    EXPECT_EQ(c.mrope_section[0] + c.mrope_section[1] + c.mrope_section[2], c.rotary_dim / 2);
  }
  EXPECT_GT(mrope_cases, 0);
  for (int i = 0; i < 400; ++i) EXPECT_FALSE(random_case(rng).mrope());
}

// Bench runs several backends on one problem, restoring it in between.
TEST(HostProblem, RestoreUndoesARun) {
  for (bool out_of_place : {false, true}) {
    Case c = partial_rotary_case(DType::bfloat16);
    c.fused_qkv = !out_of_place;
    c.out_of_place = out_of_place;
    Problem problem = rotated_by_reference(c);
    problem.restore();
    const std::vector<unsigned char>& input = out_of_place ? problem.query.storage
                                                           : problem.qkv.storage;
    EXPECT_TRUE(std::equal(input.begin(), input.end(), problem.snapshot.begin()));
    if (out_of_place) {
      for (int64_t i = 0; i < problem.query_out.view.numel(); ++i)
        ASSERT_TRUE(std::isnan(problem.query_out.get(i))) << "query_out element " << i;
    }
    rotary_embedding(problem.args(Backend::cpu));
    EXPECT_EQ(check_result(problem), "") << (out_of_place ? "out of place" : "in place");
  }
}

TEST(RandomCases, NineConsecutiveCasesCoverEveryDtypePair) {
  std::mt19937_64 rng(fresh_seed());
  std::set<std::pair<DType, DType>> pairs;
  for (int64_t index = 18; index < 27; ++index) {
    const Case c = random_case(rng, index);
    pairs.insert({c.x_dtype, c.cache_dtype});
    EXPECT_EQ(c.rotary_dim % 2, 0);
    EXPECT_LE(c.rotary_dim, c.head_size);
    if (c.num_kv_heads > 0) {
      EXPECT_EQ(c.num_heads % c.num_kv_heads, 0);
    }
  }
  EXPECT_EQ(pairs.size(), 9u);
}

}  // namespace
}  // namespace ropekit::testing
