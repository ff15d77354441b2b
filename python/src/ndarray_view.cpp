#include "ndarray_view.hpp"

#include <dlpack/dlpack.h>

#include "capi/dlpack_view.hpp"

namespace ropekit::python {
namespace {

// nanobind holds the array as DLPack already: describe it as a DLTensor and let the C API's
// conversion (shared with every DLPack front end) map dtype and device and reject what it can't.
template <class Array>
TensorView view_through_dlpack(const Array& array, const std::string& name) {
  DLTensor tensor{};
  tensor.data = const_cast<void*>(static_cast<const void*>(array.data()));
  tensor.device.device_type = static_cast<DLDeviceType>(array.device_type());
  tensor.device.device_id = array.device_id();
  tensor.ndim = static_cast<int32_t>(array.ndim());
  tensor.dtype.code = array.dtype().code;
  tensor.dtype.bits = array.dtype().bits;
  tensor.dtype.lanes = array.dtype().lanes;
  tensor.shape = const_cast<int64_t*>(array.shape_ptr());
  tensor.strides = const_cast<int64_t*>(array.stride_ptr());
  tensor.byte_offset = 0;  // nanobind's data() already includes it
  return capi::view_of(&tensor, name);
}

}  // namespace

TensorView view_of(const AnyArray& array, const std::string& name) {
  return view_through_dlpack(array, name);
}

TensorView view_of(const ReadOnlyArray& array, const std::string& name) {
  return view_through_dlpack(array, name);
}

}  // namespace ropekit::python
