// Timing as CUDA-graph replays: several calls captured into one graph (launch gaps shrink to what
// a serving engine's graphs see), each replay timed with events, the median per call reported.
// Contenders are replayed in turn in one loop, so that a drift of clocks or of the machine's load
// during the run reaches all of them alike.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "cuda_check.cuh"

namespace ropekit::bench {

class GraphTimer {
 public:
  // `record(k)` enqueues call k (of `calls`) on `stream` while it is being captured.
  GraphTimer(cudaStream_t stream, int calls, const std::function<void(int)>& record)
      : stream_(stream), calls_(calls) {
    cudaGraph_t graph;
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "begin capture");
    for (int k = 0; k < calls; ++k) record(k);
    check(cudaStreamEndCapture(stream, &graph), "end capture");
    check(cudaGraphInstantiate(&exec_, graph, 0), "instantiate graph");
    check(cudaGraphDestroy(graph), "destroy graph");
  }
  ~GraphTimer() { check(cudaGraphExecDestroy(exec_), "destroy graph"); }
  GraphTimer(const GraphTimer&) = delete;
  GraphTimer& operator=(const GraphTimer&) = delete;

  void replay() { check(cudaGraphLaunch(exec_, stream_), "replay graph"); }

  // Seconds per call of one replay, timed with `start` and `stop`.
  double time_replay(cudaEvent_t start, cudaEvent_t stop) {
    check(cudaEventRecord(start, stream_), "record start");
    replay();
    check(cudaEventRecord(stop, stream_), "record stop");
    check(cudaEventSynchronize(stop), "wait for replay");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed time");
    return ms * 1e-3 / calls_;
  }

 private:
  cudaStream_t stream_;
  int calls_;
  cudaGraphExec_t exec_ = nullptr;
};

// The middle value of `values` (the upper one of the two middles for an even count).
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Median seconds per call of each timer over `replays` rounds of one replay each, after warm-up
// replays of each (module load and first-touch costs stay out). Each round takes the timers in a
// new random order, so that no contender always follows the same one: what one leaves in L2 (the
// same cache rows, at small sizes the same q/k) would otherwise favour the next.
inline std::vector<double> interleaved_seconds_per_call(
    const std::vector<GraphTimer*>& timers, int replays = 25) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "create event");
  check(cudaEventCreate(&stop), "create event");
  for (int w = 0; w < 3; ++w)
    for (GraphTimer* timer : timers) timer->replay();
  std::vector<std::vector<double>> times(timers.size());
  std::vector<size_t> order(timers.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::mt19937 rng(12345);
  for (int r = 0; r < replays; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) times[i].push_back(timers[i]->time_replay(start, stop));
  }
  check(cudaEventDestroy(start), "destroy event");
  check(cudaEventDestroy(stop), "destroy event");
  std::vector<double> medians;
  for (const std::vector<double>& t : times) medians.push_back(median(t));
  return medians;
}

}  // namespace ropekit::bench
