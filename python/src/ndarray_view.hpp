// nb::ndarray (any DLPack or buffer-protocol object: numpy, torch, cupy, ...) -> TensorView.
#pragma once
#include <nanobind/ndarray.h>

#include <string>

#include "ropekit/tensor.hpp"

namespace ropekit::python {

// Any dtype, device and layout: the library validates everything, with errors naming `name`.
using AnyArray = nanobind::ndarray<>;
// The same, also accepting read-only arrays (inputs the op never writes).
using ReadOnlyArray = nanobind::ndarray<nanobind::ro>;

TensorView view_of(const AnyArray& array, const std::string& name);
TensorView view_of(const ReadOnlyArray& array, const std::string& name);

}  // namespace ropekit::python
