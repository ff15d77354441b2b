// DeviceOps on the current CUDA device: cudaMalloc'd memory, one non-blocking stream, and timings
// from CUDA-graph replays measured with events (launch gaps of separate calls would otherwise
// dominate small problems).
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_ops.hpp"

namespace ropekit::cli {
namespace {

void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess)
    throw std::runtime_error(std::string("cuda: ") + what + ": " + cudaGetErrorString(error));
}

// Calls captured per graph: enough that the graph's own launch cost is spread thin.
constexpr int kCallsPerGraph = 10;

class CudaOps final : public DeviceOps {
 public:
  explicit CudaOps(int device) : device_(device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp properties{};
    check(cudaGetDeviceProperties(&properties, device), "cudaGetDeviceProperties");
    name_ = "cuda:" + std::to_string(device) + " " + properties.name;
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~CudaOps() override { cudaStreamDestroy(stream_); }
  CudaOps(const CudaOps&) = delete;
  CudaOps& operator=(const CudaOps&) = delete;

  std::string name() const override { return name_; }
  Device device() const override { return Device::cuda; }

  void* allocate(size_t bytes) override {
    void* pointer = nullptr;
    check(cudaMalloc(&pointer, std::max<size_t>(bytes, 1)), "cudaMalloc");
    return pointer;
  }
  void release(void* pointer) override { cudaFree(pointer); }

  void copy_to_device(void* destination, const void* source, size_t bytes) override {
    // On our stream and waited for: a cudaMemcpy from pageable memory may return before its DMA
    // lands, and the legacy stream it runs on does not order our non-blocking stream (the kernel
    // once read the tail of a buffer before it arrived: zeros in the last tokens).
    check(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync to device");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void copy_to_host(void* destination, const void* source, size_t bytes) override {
    // The work was queued on our non-blocking stream: wait for it before reading.
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    check(cudaMemcpy(destination, source, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
  }
  void* stream() const override { return stream_; }

  double seconds_per_call(const std::function<void()>& call, int repetitions) override {
    call();  // warm-up outside the capture: module load, first-call lookups
    check(cudaStreamSynchronize(stream_), "warm-up");
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "begin capture");
    for (int k = 0; k < kCallsPerGraph; ++k) call();
    check(cudaStreamEndCapture(stream_, &graph), "end capture");
    cudaGraphExec_t exec = nullptr;
    check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    check(cudaGraphLaunch(exec, stream_), "graph warm-up");
    cudaEvent_t start = nullptr, stop = nullptr;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    std::vector<double> seconds;
    for (int r = 0; r < std::max(repetitions, 1); ++r) {
      check(cudaEventRecord(start, stream_), "cudaEventRecord");
      check(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");
      check(cudaEventRecord(stop, stream_), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float milliseconds = 0;
      check(cudaEventElapsedTime(&milliseconds, start, stop), "cudaEventElapsedTime");
      seconds.push_back(milliseconds * 1e-3 / kCallsPerGraph);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
  }

  double seconds_per_copy(size_t bytes, int repetitions) override {
    void* source = allocate(bytes);
    void* destination = allocate(bytes);
    check(cudaMemsetAsync(source, 1, bytes, stream_), "cudaMemset");
    const double seconds = seconds_per_call(
        [&] {
          check(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDeviceToDevice, stream_),
                "cudaMemcpyAsync");
        },
        repetitions);
    release(source);
    release(destination);
    return seconds;
  }

 private:
  int device_ = 0;
  std::string name_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceOps> make_cuda_ops() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return nullptr;
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return std::make_unique<CudaOps>(device);
}

}  // namespace ropekit::cli
