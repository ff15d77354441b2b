#include "ropekit/tensor.hpp"

#include "core/checked.hpp"
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
  for (int d = 0; d < ndim; ++d) {
    const std::optional<int64_t> next = detail::checked_mul(count, shape[d]);
    if (!next) throw Error("numel: the element count of the shape overflows int64");
    count = *next;
  }
  return count;
}

bool TensorView::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    // Strides past int64 describe no contiguous memory.
    const std::optional<int64_t> next = detail::checked_mul(expected, shape[d]);
    if (!next) return d == 0;
    expected = *next;
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
    if (view.shape[d] < 0) throw Error("shape: negative size " + std::to_string(view.shape[d]));
    view.strides[d] = stride;
    // The outermost product is never a stride; past it only the element count could overflow.
    const std::optional<int64_t> next = detail::checked_mul(stride, view.shape[d]);
    if (!next && d > 0) throw Error("shape: its compact strides overflow int64");
    stride = next.value_or(0);
  }
  return view;
}

}  // namespace ropekit
