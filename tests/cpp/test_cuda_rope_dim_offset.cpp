// rope_dim_offset on the cuda backend: the same cases as the host test, against the same float64
// expectation; offsets of 1 leave the rotary part misaligned for the kernels' wide paths.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "cuda_test_support.hpp"
#include "rope_dim_offset_case.hpp"

namespace ropekit::testing {
namespace {

template <class T>
T* upload(const std::vector<T>& host) {
  T* device = nullptr;
  check_cuda(cudaMalloc(&device, host.size() * sizeof(T)), "cudaMalloc");
  check_cuda(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
             "upload");
  return device;
}

template <class T>
std::vector<T> download(const T* device, size_t count) {
  std::vector<T> host(count);
  check_cuda(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost),
             "download");
  return host;
}

TEST(CudaRopeDimOffset, RotatesOnlyThePartAtTheOffset) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937_64 rng(std::random_device{}());
  for (int64_t offset : {int64_t(0), int64_t(1), int64_t(8), int64_t(24)})
    for (bool is_neox : {true, false})
      for (bool inverse : {false, true}) {
        const OffsetCase c(rng, offset, is_neox, inverse);
        int64_t* positions = upload(c.positions);
        float* query = upload(c.query);
        float* key = upload(c.key);
        float* cache = upload(c.cache);
        RotaryArgs args = c.args(positions, query, key, cache, Device::cuda);
        args.backend = Backend::cuda;
        rotary_embedding(args);
        check_cuda(cudaDeviceSynchronize(), "kernel");
        SCOPED_TRACE("offset " + std::to_string(offset) + (is_neox ? " neox" : " gptj") +
                     (inverse ? " inverse" : ""));
        expect_offset_result(download(query, c.query.size()), c.expected(c.query, c.num_heads),
                             c.rotated(c.num_heads), "query");
        expect_offset_result(download(key, c.key.size()), c.expected(c.key, c.num_kv_heads),
                             c.rotated(c.num_kv_heads), "key");
        for (void* p : {static_cast<void*>(positions), static_cast<void*>(query),
                        static_cast<void*>(key), static_cast<void*>(cache)})
          check_cuda(cudaFree(p), "cudaFree");
      }
}

}  // namespace
}  // namespace ropekit::testing
