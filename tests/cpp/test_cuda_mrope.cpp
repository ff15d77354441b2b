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

// Device copies of a run's tensors; `view` maps a host view to its device twin.
class DeviceRun {
 public:
  explicit DeviceRun(MropeRun& run) {
    for (HostTensor* t : {&run.positions, &run.cache, &run.query, &run.key, &run.query_out,
                          &run.key_out}) {
      if (t->storage.empty()) continue;
      void* device = nullptr;
      check_cuda(cudaMalloc(&device, t->storage.size()), "cudaMalloc");
      buffers_.push_back({t, device});
      check_cuda(cudaMemcpy(device, t->storage.data(), t->storage.size(), cudaMemcpyHostToDevice),
                 "cudaMemcpy to device");
    }
    check_cuda(cudaDeviceSynchronize(), "upload");  // a pageable cudaMemcpy may return early
  }
  ~DeviceRun() {
    for (const Buffer& b : buffers_) cudaFree(b.device);
  }
  DeviceRun(const DeviceRun&) = delete;
  DeviceRun& operator=(const DeviceRun&) = delete;

  TensorView view(const TensorView& host) const {
    for (const Buffer& b : buffers_)
      if (host.data == b.host->view.data) {
        TensorView v = host;
        v.data = b.device;
        v.device = Device::cuda;
        v.device_id = 0;
        return v;
      }
    throw std::runtime_error("view of an unmirrored tensor");
  }

  RotaryArgs device_args(RotaryArgs args) const {
    args.positions = view(args.positions);
    args.query = view(args.query);
    args.cos_sin_cache = view(args.cos_sin_cache);
    if (args.key) args.key = view(*args.key);
    if (args.query_out) args.query_out = view(*args.query_out);
    if (args.key_out) args.key_out = view(*args.key_out);
    return args;
  }

  void download() {
    for (const Buffer& b : buffers_)
      check_cuda(cudaMemcpy(b.host->storage.data(), b.device, b.host->storage.size(),
                            cudaMemcpyDeviceToHost),
                 "cudaMemcpy to host");
  }

 private:
  struct Buffer {
    HostTensor* host;
    void* device;
  };
  std::vector<Buffer> buffers_;
};

void run_on_gpu_and_check(const MropeCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MropeRun r = make_run(c, rng);
  DeviceRun device(r);
  ASSERT_NO_THROW(rotary_embedding(device.device_args(args_of(c, r, Backend::cuda))));
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
    DeviceRun device(r);
    ASSERT_NO_THROW(rotary_embedding(device.device_args(args_of(c, r, Backend::cuda))));
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
