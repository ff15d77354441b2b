// The CUDA backend against the float64 oracle: the harness's random problems are copied to device
// memory, rotated there with Backend::cuda, copied back and checked element by element. Plus the
// properties only a GPU backend has: the caller's stream, graph capture, the device guard and
// out-of-range positions that cannot be checked on the host.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "common/model_shapes.hpp"
#include "cuda_test_support.hpp"
#include "harness.hpp"

namespace ropekit::testing {
namespace {

// Runs `c` on the GPU and returns the oracle's verdict ("" when right).
std::string run_on_gpu(const Case& c, uint64_t seed, bool misalign) {
  Problem problem = make_problem(c, seed);
  DeviceMirror mirror(problem, misalign);
  rotary_embedding(mirror.device_args());
  check_cuda(cudaDeviceSynchronize(), "kernel");
  mirror.download();
  return check_result(problem);
}

TEST(CudaBackend, RandomSweep) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t base_seed = fresh_seed();
  std::mt19937_64 rng(base_seed);
  for (int i = 0; i < 400; ++i) {
    const Case c = random_case(rng);
    const bool misalign = rng() % 4 == 0;
    SCOPED_TRACE("seed " + std::to_string(base_seed) + " case " + std::to_string(i) +
                 (misalign ? " misaligned" : ""));
    std::string errors;
    ASSERT_NO_THROW(errors = run_on_gpu(c, rng(), misalign)) << c.describe();
    ASSERT_TRUE(errors.empty()) << c.describe() << "\n" << errors;
  }
}

// Every plain-RoPE model shape of the shared table (heads q/kv, head size, rotary dim, pairing) in
// every dtype pair, at token counts on either side of the launch heuristics' thresholds. The
// MRoPE rows are test_cuda_mrope.cpp's.
TEST(CudaBackend, NamedShapes) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const DType dtypes[] = {DType::float32, DType::float16, DType::bfloat16};
  uint64_t seed = fresh_seed();
  for (const shapes::ModelShape& shape : shapes::kModelShapes) {
    if (shape.mrope()) continue;
    for (int64_t tokens : {1, 16, 100})
      for (DType x : dtypes)
        for (DType cache : dtypes) {
          Case c;
          c.num_heads = shape.num_heads;
          c.num_kv_heads = shape.num_kv_heads;
          c.head_size = shape.head_size;
          c.rotary_dim = shape.rotary_dim;
          c.is_neox = shape.is_neox;
          c.x_dtype = x;
          c.cache_dtype = cache;
          c.tokens = tokens;
          c.max_position = 131072;
          c.out_of_place = tokens == 16;
          const std::string errors = run_on_gpu(c, seed++, false);
          ASSERT_TRUE(errors.empty()) << shape.name << " " << c.describe() << "\n" << errors;
        }
  }
}

// Both backends agree with each other on the same inputs, within one rounding of the dtype.
TEST(CudaBackend, AgreesWithCpuBackend) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t base_seed = fresh_seed();
  std::mt19937_64 rng(base_seed);
  for (int i = 0; i < 100; ++i) {
    const Case c = random_case(rng);
    const uint64_t seed = rng();
    SCOPED_TRACE("seed " + std::to_string(base_seed) + " case " + std::to_string(i) + " " +
                 c.describe());
    Problem on_cpu = make_problem(c, seed);
    rotary_embedding(on_cpu.args(Backend::cpu));
    Problem on_gpu = make_problem(c, seed);
    {
      DeviceMirror mirror(on_gpu, false);
      rotary_embedding(mirror.device_args());
      check_cuda(cudaDeviceSynchronize(), "kernel");
      mirror.download();
    }
    const auto compare = [&](const HostTensor& cpu, const HostTensor& gpu, const char* name) {
      const int64_t count = int64_t(cpu.storage.size()) / element_size(cpu.view.dtype);
      for (int64_t e = 0; e < count; ++e) {
        const double a = cpu.get(e), b = gpu.get(e);
        if (std::isnan(a) || std::isnan(b)) {
          ASSERT_EQ(std::isnan(a), std::isnan(b)) << name << " element " << e;
          continue;
        }
        // Each backend is within one tolerance of the exact value; the harness draws x in
        // [-2, 2] and cos/sin in [-1, 1], so the two products of an output sum to at most 4.
        ASSERT_LE(std::fabs(a - b), 2 * tolerance(c.x_dtype, a, 4.0))
            << name << " element " << e << ": cpu " << a << ", cuda " << b;
      }
    };
    if (c.out_of_place) {
      compare(on_cpu.query_out, on_gpu.query_out, "query_out");
      if (c.num_kv_heads) compare(on_cpu.key_out, on_gpu.key_out, "key_out");
    } else if (c.fused_qkv) {
      compare(on_cpu.qkv, on_gpu.qkv, "qkv");
    } else {
      compare(on_cpu.query, on_gpu.query, "query");
      if (c.num_kv_heads) compare(on_cpu.key, on_gpu.key, "key");
    }
  }
}

