// DLTensor -> ropekit::TensorView, with errors that name the argument.
#pragma once
#include <dlpack/dlpack.h>

#include <string>

#include "ropekit/tensor.hpp"

namespace ropekit::capi {

TensorView view_of(const DLTensor* tensor, const std::string& name);

}  // namespace ropekit::capi
