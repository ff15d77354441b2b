// Random device data for the benchmark: never zeros (they hide unwritten outputs and can run
// faster than real data), and a cos/sin cache that is a true rotation, so that values keep their
// size over thousands of in-place calls instead of drifting to zero or infinity.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda_check.cuh"

namespace ropekit::bench {

__device__ inline uint64_t mix(uint64_t i, uint64_t seed) {
  uint64_t h = (i + seed) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// The top 24 bits of a hash as a float in [0, 1).
__device__ inline float unit(uint64_t hash) { return float(hash >> 40) / float(1 << 24); }

// Uniform in [-2, 2).
__global__ void fill_bf16(__nv_bfloat16* data, int64_t count, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    data[i] = __float2bfloat16_rn(unit(mix(uint64_t(i), seed)) * 4.0f - 2.0f);
}

// Row p: cos(angle) for each of `half` frequencies, then sin(angle), angles random.
__global__ void fill_rotation_cache(float* cache, int64_t rows, int half, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * half;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / half, column = i - row * half;
    const float angle = unit(mix(uint64_t(i), seed)) * 6.2831853f;
    float s, c;
    sincosf(angle, &s, &c);
    cache[row * 2 * half + column] = c;
    cache[row * 2 * half + half + column] = s;
  }
}

// The float32 cos/sin cache [rows, rotary_dim] on the device, with a host copy for the
// reference check; freed with its scope.
class DeviceCache {
 public:
  DeviceCache(int64_t rows, int64_t rotary_dim) : rows_(rows), rotary_dim_(rotary_dim) {
    check(cudaMalloc(&data_, rows * rotary_dim * sizeof(float)), "malloc cache");
    fill_rotation_cache<<<1024, 256>>>(data_, rows, int(rotary_dim / 2), 7);
    check_launch("fill cache");
    host_.resize(size_t(rows * rotary_dim));
    check(cudaMemcpy(host_.data(), data_, host_.size() * sizeof(float), cudaMemcpyDeviceToHost),
          "copy cache to host");
  }
  ~DeviceCache() { check(cudaFree(data_), "free cache"); }
  DeviceCache(const DeviceCache&) = delete;
  DeviceCache& operator=(const DeviceCache&) = delete;

  float* device() const { return data_; }
  const float* host() const { return host_.data(); }
  int64_t rows() const { return rows_; }
  int64_t rotary_dim() const { return rotary_dim_; }

 private:
  float* data_ = nullptr;
  std::vector<float> host_;
  int64_t rows_, rotary_dim_;
};

}  // namespace ropekit::bench
