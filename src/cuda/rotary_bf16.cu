// The kernels for x dtype __nv_bfloat16 (one translation unit per x dtype keeps builds parallel).
#include "cuda/rotary_launch.cuh"

namespace ropekit::cuda {

template cudaError_t launch_rotary_typed<__nv_bfloat16>(const RotaryParams&, const LaunchShape&, DType, bool,
                                              cudaStream_t);

}  // namespace ropekit::cuda
