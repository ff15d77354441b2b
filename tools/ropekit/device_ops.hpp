// Memory, copies and timing on one device, so `ropekit bench` and `ropekit verify` run the same
// code for every backend: the host implementation in device_ops.cpp, the CUDA one in cuda_ops.cpp
// (built only with the CUDA backend); which device serves which backend; a problem's buffers
// copied to a device.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/host_problem.hpp"
#include "ropekit/ropekit.hpp"

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

// nullptr when this build has no CUDA backend or no device is visible.
std::unique_ptr<DeviceOps> make_cuda_ops();

// Which DeviceOps serves each backend: the host for reference and cpu, the CUDA device for cuda.
class BackendDevices {
 public:
  BackendDevices();

  // The device whose memory `backend` runs on; throws ropekit::Error if there is none.
  DeviceOps& for_backend(Backend backend);

  // The backends named in a --backend option (`names` already checked against backend_names()),
  // or, when empty, every available one (the reference only if `default_includes_reference`).
  // Throws ropekit::Error naming --backend for one this build or machine cannot run.
  std::vector<Backend> select(const std::vector<std::string>& names,
                              bool default_includes_reference);

 private:
  bool usable(Backend backend) const;

  std::unique_ptr<DeviceOps> host_;
  std::unique_ptr<DeviceOps> cuda_;  // null without a CUDA build, cuda_ops.cpp or device
};

// Every buffer of a check::Problem copied to one device's memory (fresh 256-byte aligned
// allocations, on the host too, so traffic counts agree across devices). The problem's host
// tensors stay what the checker reads: download() copies every buffer back into them.
class DeviceProblem {
 public:
  DeviceProblem(DeviceOps& ops, check::Problem& problem);
  ~DeviceProblem();
  DeviceProblem(const DeviceProblem&) = delete;
  DeviceProblem& operator=(const DeviceProblem&) = delete;

  // The problem's arguments with every view moved to the device copies, on the device's stream.
  RotaryArgs args(Backend backend) const;
  void download();

 private:
  TensorView on_device(const TensorView& host) const;

  struct Copy {
    check::HostTensor* host;
    void* device;
  };
  DeviceOps& ops_;
  check::Problem& problem_;
  std::vector<Copy> copies_;
};

}  // namespace ropekit::cli
