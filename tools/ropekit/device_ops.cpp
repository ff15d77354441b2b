// The host's DeviceOps (aligned heap memory, memcpy, wall-clock medians), which device serves
// which backend, and a problem's buffers on a device.
#include "device_ops.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "cli_names.hpp"

namespace ropekit::cli {
namespace {

// 256 bytes: the alignment CUDA allocations have, so sector counts match across devices.
constexpr size_t kAlignment = 256;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

class HostOps final : public DeviceOps {
 public:
  std::string name() const override {
    return "host (" + std::to_string(std::thread::hardware_concurrency()) + " hardware threads)";
  }
  Device device() const override { return Device::cpu; }

  void* allocate(size_t bytes) override {
    const size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* pointer = std::aligned_alloc(kAlignment, rounded);
    if (pointer == nullptr) throw std::bad_alloc();
    // Touch every page now, so that the first timed call does not pay for page faults.
    std::memset(pointer, 0, rounded);
    return pointer;
  }
  void release(void* pointer) override { std::free(pointer); }

  void copy_to_device(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void copy_to_host(void* destination, const void* source, size_t bytes) override {
    std::memcpy(destination, source, bytes);
  }
  void* stream() const override { return nullptr; }

  double seconds_per_call(const std::function<void()>& call, int repetitions) override {
    call();  // warm-up: caches, thread pool start
    std::vector<double> seconds;
    for (int i = 0; i < std::max(repetitions, 1); ++i) {
      const auto start = std::chrono::steady_clock::now();
      call();
      seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return median(seconds);
  }

  double seconds_per_copy(size_t bytes, int repetitions) override {
    void* source = allocate(bytes);
    void* destination = allocate(bytes);
    const double seconds = seconds_per_call(
        [&] {
          std::memcpy(destination, source, bytes);
          // Keep the compiler from treating the copy as dead.
          asm volatile("" : : "r"(destination) : "memory");
        },
        repetitions);
    release(source);
    release(destination);
    return seconds;
  }
};

}  // namespace

BackendDevices::BackendDevices() : host_(std::make_unique<HostOps>()) {
  if (backend_available(Backend::cuda)) cuda_ = make_cuda_ops();
}

bool BackendDevices::usable(Backend backend) const {
  if (backend == Backend::cuda) return cuda_ != nullptr;
  return backend_available(backend);
}

DeviceOps& BackendDevices::for_backend(Backend backend) {
  if (backend != Backend::cuda) return *host_;
  if (!cuda_) throw Error("--backend: 'cuda' has no device in this build or on this machine");
  return *cuda_;
}

std::vector<Backend> BackendDevices::select(const std::vector<std::string>& names,
                                            bool default_includes_reference) {
  std::vector<Backend> selected;
  if (names.empty()) {
    for (Backend backend : available_backends())
      if (usable(backend) && (default_includes_reference || backend != Backend::reference))
        selected.push_back(backend);
    return selected;
  }
  for (const std::string& name : names) {
    const Backend backend = backend_names().at(name);
    if (!usable(backend)) {
      const bool library_has_it = backend_available(backend);
      throw Error("--backend: '" + name + "' is not available: " +
                  (library_has_it ? "this ropekit CLI was built without cuda_ops.cpp"
                                  : "this build has no CUDA support or no CUDA device is visible"));
    }
    bool seen = false;
    for (Backend b : selected) seen = seen || b == backend;
    if (!seen) selected.push_back(backend);
  }
  return selected;
}

DeviceProblem::DeviceProblem(DeviceOps& ops, check::Problem& problem)
    : ops_(ops), problem_(problem) {
  try {
    for (check::HostTensor* host : problem.buffers()) {
      copies_.push_back({host, ops.allocate(host->storage.size())});
      ops.copy_to_device(copies_.back().device, host->storage.data(), host->storage.size());
    }
  } catch (...) {
    for (const Copy& copy : copies_) ops_.release(copy.device);
    throw;
  }
}

DeviceProblem::~DeviceProblem() {
  for (const Copy& copy : copies_) ops_.release(copy.device);
}

TensorView DeviceProblem::on_device(const TensorView& host) const {
  const auto* at = static_cast<const unsigned char*>(host.data);
  for (const Copy& copy : copies_) {
    const unsigned char* begin = copy.host->storage.data();
    if (at >= begin && at < begin + copy.host->storage.size()) {
      TensorView view = host;
      view.data = static_cast<unsigned char*>(copy.device) + (at - begin);
      view.device = ops_.device();
      return view;
    }
  }
  throw Error("DeviceProblem: a view outside every copied buffer");
}

RotaryArgs DeviceProblem::args(Backend backend) const {
  RotaryArgs args = problem_.args(backend);
  args.positions = on_device(args.positions);
  args.cos_sin_cache = on_device(args.cos_sin_cache);
  args.query = on_device(args.query);
  if (args.key) args.key = on_device(*args.key);
  if (args.query_out) args.query_out = on_device(*args.query_out);
  if (args.key_out) args.key_out = on_device(*args.key_out);
  args.stream = ops_.stream();
  return args;
}

void DeviceProblem::download() {
  for (const Copy& copy : copies_)
    ops_.copy_to_host(copy.host->storage.data(), copy.device, copy.host->storage.size());
}

}  // namespace ropekit::cli
