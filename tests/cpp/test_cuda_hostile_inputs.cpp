// The hostile calls of hostile_inputs.hpp on GPU memory (the cuda backend), under
// compute-sanitizer in the device script, and host memory passed as CUDA tensors.
#include <cuda_runtime.h>

#include <vector>

#include "cuda_test_support.hpp"
#include "hostile_inputs.hpp"

namespace ropekit::testing {
namespace {

class DeviceMemory : public Memory {
 public:
  DLDeviceType device() const override { return kDLCUDA; }
  std::string unavailable() const override {
    const std::string reason = missing_device_reason();
    return reason.empty() ? "" : "no CUDA device: " + reason;
  }
  // Without a device the buffers are null, and every test skips before using them.
  void* allocate(size_t bytes) override {
    void* data = nullptr;
    if (unavailable().empty()) check_cuda(cudaMalloc(&data, bytes), "cudaMalloc");
    return data;
  }
  void release(void* data) override {
    if (data != nullptr) cudaFree(data);
  }
  void upload(void* destination, const void* source, size_t bytes) override {
    check_cuda(cudaMemcpy(destination, source, bytes, cudaMemcpyHostToDevice), "upload");
  }
  void download(void* destination, const void* source, size_t bytes) override {
    check_cuda(cudaMemcpy(destination, source, bytes, cudaMemcpyDeviceToHost), "download");
  }
  void synchronize() override { check_cuda(cudaDeviceSynchronize(), "the call's kernels"); }
};

DeviceMemory device_memory;
INSTANTIATE_TEST_SUITE_P(Cuda, HostileInputs, ::testing::Values(&device_memory),
                         [](const auto&) { return std::string("memory"); });

// Host memory tagged cuda: refused by name before any launch, and the context stays usable.
TEST_P(HostileInputs, HostMemoryTaggedCudaIsRefused) {
  std::vector<float> pageable(16, 1.0f);
  const std::vector<float> pageable_before = pageable;
  query = tensor(pageable.data(), kF32, {2, 8}, {});
  expect_refused("query",
                 "data pointer is host memory (not known to CUDA), but the tensor is "
                 "tagged cuda:0");
  EXPECT_EQ(pageable, pageable_before);
  query = tensor(query_data.at<float>(0), kF32, {2, 8}, {});

  int64_t* pinned = nullptr;
  check_cuda(cudaMallocHost(&pinned, 2 * sizeof(int64_t)), "cudaMallocHost");
  pinned[0] = 0;
  pinned[1] = 1;
  positions = tensor(pinned, kI64, {2}, {});
  expect_refused("positions", "data pointer is host memory (pinned)");
  EXPECT_EQ(pinned[0], 0);
  EXPECT_EQ(pinned[1], 1);
  check_cuda(cudaFreeHost(pinned), "cudaFreeHost");
  positions = tensor(positions_data.at<int64_t>(0), kI64, {2}, {});

  std::vector<float> host_out(16);
  Tensor query_out = tensor(host_out.data(), kF32, {2, 8}, {});
  Tensor key_out = tensor(query_data.at<float>(0), kF32, {2, 8}, {});
  Buffer& out = buffer(16 * sizeof(float));
  key_out = tensor(out.at<float>(0), kF32, {2, 8}, {});
  args.query_out = &query_out.t;
  args.key_out = &key_out.t;
  expect_refused("query_out", "data pointer is host memory");
  args.query_out = args.key_out = nullptr;

  const std::vector<unsigned char> poisoned = bytes_after_upload();
  EXPECT_NE(expect_accepted(), poisoned);
}

}  // namespace
}  // namespace ropekit::testing
