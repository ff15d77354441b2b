// Builds without the CUDA backend (or without cuda_ops.cpp) have no device to offer.
#include "device_ops.hpp"

namespace ropekit::cli {

std::unique_ptr<DeviceOps> make_cuda_ops() { return nullptr; }

}  // namespace ropekit::cli
