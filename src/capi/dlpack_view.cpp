#include "capi/dlpack_view.hpp"

#include <cstdint>
#include <cstring>

#include "core/checked.hpp"
#include "ropekit/error.hpp"

namespace ropekit::capi {
namespace {

// DLDataType::code is a uint8_t, not the enum, so any value reads safely and unknown ones fall
// through to the error.
DType dtype_of(const DLDataType& t, const std::string& name) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::float32;
    if (t.code == kDLFloat && t.bits == 16) return DType::float16;
    if (t.code == kDLFloat && t.bits == 64) return DType::float64;
    if (t.code == kDLBfloat && t.bits == 16) return DType::bfloat16;
    if (t.code == kDLInt && t.bits == 32) return DType::int32;
    if (t.code == kDLInt && t.bits == 64) return DType::int64;
  }
  throw Error(name + ": unsupported DLPack dtype: expected float32, float16, float64, bfloat16, " +
              "int32 or int64 with 1 lane, got code " + std::to_string(t.code) + ", bits " +
              std::to_string(t.bits) + ", lanes " + std::to_string(t.lanes));
}

// A caller may store any integer in DLDevice::device_type; loading one outside DLDeviceType's
// enumerators as the enum is undefined behaviour, so its bytes are read as an integer instead.
Device device_of(const DLDevice& device, const std::string& name) {
  int32_t type = 0;
  static_assert(sizeof(device.device_type) == sizeof(type), "DLDeviceType is 32 bits");
  std::memcpy(&type, &device.device_type, sizeof(type));
  if (type == kDLCPU) return Device::cpu;
  if (type == kDLCUDA) return Device::cuda;
  throw Error(name + ": expected a cpu or cuda tensor (DLPack device type " +
              std::to_string(int(kDLCPU)) + " or " + std::to_string(int(kDLCUDA)) +
              "), got device type " + std::to_string(type));
}

}  // namespace

TensorView view_of(const DLTensor* tensor, const std::string& name) {
  if (tensor == nullptr) throw Error(name + ": expected a tensor, got NULL");
  TensorView view;
  view.dtype = dtype_of(tensor->dtype, name);
  view.device = device_of(tensor->device, name);
  view.device_id = tensor->device.device_id;
  if (tensor->ndim < 1 || tensor->ndim > kMaxDims)
    throw Error(name + ": expected 1 to " + std::to_string(kMaxDims) + " dimensions, got " +
                std::to_string(tensor->ndim));
  if (tensor->shape == nullptr) throw Error(name + ": shape is NULL");
  view.ndim = tensor->ndim;
  for (int d = 0; d < view.ndim; ++d) view.shape[d] = tensor->shape[d];
  if (tensor->strides) {
    for (int d = 0; d < view.ndim; ++d) view.strides[d] = tensor->strides[d];
  } else {
    // DLPack: NULL strides mean a compact row-major tensor. Sizes below 1 count as 1 here (negative
    // ones are rejected by validation, which names them).
    int64_t compact_stride = 1;
    for (int d = view.ndim - 1; d >= 0; --d) {
      view.strides[d] = compact_stride;
      const std::optional<int64_t> next =
          detail::checked_mul(compact_stride, view.shape[d] > 0 ? view.shape[d] : 1);
      if (!next)
        throw Error(name + ": expected at most " + std::to_string(INT64_MAX) +
                    " elements in a compact tensor (strides NULL), got a shape whose " +
                    "trailing " + std::to_string(view.ndim - d) + " dimensions overflow int64");
      compact_stride = *next;
    }
  }
  if (tensor->data != nullptr) {
    // Added as integers: a pointer sum that wraps is undefined behaviour.
    const auto address = reinterpret_cast<uintptr_t>(tensor->data);
    if (tensor->byte_offset > UINTPTR_MAX - address)
      throw Error(name + ": expected byte_offset at most " + std::to_string(UINTPTR_MAX - address) +
                  " (the end of the address space from data), got " +
                  std::to_string(tensor->byte_offset));
    view.data = reinterpret_cast<void*>(address + tensor->byte_offset);
  }
  return view;
}

}  // namespace ropekit::capi