// The launch goes on the caller's stream and is capturable: under global capture mode any
// synchronizing or allocating call inside rotary_embedding would make the capture fail.
TEST(CudaBackend, RunsOnCallerStreamAndInsideGraphCapture) {
  SKIP_WITHOUT_CUDA_DEVICE();
  Case c;
  c.tokens = 33;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.head_size = 128;
  c.rotary_dim = 64;
  c.x_dtype = DType::bfloat16;
  c.out_of_place = true;
  Problem problem = make_problem(c, fresh_seed());
  DeviceMirror mirror(problem, false);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_NO_THROW(rotary_embedding(mirror.device_args(stream)));
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  size_t nodes = 0;
  ASSERT_EQ(cudaGraphGetNodes(graph, nullptr, &nodes), cudaSuccess);
  EXPECT_EQ(nodes, 1u) << "one kernel node, no copies or allocations";

  // Captured, not run: the outputs are still poisoned.
  mirror.download();
  for (int64_t e = 0; e < problem.query_out.view.numel(); ++e)
    ASSERT_TRUE(std::isnan(problem.query_out.get(e))) << "element " << e << " written by capture";

  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  mirror.download();
  EXPECT_EQ(check_result(problem), "");

  // And a plain call on the stream.
  Problem again = make_problem(c, fresh_seed());
  DeviceMirror mirror_again(again, false);
  rotary_embedding(mirror_again.device_args(stream));
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  mirror_again.download();
  EXPECT_EQ(check_result(again), "");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

// Tensors on another device than the current one: the launch goes to their device and the caller's
// current device is restored, also when the launch fails.
TEST(CudaBackend, DeviceGuardRestoresCurrentDevice) {
  SKIP_WITHOUT_CUDA_DEVICE();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  Case c;
  c.tokens = 9;
  c.x_dtype = DType::float16;

  // A device id that does not exist: the guard's cudaSetDevice fails with a named error.
  {
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    Problem problem = make_problem(c, fresh_seed());
    DeviceMirror mirror(problem, false);
    RotaryArgs args = mirror.device_args();
    for (TensorView* v : {&args.positions, &args.query, &*args.key, &args.cos_sin_cache})
      v->device_id = count;
    try {
      rotary_embedding(args);
      ADD_FAILURE() << "expected ropekit::Error for device " << count;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cudaSetDevice"), std::string::npos) << e.what();
    }
    int current = -1;
    ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
    EXPECT_EQ(current, 0);
  }

  if (count < 2) GTEST_SKIP() << "cross-device launch needs 2 CUDA devices, found " << count;
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  Problem problem = make_problem(c, fresh_seed());
  DeviceMirror mirror(problem, false, 1);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  rotary_embedding(mirror.device_args());
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, 0);
  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  mirror.download();
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(check_result(problem), "");
}

// Positions outside [0, max_position) cannot be rejected on the host without a sync. The kernel
// reads no cache row for them (compute-sanitizer's memcheck runs this test too) and writes NaN over
// their rotary part; every other token is rotated exactly as with valid positions.
TEST(CudaBackend, OutOfRangePositionsGiveNaNAndReadNothing) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (DType positions_dtype : {DType::int32, DType::int64})
    for (bool out_of_place : {false, true}) {
      Case c;
      c.tokens = 12;
      c.num_heads = 4;
      c.num_kv_heads = 2;
      c.head_size = 64;
      c.rotary_dim = 32;
      c.positions_dtype = positions_dtype;
      c.out_of_place = out_of_place;
      c.x_dtype = DType::bfloat16;
      c.max_position = 100;
      const uint64_t seed = fresh_seed();
      Problem valid = make_problem(c, seed);
      Problem invalid = make_problem(c, seed);
      const int64_t huge = positions_dtype == DType::int32 ? 2147483647 : (int64_t(1) << 40);
      const std::vector<std::pair<int64_t, double>> bad = {
          {1, -1.0}, {4, double(c.max_position)}, {7, double(huge)}, {11, -double(huge)}};
      for (const auto& [token, position] : bad) invalid.positions.set(token, position);
      for (Problem* p : {&valid, &invalid}) {
        DeviceMirror mirror(*p, false);
        rotary_embedding(mirror.device_args());
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        mirror.download();
      }
      ASSERT_EQ(check_result(valid), "");
      const auto compare = [&](const HostTensor& good, const HostTensor& got, int64_t heads,
                               const char* name) {
        const int64_t row = got.view.shape[got.view.ndim - 1];
        for (int64_t t = 0; t < c.tokens; ++t) {
          bool is_bad = false;
          for (const auto& entry : bad) is_bad = is_bad || entry.first == t;
          for (int64_t e = 0; e < heads * c.head_size; ++e) {
            const double want = good.get(t * row + e), value = got.get(t * row + e);
            if (is_bad && e % c.head_size < c.rotary_dim)
              ASSERT_TRUE(std::isnan(value)) << name << " token " << t << " element " << e;
            else
              ASSERT_EQ(std::memcmp(&want, &value, sizeof(double)), 0)
                  << name << " token " << t << " element " << e << ": " << value << " vs " << want;
          }
        }
      };
      compare(out_of_place ? valid.query_out : valid.query,
              out_of_place ? invalid.query_out : invalid.query, c.num_heads, "query");
      compare(out_of_place ? valid.key_out : valid.key, out_of_place ? invalid.key_out : invalid.key,
              c.num_kv_heads, "key");
    }
}

}  // namespace
}  // namespace ropekit::testing
