// A non-owning view of a strided tensor: what every front end converts its arguments into.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "ropekit/export.hpp"

namespace ropekit {

enum class DType { float32, float16, bfloat16, float64, int32, int64 };
enum class Device { cpu, cuda };

ROPEKIT_CXX_API std::string to_string(DType dtype);
ROPEKIT_CXX_API std::string to_string(Device device);
ROPEKIT_CXX_API int64_t element_size(DType dtype);

inline constexpr int kMaxDims = 4;

// Shape and strides are in elements (not bytes), like PyTorch and DLPack.
struct ROPEKIT_CXX_API TensorView {
  void* data = nullptr;
  DType dtype = DType::float32;
  Device device = Device::cpu;
  int device_id = 0;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<int64_t, kMaxDims> strides{};

  int64_t numel() const;
  bool is_contiguous() const;
};

// A row-major contiguous view over `data` with the given shape.
ROPEKIT_CXX_API TensorView make_contiguous_view(void* data, DType dtype,
                                                std::initializer_list<int64_t> shape,
                                                Device device = Device::cpu, int device_id = 0);

}  // namespace ropekit
