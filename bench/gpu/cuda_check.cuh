// Every CUDA call of the benchmark goes through check(): a failed call ends the run with its name,
// so that no number is printed from a run that went wrong.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace ropekit::bench {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "gpu_bench: CUDA error in %s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

// After a kernel launch: launch errors surface here, not at the next synchronization.
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

}  // namespace ropekit::bench
