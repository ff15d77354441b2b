// One test per validation error: each bad argument is rejected with a message naming it and the
// expected vs actual value, and nothing is written.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "harness.hpp"

namespace ropekit::testing {
namespace {

struct BadInput {
  std::string name;
  std::function<void(RotaryArgs&, Problem&)> spoil;
  std::vector<std::string> message_parts;  // each must appear in the error message
};

std::ostream& operator<<(std::ostream& out, const BadInput& bad) { return out << bad.name; }

Case valid_case() {
  Case c;
  c.tokens = 6;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_size = 64;
  c.rotary_dim = 32;
  c.max_position = 100;
  return c;
}

class Validation : public ::testing::TestWithParam<BadInput> {};

TEST_P(Validation, RejectsAndWritesNothing) {
  const BadInput& bad = GetParam();
  for (Backend backend : {Backend::reference, Backend::cpu, Backend::automatic}) {
    Problem problem = make_problem(valid_case(), std::random_device{}());
    RotaryArgs args = problem.args(backend);
    bad.spoil(args, problem);
    const std::vector<unsigned char> query_before = problem.query.storage;
    const std::vector<unsigned char> key_before = problem.key.storage;
    try {
      rotary_embedding(args);
      ADD_FAILURE() << bad.name << ": accepted on backend " << to_string(backend);
    } catch (const Error& error) {
      const std::string message = error.what();
      for (const std::string& part : bad.message_parts)
        EXPECT_NE(message.find(part), std::string::npos)
            << "message '" << message << "' lacks '" << part << "'";
    }
    EXPECT_EQ(problem.query.storage, query_before) << bad.name << ": query was modified";
    EXPECT_EQ(problem.key.storage, key_before) << bad.name << ": key was modified";
  }
}

void set_position(Problem& p, int64_t index, int64_t value) { p.positions.set(index, double(value)); }

const BadInput kBadInputs[] = {
    {"PositionsFloatDtype", [](RotaryArgs& a, Problem&) { a.positions.dtype = DType::float32; },
     {"positions", "int32 or int64", "float32"}},
    {"PositionsThreeDims",
     [](RotaryArgs& a, Problem&) { a.positions.ndim = 3; a.positions.shape[2] = 1; a.positions.strides[2] = 1; },
     {"positions", "[T] or [B, S]", "[6, 0, 1]"}},
    {"PositionsNegativeStride", [](RotaryArgs& a, Problem&) { a.positions.strides[0] = -1; },
     {"positions", "non-negative strides", "(-1)"}},
    {"PositionsNullData", [](RotaryArgs& a, Problem&) { a.positions.data = nullptr; },
     {"positions", "null"}},
    {"PositionsMisaligned",
     [](RotaryArgs& a, Problem&) { a.positions.data = static_cast<char*>(a.positions.data) + 1; },
     {"positions", "aligned", "8"}},
    {"PositionNegative", [](RotaryArgs&, Problem& p) { set_position(p, 3, -1); },
     {"positions", "[0, max_position = 100)", "-1", "token 3"}},
    {"PositionTooLarge", [](RotaryArgs&, Problem& p) { set_position(p, 5, 100); },
     {"positions", "[0, max_position = 100)", "got 100", "token 5"}},
    {"HeadSizeZero", [](RotaryArgs& a, Problem&) { a.head_size = 0; },
     {"head_size", "positive", "got 0"}},
    {"HeadSizeNotDividingHidden", [](RotaryArgs& a, Problem&) { a.head_size = 48; },
     {"query", "multiple of head_size = 48", "got 256"}},
    {"CacheIntDtype", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.dtype = DType::int32; },
     {"cos_sin_cache", "float32, float16 or bfloat16", "int32"}},
    {"CacheOneDim", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.ndim = 1; },
     {"cos_sin_cache", "[max_position, rotary_dim]", "[100]"}},
    {"CacheOddRotaryDim", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.shape[1] = 31; },
     {"cos_sin_cache", "even", "got 31"}},
    {"CacheRotaryDimAboveHeadSize",
     [](RotaryArgs& a, Problem&) { a.cos_sin_cache.shape[1] = 66; a.cos_sin_cache.strides[0] = 66; },
     {"cos_sin_cache", "head_size = 64", "got 66"}},
    {"CacheStridedColumns", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.strides[1] = 2; },
     {"cos_sin_cache", "contiguous last dimension", "(32, 2)"}},
    {"CacheNoRows", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.shape[0] = 0; },
     {"cos_sin_cache", "at least one row", "[0, 32]"}},
    {"QueryIntDtype", [](RotaryArgs& a, Problem&) { a.query.dtype = DType::int64; },
     {"query", "float32, float16 or bfloat16", "int64"}},
    {"QueryWrongRank",
     [](RotaryArgs& a, Problem&) { a.query.ndim = 4; a.query.shape[2] = 1; a.query.shape[3] = 1; a.query.strides[3] = 1; },
     {"query", "2 or 3 dimensions", "shape [6, 256, 1, 1]"}},
    {"QueryTokenMismatch", [](RotaryArgs& a, Problem&) { a.query.shape[0] = 5; },
     {"query", "token dimensions must match positions [6]", "[5, 256]"}},
    {"QueryStridedLastDim", [](RotaryArgs& a, Problem&) { a.query.strides[1] = 2; },
     {"query", "contiguous last dimension", "(256, 2)"}},
    {"QueryExplicitHeadSizeMismatch",
     [](RotaryArgs& a, Problem&) {
       a.query.ndim = 3; a.query.shape[1] = 8; a.query.shape[2] = 32;
       a.query.strides[1] = 32; a.query.strides[2] = 1;
     },
     {"query", "head_size = 64", "got 32"}},
    {"QueryNoHeads", [](RotaryArgs& a, Problem&) { a.query.shape[1] = 0; },
     {"query", "at least one head"}},
    {"QueryOnOtherDevice", [](RotaryArgs& a, Problem&) { a.query.device_id = 1; },
     {"positions", "device of query (cpu:1)", "cpu:0"}},
    {"KeyDtypeDiffers", [](RotaryArgs& a, Problem&) { a.key->dtype = DType::float16; },
     {"key", "dtype of query (float32)", "float16"}},
    {"KeyHeadsNotDividing",
     [](RotaryArgs& a, Problem&) { a.key->shape[1] = 3 * 64; },
     {"key", "dividing num_heads = 4", "got 3"}},
    {"KeyAliasesQuery", [](RotaryArgs& a, Problem&) { a.key = a.query; },
     {"key", "shares memory with query"}},
    {"KeyOnOtherDevice", [](RotaryArgs& a, Problem&) { a.key->device = Device::cuda; },
     {"key", "device of query (cpu:0)", "cuda:0"}},
    {"CacheOnOtherDevice", [](RotaryArgs& a, Problem&) { a.cos_sin_cache.device_id = 2; },
     {"cos_sin_cache", "device of query", "cpu:2"}},
    {"KeyOutWithoutKey",
     [](RotaryArgs& a, Problem&) { a.key_out = a.query; a.key.reset(); },
     {"key_out", "without a key"}},
    {"QueryOutWithoutKeyOut", [](RotaryArgs& a, Problem&) { a.query_out = a.query; },
     {"key_out", "both query_out and key_out"}},
    {"QueryOutDtype",
     [](RotaryArgs& a, Problem&) { a.query_out = a.query; a.key_out = a.key; a.query_out->dtype = DType::bfloat16; },
     {"query_out", "dtype float32 of query", "bfloat16"}},
    {"KeyOutShape",
     [](RotaryArgs& a, Problem&) { a.query_out = a.query; a.key_out = a.key; a.key_out->shape[1] = 64; },
     {"key_out", "shape of key [6, 128]", "[6, 64]"}},
    {"ShapeOverflow",
     [](RotaryArgs& a, Problem&) { a.query.strides[0] = int64_t(1) << 62; },
     {"query", "more elements than fit in 64 bits"}},
    {"CpuBackendOnCudaTensors",
     [](RotaryArgs& a, Problem&) {
       a.backend = Backend::cpu;
       for (TensorView* t : {&a.positions, &a.query, &*a.key, &a.cos_sin_cache}) t->device = Device::cuda;
     },
     {"backend", "'cpu'", "cannot serve tensors on cuda"}},
    {"CudaBackendOnHostTensors", [](RotaryArgs& a, Problem&) { a.backend = Backend::cuda; },
     {"backend", "'cuda'"}},
};

