// The kernels for x dtype __half (one translation unit per x dtype keeps builds parallel).
#include "cuda/rotary_launch.cuh"

namespace ropekit::cuda {

template cudaError_t launch_rotary_typed<__half>(const RotaryParams&, const LaunchShape&, DType, bool,
                                              cudaStream_t);

}  // namespace ropekit::cuda
