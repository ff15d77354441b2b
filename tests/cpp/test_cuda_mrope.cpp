// Multimodal RoPE on the CUDA backend: the host MRoPE problems (mrope_harness.hpp) copied to the
// device, rotated there, copied back and checked against the float64 oracle; out-of-range
// positions in any stream give NaN (the GPU cannot reject them without a host sync).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.hpp"
#include "mrope_harness.hpp"

namespace ropekit::testing {
namespace {

std::vector<HostTensor*> tensors_of(MropeRun& r) {
  return {&r.positions, &r.cache, &r.query, &r.key, &r.query_out, &r.key_out};
}

void run_on_gpu_and_check(const MropeCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MropeRun r = make_run(c, rng);
  DeviceCopies device(tensors_of(r), /*misalign=*/false);
  ASSERT_NO_THROW(rotary_embedding(device.on_device(args_of(c, r, Backend::cuda))));
  check_cuda(cudaDeviceSynchronize(), "kernel");
  device.download();
  check_run(c, r);
}

TEST(CudaMrope, SectionsDtypesAndForms) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::random_device entropy;
  // Real sections (Qwen2-VL, Qwen3-VL, a partial-rotary interleaved one) and lopsided ones whose
  // boundaries cut through a thread's chunk of pairs.
  const struct { int64_t head, rotary; std::array<int64_t, 3> section; } models[] = {
      {128, 128, {16, 24, 24}}, {128, 128, {24, 20, 20}}, {256, 64, {11, 11, 10}},
      {64, 64, {2, 28, 2}},     {64, 64, {0, 0, 32}},     {80, 80, {5, 30, 5}}};
  for (const auto& m : models)
    for (bool interleaved : {false, true})
      for (DType x : {DType::float32, DType::float16, DType::bfloat16}) {
        MropeCase c;
        c.tokens = 37;
        c.head_size = m.head;
        c.rotary_dim = m.rotary;
        c.section = m.section;
        c.interleaved = interleaved;
        c.x_dtype = x;
        c.cache_dtype = x == DType::float16 ? DType::bfloat16 : DType::float32;
        c.inverse = x == DType::bfloat16;
        c.out_of_place = x != DType::float32;
        c.positions_dtype = interleaved ? DType::int32 : DType::int64;
        c.num_kv_heads = x == DType::float16 ? 0 : 2;
        SCOPED_TRACE(std::to_string(m.section[0]) + "/" + std::to_string(m.section[1]) + "/" +
                     std::to_string(m.section[2]) + (interleaved ? " interleaved " : " contiguous ") +
                     to_string(x));
        run_on_gpu_and_check(c, entropy());
      }
}

TEST(CudaMrope, OutOfRangePositionInAnyStreamGivesNaN) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (int stream = 0; stream < 3; ++stream) {
    MropeCase c;
    std::mt19937_64 rng(std::random_device{}());
    MropeRun r = make_run(c, rng);
    r.positions.set(stream * c.tokens + 3, double(c.max_position));  // token 3
    DeviceCopies device(tensors_of(r), /*misalign=*/false);
    ASSERT_NO_THROW(rotary_embedding(device.on_device(args_of(c, r, Backend::cuda))));
    check_cuda(cudaDeviceSynchronize(), "kernel");
    device.download();
    const int64_t row = c.num_heads * c.head_size;
    for (int64_t t = 0; t < c.tokens; ++t)
      for (int64_t e = 0; e < c.rotary_dim; ++e) {
        const double v = r.query.get(t * row + e);  // head 0
        if (t == 3)
          ASSERT_TRUE(std::isnan(v)) << "stream " << stream << " element " << e;
        else
          ASSERT_FALSE(std::isnan(v)) << "stream " << stream << " token " << t;
      }
  }
}

}  // namespace
}  // namespace ropekit::testing