INSTANTIATE_TEST_SUITE_P(Errors, Validation, ::testing::ValuesIn(kBadInputs),
                         [](const auto& info) { return info.param.name; });

TEST(BackendSelection, EnvironmentVariableMustNameABackend) {
  Problem problem = make_problem(valid_case(), 1);
  ::setenv("ROPEKIT_BACKEND", "gpu", 1);
  try {
    rotary_embedding(problem.args(Backend::automatic));
    ADD_FAILURE() << "ROPEKIT_BACKEND=gpu was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("ROPEKIT_BACKEND: expected one of auto, reference, "
                                             "cpu, cuda, got 'gpu'"),
              std::string::npos)
        << error.what();
  }
  ::unsetenv("ROPEKIT_BACKEND");
}

TEST(BackendSelection, ForcedHostBackendOnCudaDataNamesTheVariable) {
  Problem problem = make_problem(valid_case(), 2);
  RotaryArgs args = problem.args(Backend::automatic);
  for (TensorView* t : {&args.positions, &args.query, &*args.key, &args.cos_sin_cache})
    t->device = Device::cuda;
  ::setenv("ROPEKIT_BACKEND", "cpu", 1);
  try {
    rotary_embedding(args);
    ADD_FAILURE() << "forced cpu accepted cuda tensors";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("forced by ROPEKIT_BACKEND"), std::string::npos)
        << error.what();
  }
  ::unsetenv("ROPEKIT_BACKEND");
}

TEST(EmptyInput, ZeroTokensIsANoOp) {
  Case c = valid_case();
  c.tokens = 0;
  Problem problem = make_problem(c, 3);
  EXPECT_NO_THROW(rotary_embedding(problem.args(Backend::cpu)));
  EXPECT_NO_THROW(rotary_embedding(problem.args(Backend::reference)));
}

}  // namespace
}  // namespace ropekit::testing
