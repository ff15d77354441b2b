#include "capi/dlpack_view.hpp"

#include "ropekit/error.hpp"

namespace ropekit::capi {
namespace {

DType dtype_of(const DLDataType& t, const std::string& name) {
  if (t.lanes == 1) {
    if (t.code == kDLFloat && t.bits == 32) return DType::float32;
    if (t.code == kDLFloat && t.bits == 16) return DType::float16;
    if (t.code == kDLFloat && t.bits == 64) return DType::float64;
    if (t.code == kDLBfloat && t.bits == 16) return DType::bfloat16;
    if (t.code == kDLInt && t.bits == 32) return DType::int32;
    if (t.code == kDLInt && t.bits == 64) return DType::int64;
  }
  throw Error(name + ": unsupported DLPack dtype (code " + std::to_string(t.code) + ", bits " +
              std::to_string(t.bits) + ", lanes " + std::to_string(t.lanes) + ")");
}

}  // namespace

TensorView view_of(const DLTensor* tensor, const std::string& name) {
  if (tensor == nullptr) throw Error(name + ": expected a tensor, got NULL");
  TensorView view;
  view.dtype = dtype_of(tensor->dtype, name);
  switch (tensor->device.device_type) {
    case kDLCPU: view.device = Device::cpu; break;
    case kDLCUDA: view.device = Device::cuda; break;
    default:
      throw Error(name + ": expected a cpu or cuda tensor, got DLPack device type " +
                  std::to_string(tensor->device.device_type));
  }
  view.device_id = tensor->device.device_id;
  if (tensor->ndim < 1 || tensor->ndim > kMaxDims)
    throw Error(name + ": expected 1 to " + std::to_string(kMaxDims) + " dimensions, got " +
                std::to_string(tensor->ndim));
  if (tensor->shape == nullptr) throw Error(name + ": shape is NULL");
  view.ndim = tensor->ndim;
  int64_t compact_stride = 1;
  for (int d = view.ndim - 1; d >= 0; --d) {
    view.shape[d] = tensor->shape[d];
    // DLPack: NULL strides mean a compact row-major tensor.
    view.strides[d] = tensor->strides ? tensor->strides[d] : compact_stride;
    compact_stride *= tensor->shape[d] > 0 ? tensor->shape[d] : 1;
  }
  view.data = tensor->data ? static_cast<char*>(tensor->data) + tensor->byte_offset : nullptr;
  return view;
}

}  // namespace ropekit::capi
