// What the GPU tests share: CUDA error checks, the skip when no device is visible, and device
// copies of host test tensors.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/problem.hpp"
#include "cuda/launch.hpp"
#include "harness.hpp"

namespace ropekit::testing {

inline void check_cuda(cudaError_t error, const char* what) {
  if (error != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
}

// For host-side launch decisions, which read addresses but never memory: the tensors of `p` moved
// to distinct 256-byte aligned addresses, as cudaMalloc would place them (host test buffers are
// only 16-byte aligned). The problem must not be launched afterwards.
inline void place_at_aligned_addresses(detail::Problem& p) {
  const auto fake = [](uintptr_t megabytes) { return reinterpret_cast<void*>(megabytes << 20); };
  p.query_in.data = fake(1);
  p.query_out.data = p.in_place ? p.query_in.data : fake(2);
  p.key_in.data = fake(3);
  p.key_out.data = p.in_place ? p.key_in.data : fake(4);
  p.cache = fake(5);
}

// A device as the launch choice sees it, for host tests: an H200's 132 SMs and 2048 resident
// threads per SM for every kernel (the expectations of the policy tests count waves in those).
inline cuda::DeviceInfo h200_like() {
  cuda::DeviceInfo device;
  device.arch = 90;
  device.multiprocessors = 132;
  device.resident_threads = [](int, int) { return 2048; };
  return device;
}

// Why the GPU tests cannot run here, or "" when a device is visible.
inline std::string missing_device_reason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(error);
  if (count == 0) return "cudaGetDeviceCount reports 0 devices";
  return "";
}

// Device copies of host tensors (empty ones skipped). Views of a host buffer map to views of its
// copy at the same byte offset; `misalign` shifts each copy by one element, so no pointer is
// 16-byte aligned and the kernel must take its narrow path.
class DeviceCopies {
 public:
  DeviceCopies(const std::vector<HostTensor*>& tensors, bool misalign, int device = 0)
      : device_(device) {
    for (HostTensor* t : tensors) {
      if (t->storage.empty()) continue;
      Buffer b{t, nullptr, nullptr, misalign ? size_t(element_size(t->view.dtype)) : 0};
      check_cuda(cudaMalloc(&b.allocation, t->storage.size() + 16), "cudaMalloc");
      b.device = static_cast<unsigned char*>(b.allocation) + b.shift;
      buffers_.push_back(b);
      check_cuda(cudaMemcpy(b.device, t->storage.data(), t->storage.size(), cudaMemcpyHostToDevice),
                 "cudaMemcpy to device");
    }
    // A pageable cudaMemcpy may return before its DMA lands, and non-blocking streams (used by
    // some tests) do not wait for the legacy stream: finish the uploads here.
    check_cuda(cudaDeviceSynchronize(), "upload");
  }
  ~DeviceCopies() {
    for (const Buffer& b : buffers_) cudaFree(b.allocation);
  }
  DeviceCopies(const DeviceCopies&) = delete;
  DeviceCopies& operator=(const DeviceCopies&) = delete;

  TensorView device_view(const TensorView& host) const {
    for (const Buffer& b : buffers_) {
      const auto* begin = b.host->storage.data();
      const auto* at = static_cast<const unsigned char*>(host.data);
      if (at >= begin && at < begin + b.host->storage.size()) {
        TensorView view = host;
        view.data = b.device + (at - begin);
        view.device = Device::cuda;
        view.device_id = device_;
        return view;
      }
    }
    throw std::runtime_error("view outside every mirrored buffer");
  }

  // `host_args` with every tensor view mapped to the device copies.
  RotaryArgs on_device(RotaryArgs args) const {
    args.positions = device_view(args.positions);
    args.query = device_view(args.query);
    args.cos_sin_cache = device_view(args.cos_sin_cache);
    if (args.key) args.key = device_view(*args.key);
    if (args.query_out) args.query_out = device_view(*args.query_out);
    if (args.key_out) args.key_out = device_view(*args.key_out);
    return args;
  }

  // Copies every buffer back (inputs too: checks verify untouched bytes).
  void download() {
    for (const Buffer& b : buffers_)
      check_cuda(cudaMemcpy(b.host->storage.data(), b.device, b.host->storage.size(),
                            cudaMemcpyDeviceToHost),
                 "cudaMemcpy to host");
  }

 private:
  struct Buffer {
    HostTensor* host;
    void* allocation;
    unsigned char* device;
    size_t shift;
  };
  int device_;
  std::vector<Buffer> buffers_;
};

// Device copies of every host buffer of a harness problem, and its arguments on them.
class DeviceMirror : public DeviceCopies {
 public:
  explicit DeviceMirror(Problem& problem, bool misalign = false, int device = 0)
      : DeviceCopies({&problem.positions, &problem.cache, &problem.qkv, &problem.query,
                      &problem.key, &problem.query_out, &problem.key_out},
                     misalign, device),
        problem_(problem) {}

  RotaryArgs device_args(void* stream = nullptr) const {
    RotaryArgs args = on_device(problem_.args(Backend::cuda));
    args.stream = stream;
    return args;
  }

 private:
  Problem& problem_;
};

}  // namespace ropekit::testing

#define SKIP_WITHOUT_CUDA_DEVICE()                                                          \
  if (const std::string reason = ::ropekit::testing::missing_device_reason(); !reason.empty()) \
  GTEST_SKIP() << "no CUDA device: " << reason
