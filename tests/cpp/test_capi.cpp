// The C API over DLPack: results match the oracle, errors are reported through the status and a
// thread-local message, nothing is written on error.
#include <gtest/gtest.h>

#include <thread>

#include "harness.hpp"
#include "ropekit/ropekit.h"

namespace ropekit::testing {
namespace {

// A DLTensor mirroring a TensorView (the view owns the memory; this only describes it).
struct DLTensorOf {
  DLTensor tensor{};
  std::vector<int64_t> shape, strides;

  explicit DLTensorOf(const TensorView& view) {
    shape.assign(view.shape.begin(), view.shape.begin() + view.ndim);
    strides.assign(view.strides.begin(), view.strides.begin() + view.ndim);
    tensor.data = view.data;
    tensor.device = {kDLCPU, 0};
    tensor.ndim = view.ndim;
    switch (view.dtype) {
      case DType::float32: tensor.dtype = {kDLFloat, 32, 1}; break;
      case DType::float16: tensor.dtype = {kDLFloat, 16, 1}; break;
      case DType::bfloat16: tensor.dtype = {kDLBfloat, 16, 1}; break;
      case DType::float64: tensor.dtype = {kDLFloat, 64, 1}; break;
      case DType::int32: tensor.dtype = {kDLInt, 32, 1}; break;
      case DType::int64: tensor.dtype = {kDLInt, 64, 1}; break;
    }
    tensor.shape = shape.data();
    tensor.strides = strides.data();
  }
};

TEST(CApi, MatchesOracleOverRandomCases) {
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 100; ++i) {
    Case c = random_case(rng);
    c.out_of_place = false;
    c.inverse = false;
    Problem problem = make_problem(c, rng());
    const RotaryArgs args = problem.args(Backend::automatic);
    DLTensorOf positions(args.positions), query(args.query), cache(args.cos_sin_cache);
    std::optional<DLTensorOf> key;
    if (args.key) key.emplace(*args.key);
    const int status = ropekit_rotary_embedding(&positions.tensor, &query.tensor,
                                                key ? &key->tensor : nullptr, c.head_size,
                                                &cache.tensor, c.is_neox, nullptr);
    ASSERT_EQ(status, ROPEKIT_OK) << ropekit_last_error() << "\n" << c.describe();
    EXPECT_STREQ(ropekit_last_error(), "");
    const std::string errors = check_result(problem);
    ASSERT_TRUE(errors.empty()) << c.describe() << "\n" << errors;
  }
}

TEST(CApi, ExtendedFormOutOfPlaceInverseAndCompactStrides) {
  Case c;
  c.tokens = 9;
  c.x_dtype = DType::bfloat16;
  c.out_of_place = true;
  c.inverse = true;
  Problem problem = make_problem(c, std::random_device{}());
  const RotaryArgs args = problem.args(Backend::cpu);
  DLTensorOf positions(args.positions), query(args.query), key(*args.key), cache(args.cos_sin_cache),
      query_out(*args.query_out), key_out(*args.key_out);
  positions.tensor.strides = nullptr;  // DLPack: NULL strides = compact row-major
  ropekit_rotary_args ex{};
  ex.positions = &positions.tensor;
  ex.query = &query.tensor;
  ex.key = &key.tensor;
  ex.query_out = &query_out.tensor;
  ex.key_out = &key_out.tensor;
  ex.cos_sin_cache = &cache.tensor;
  ex.head_size = c.head_size;
  ex.is_neox = c.is_neox;
  ex.inverse = 1;
  ex.backend = ROPEKIT_BACKEND_CPU;
  ASSERT_EQ(ropekit_rotary_embedding_ex(&ex), ROPEKIT_OK) << ropekit_last_error();
  const std::string errors = check_result(problem);
  EXPECT_TRUE(errors.empty()) << errors;
}

TEST(CApi, ByteOffsetIsHonoured) {
  Case c;
  c.num_kv_heads = 0;
  Problem problem = make_problem(c, std::random_device{}());
  const RotaryArgs args = problem.args(Backend::automatic);
  DLTensorOf positions(args.positions), query(args.query), cache(args.cos_sin_cache);
  // Describe positions as base pointer - 16 bytes + byte_offset 16.
  positions.tensor.data = static_cast<char*>(positions.tensor.data) - 16;
  positions.tensor.byte_offset = 16;
  ASSERT_EQ(ropekit_rotary_embedding(&positions.tensor, &query.tensor, nullptr, c.head_size,
                                     &cache.tensor, c.is_neox, nullptr),
            ROPEKIT_OK)
      << ropekit_last_error();
  EXPECT_TRUE(check_result(problem).empty());
}

TEST(CApi, ErrorsAreReportedAndNothingIsWritten) {
  Problem problem = make_problem(Case{}, std::random_device{}());
  const RotaryArgs args = problem.args(Backend::automatic);
  DLTensorOf positions(args.positions), query(args.query), key(*args.key), cache(args.cos_sin_cache);
  const std::vector<unsigned char> before = problem.query.storage;

  EXPECT_EQ(ropekit_rotary_embedding(nullptr, &query.tensor, &key.tensor, 64, &cache.tensor, 1,
                                     nullptr),
            ROPEKIT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(ropekit_last_error(), "positions: expected a tensor, got NULL");

  query.tensor.dtype = {kDLUInt, 8, 1};
  EXPECT_EQ(ropekit_rotary_embedding(&positions.tensor, &query.tensor, &key.tensor, 64,
                                     &cache.tensor, 1, nullptr),
            ROPEKIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ropekit_last_error()).find("query: unsupported DLPack dtype"),
            std::string::npos);
  query.tensor.dtype = {kDLFloat, 32, 1};

  query.tensor.device = {kDLOpenCL, 0};
  EXPECT_NE(ropekit_rotary_embedding(&positions.tensor, &query.tensor, &key.tensor, 64,
                                     &cache.tensor, 1, nullptr),
            ROPEKIT_OK);
  EXPECT_NE(std::string(ropekit_last_error()).find("query: expected a cpu or cuda tensor"),
            std::string::npos);
  query.tensor.device = {kDLCPU, 0};

  EXPECT_NE(ropekit_rotary_embedding(&positions.tensor, &query.tensor, &key.tensor, 63,
                                     &cache.tensor, 1, nullptr),
            ROPEKIT_OK);
  EXPECT_NE(std::string(ropekit_last_error()).find("head_size = 63"),
            std::string::npos);

  ropekit_rotary_args ex{};
  ex.positions = &positions.tensor;
  ex.query = &query.tensor;
  ex.cos_sin_cache = &cache.tensor;
  ex.head_size = 64;
  ex.backend = 7;
  EXPECT_NE(ropekit_rotary_embedding_ex(&ex), ROPEKIT_OK);
  EXPECT_NE(std::string(ropekit_last_error()).find("backend: expected"), std::string::npos);
  EXPECT_EQ(problem.query.storage, before);
}

TEST(CApi, LastErrorIsThreadLocal) {
  EXPECT_NE(ropekit_rotary_embedding(nullptr, nullptr, nullptr, 64, nullptr, 1, nullptr), ROPEKIT_OK);
  std::string seen_in_other_thread = "unset";
  std::thread([&] { seen_in_other_thread = ropekit_last_error(); }).join();
  EXPECT_EQ(seen_in_other_thread, "");
  EXPECT_STRNE(ropekit_last_error(), "");
}

TEST(CApi, VersionAndBackends) {
  EXPECT_STREQ(ropekit_version(), kVersion);
  EXPECT_EQ(ropekit_backend_available(ROPEKIT_BACKEND_REFERENCE), 1);
  EXPECT_EQ(ropekit_backend_available(ROPEKIT_BACKEND_CPU), 1);
  EXPECT_EQ(ropekit_backend_available(42), 0);
}

}  // namespace
}  // namespace ropekit::testing
