// ROPEKIT_CUDA_CHECK_POSITIONS=1 (its own program: the backend reads the variable once, at its
// first call): an out-of-range position on a CUDA tensor is an error naming it, with every buffer
// unchanged; in range, the call gives the oracle's answer; under CUDA-graph capture it is refused.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>

#include "cuda_test_support.hpp"
#include "harness.hpp"

namespace ropekit::testing {
namespace {

class CudaPositionCheck : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("ROPEKIT_CUDA_CHECK_POSITIONS", "1", 1); }
};

TEST_F(CudaPositionCheck, OutOfRangePositionIsAnErrorAndWritesNothing) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed());
  for (const int64_t bad : {int64_t(-1), int64_t(4096)}) {
    Case c = random_case(rng);
    c.max_position = 4096;
    c.tokens = 9;
    Problem problem = make_problem(c, rng());
    const TensorView& positions = problem.positions.view;  // [T] or [B, S]: token 5 of row 0
    problem.positions.set(5 * positions.strides[positions.ndim - 1], double(bad));
    DeviceMirror device(problem);
    const std::vector<unsigned char> query = problem.query.storage, qkv = problem.qkv.storage,
                                     query_out = problem.query_out.storage;
    try {
      rotary_embedding(device.device_args());
      FAIL() << "position " << bad << " accepted (" << c.describe() << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("positions"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
    check_cuda(cudaDeviceSynchronize(), "sync");
    device.download();
    EXPECT_EQ(problem.query.storage, query) << c.describe();
    EXPECT_EQ(problem.qkv.storage, qkv) << c.describe();
    EXPECT_EQ(problem.query_out.storage, query_out) << c.describe();
  }
}

TEST_F(CudaPositionCheck, InRangePositionsGiveTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20; ++i) {
    const Case c = random_case(rng);
    Problem problem = make_problem(c, rng());
    DeviceMirror device(problem);
    ASSERT_NO_THROW(rotary_embedding(device.device_args())) << c.describe();
    check_cuda(cudaDeviceSynchronize(), "kernel");
    device.download();
    const std::string errors = check_result(problem);
    ASSERT_TRUE(errors.empty()) << "seed " << seed << " " << c.describe() << "\n" << errors;
  }
}

TEST_F(CudaPositionCheck, IsRefusedDuringGraphCapture) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed());
  Problem problem = make_problem(random_case(rng), rng());
  DeviceMirror device(problem);
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  const RotaryArgs args = device.device_args(stream);
  check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  std::string message;
  try {
    rotary_embedding(args);
  } catch (const Error& e) {
    message = e.what();
  }
  cudaGraph_t graph = nullptr;
  check_cuda(cudaStreamEndCapture(stream, &graph), "end capture");
  if (graph) cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  EXPECT_NE(message.find("capture"), std::string::npos) << "'" << message << "'";
}

}  // namespace
}  // namespace ropekit::testing
