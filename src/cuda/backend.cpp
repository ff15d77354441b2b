// The CUDA backend: turns a validated Problem into one asynchronous kernel launch on the caller's
// stream. No allocation, no synchronization, nothing that a CUDA graph capture would reject.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/backends.hpp"
#include "cuda/kernels.hpp"
#include "cuda/launch.hpp"
#include "ropekit/error.hpp"

namespace ropekit::cuda {

namespace {

[[noreturn]] void fail(const std::string& what, cudaError_t error) {
  // Clear the runtime's last error (a non-sticky one such as an invalid device ordinal), so the
  // caller's next check, or our next launch check, does not report it again.
  cudaGetLastError();
  throw Error("cuda: " + what + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) +
              ")");
}

// Makes `device` current for the scope and restores the caller's device after, also on throw.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    if (cudaError_t e = cudaGetDevice(&previous_); e != cudaSuccess) fail("cudaGetDevice", e);
    if (previous_ != device)
      if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
        fail("cudaSetDevice(" + std::to_string(device) + ")", e);
  }
  ~DeviceGuard() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// What the launch choice needs to know of a device, read once per device: the attribute queries
// are cheap but not free.
DeviceInfo device_info(int device) {
  constexpr int kCachedDevices = 64;
  static std::array<std::atomic<int>, kCachedDevices> multiprocessors{}, arch{};
  const bool cacheable = device >= 0 && device < kCachedDevices;
  DeviceInfo info;
  info.device = device;
  info.resident_threads = resident_threads;
  if (cacheable)
    if (const int known = multiprocessors[device].load(std::memory_order_acquire); known > 0) {
      info.multiprocessors = known;
      info.arch = arch[device].load(std::memory_order_relaxed);
      return info;
    }
  const auto query = [&](cudaDeviceAttr attribute, const char* what) {
    int value = 0;
    if (cudaError_t e = cudaDeviceGetAttribute(&value, attribute, device); e != cudaSuccess)
      fail(std::string("cudaDeviceGetAttribute(") + what + ", device " + std::to_string(device) +
               ")",
           e);
    return value;
  };
  info.multiprocessors = query(cudaDevAttrMultiProcessorCount, "multiprocessor count");
  info.arch = 10 * query(cudaDevAttrComputeCapabilityMajor, "compute capability") +
              query(cudaDevAttrComputeCapabilityMinor, "compute capability");
  if (cacheable) {
    arch[device].store(info.arch, std::memory_order_relaxed);
    multiprocessors[device].store(info.multiprocessors, std::memory_order_release);
  }
  return info;
}

// Programmatic dependent launch on sm_90 and newer unless ROPEKIT_CUDA_PDL=0: the kernel's launch
// overlaps the end of the previous kernel on the stream (its results are still waited for).
bool programmatic_launch(const DeviceInfo& device) {
  static const bool disabled = [] {
    const char* value = std::getenv("ROPEKIT_CUDA_PDL");
    return value != nullptr && std::string(value) == "0";
  }();
  return device.arch >= 90 && !disabled;
}

// ROPEKIT_CUDA_CHECK_POSITIONS=1: positions are copied to the host and checked before the launch,
// so an out-of-range one is an error with nothing written. It synchronizes the stream (off by
// default; the kernels give such a token NaN instead, since checking needs the host).
bool position_check_requested() {
  static const bool requested = [] {
    const char* value = std::getenv("ROPEKIT_CUDA_CHECK_POSITIONS");
    return value != nullptr && std::string(value) == "1";
  }();
  return requested;
}

void check_positions_on_host(const detail::Problem& p) {
  const auto stream = static_cast<cudaStream_t>(p.stream);
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaError_t e = cudaStreamIsCapturing(stream, &capture); e != cudaSuccess)
    fail("cudaStreamIsCapturing", e);
  if (capture != cudaStreamCaptureStatusNone)
    throw Error("positions: ROPEKIT_CUDA_CHECK_POSITIONS=1 reads them on the host, which a CUDA "
                "graph capture forbids; unset it to capture");
  // The positions' extent in elements (strides are non-negative, validated).
  const int64_t last = (p.batch - 1) * p.positions_batch_stride +
                       (p.seq - 1) * p.positions_seq_stride +
                       (p.mrope ? 2 * p.positions_stream_stride : 0);
  std::vector<unsigned char> host(size_t(last + 1) * element_size(p.positions_dtype));
  if (cudaError_t e = cudaMemcpyAsync(host.data(), p.positions, host.size(),
                                      cudaMemcpyDeviceToHost, stream);
      e != cudaSuccess)
    fail("copying positions to the host", e);
  if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess)
    fail("copying positions to the host", e);
  detail::Problem on_host = p;
  on_host.positions = host.data();
  detail::check_positions_in_range(on_host);
}

