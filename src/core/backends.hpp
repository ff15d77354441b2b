// The kernels behind the dispatcher: one entry point per backend, all taking a validated Problem.
#pragma once
#include "core/problem.hpp"

namespace ropekit::detail {

void run_reference(const Problem& problem);  // src/reference
void run_cpu(const Problem& problem);        // src/cpu

#ifdef ROPEKIT_WITH_CUDA
void run_cuda(const Problem& problem);       // src/cuda
bool cuda_device_available();                // a CUDA device is visible to this process
#endif

}  // namespace ropekit::detail
