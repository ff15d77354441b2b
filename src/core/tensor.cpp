#include "ropekit/tensor.hpp"

#include "ropekit/error.hpp"

namespace ropekit {

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
    case DType::float64: return "float64";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
  }
  return "unknown";
}

std::string to_string(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

int64_t element_size(DType dtype) {
  switch (dtype) {
    case DType::float16:
    case DType::bfloat16: return 2;
    case DType::float32:
    case DType::int32: return 4;
    case DType::float64:
    case DType::int64: return 8;
  }
  return 1;
}

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) count *= shape[d];
  return count;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

TensorView make_contiguous_view(void* data, DType dtype, std::initializer_list<int64_t> shape,
                                Device device, int device_id) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw Error("shape: at most " + std::to_string(kMaxDims) + " dimensions are supported");
  TensorView view;
  view.data = data;
  view.dtype = dtype;
  view.device = device;
  view.device_id = device_id;
  view.ndim = static_cast<int>(shape.size());
  int d = 0;
  for (int64_t size : shape) view.shape[d++] = size;
  int64_t stride = 1;
  for (d = view.ndim - 1; d >= 0; --d) {
    view.strides[d] = stride;
    stride *= view.shape[d];
  }
  return view;
}

}  // namespace ropekit