// Pointers this thread already found to be memory of a device: cudaPointerGetAttributes costs
// about a third of an eager launch, and engines pass the same buffers call after call. A freed
// device address stays in the driver's reserved virtual range, where pageable host memory is never
// placed, so a remembered pointer stays memory the kernel can reach. Direct-mapped: one probe.
class CheckedPointers {
 public:
  bool contains(const void* data, int device) const {
    const Entry& e = entries_[slot(data)];
    return e.data == data && e.device == device;
  }
  void add(const void* data, int device) { entries_[slot(data)] = {data, device}; }

 private:
  struct Entry {
    const void* data = nullptr;
    int device = -1;
  };
  static constexpr int kBits = 10;
  static size_t slot(const void* data) {
    // Fibonacci hashing of the address (allocations are 256-byte aligned, views anywhere).
    return size_t((reinterpret_cast<uintptr_t>(data) * 0x9E3779B97F4A7C15ull) >> (64 - kBits));
  }
  std::array<Entry, size_t(1) << kBits> entries_{};
};

// Every pointer of a CUDA call must be device memory of its device (or managed memory): a host
// pointer tagged cuda faults the kernel, which poisons the context, or is read through UVA.
void check_device_pointers(const detail::Problem& p) {
  thread_local CheckedPointers checked;
  struct Named {
    const char* name;
    const void* data;
  };
  const Named pointers[] = {{"positions", p.positions},       {"cos_sin_cache", p.cache},
                            {"query", p.query_in.data},       {"query_out", p.query_out.data},
                            {"key", p.key_in.data},           {"key_out", p.key_out.data}};
  for (const Named& n : pointers) {
    // No key, or an output that is its input (checked as the input).
    if (n.data == nullptr || (&n != pointers && n.data == (&n - 1)->data)) continue;
    if (checked.contains(n.data, p.device_id)) continue;
    cudaPointerAttributes attributes{};
    if (cudaError_t e = cudaPointerGetAttributes(&attributes, n.data); e != cudaSuccess)
      fail(std::string("cudaPointerGetAttributes(") + n.name + ")", e);
    if (attributes.type == cudaMemoryTypeManaged) {
      checked.add(n.data, p.device_id);
      continue;
    }
    if (attributes.type != cudaMemoryTypeDevice)
      throw Error(std::string(n.name) + ": data pointer is host memory (" +
                  (attributes.type == cudaMemoryTypeHost ? "pinned" : "not known to CUDA") +
                  "), but the tensor is tagged cuda:" + std::to_string(p.device_id));
    if (attributes.device != p.device_id)
      throw Error(std::string(n.name) + ": data pointer is memory of cuda:" +
                  std::to_string(attributes.device) + ", but the tensor is tagged cuda:" +
                  std::to_string(p.device_id));
    checked.add(n.data, p.device_id);
  }
}

}  // namespace
}  // namespace ropekit::cuda

namespace ropekit::detail {

bool cuda_device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

void run_cuda(const Problem& problem) {
  using namespace ropekit::cuda;
  const DeviceGuard guard(problem.device_id);
  const DeviceInfo device = device_info(problem.device_id);
  check_device_pointers(problem);
  if (position_check_requested()) check_positions_on_host(problem);
  LaunchShape shape = choose_launch(problem, device);
  if (const std::string error = launch_shape_error(problem, shape); !error.empty())
    throw Error("cuda: " + error);
  shape.programmatic = programmatic_launch(device);
  const cudaError_t error = launch_kernel(make_params(problem, shape), shape,
                                          static_cast<cudaStream_t>(problem.stream));
  if (error != cudaSuccess) fail("rotary kernel launch", error);
}

}  // namespace ropekit::detail
