// Memory, copies and timing on one device, so `ropekit bench` and `ropekit verify` run the same
// code for every backend. The host implementation lives in host_ops.cpp; the CUDA one in
// cuda_ops.cpp (built only with the CUDA backend).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "ropekit/tensor.hpp"

namespace ropekit::cli {

class DeviceOps {
 public:
  virtual ~DeviceOps() = default;
  // "cpu (2 threads)" or "cuda:0 NVIDIA H100 80GB HBM3".
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* pointer) = 0;
  virtual void copy_to_device(void* destination, const void* source, size_t bytes) = 0;
  virtual void copy_to_host(void* destination, const void* source, size_t bytes) = 0;
  // The stream to pass to rotary_embedding (nullptr on the host).
  virtual void* stream() const = 0;
  // Median seconds per call of `call` over `repetitions` timed calls after a warm-up. On CUDA the
  // calls are captured into a graph and timed as replays with events.
  virtual double seconds_per_call(const std::function<void()>& call, int repetitions) = 0;
  // Median seconds for one device-to-device copy of `bytes` bytes (it moves 2 * bytes).
  virtual double seconds_per_copy(size_t bytes, int repetitions) = 0;
};

std::unique_ptr<DeviceOps> make_host_ops();
// nullptr when this build has no CUDA backend or no device is visible.
std::unique_ptr<DeviceOps> make_cuda_ops();

}  // namespace ropekit::cli
