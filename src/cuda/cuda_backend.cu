// The CUDA backend. (Placeholder until the kernels land: reports itself unavailable.)
#include "core/backends.hpp"
#include "ropekit/error.hpp"

namespace ropekit::detail {

bool cuda_device_available() { return false; }

void run_cuda(const Problem&) { throw Error("backend: the CUDA kernels are not implemented yet"); }

}  // namespace ropekit::detail
