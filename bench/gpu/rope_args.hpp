// The C API's arguments for one in-place call on contiguous tensors: DLTensors that own their
// shape and stride arrays. Not movable: the arguments point into the object itself.
#pragma once
#include <dlpack/dlpack.h>

#include <cstdint>
#include <initializer_list>

#include "ropekit/ropekit.h"

namespace ropekit::bench {

inline constexpr DLDataType kBf16 = {kDLBfloat, 16, 1};
inline constexpr DLDataType kF32 = {kDLFloat, 32, 1};
inline constexpr DLDataType kI64 = {kDLInt, 64, 1};

// A contiguous row-major DLTensor of up to 2 dimensions, with explicit strides (NULL strides
// mean the same in DLPack, but an older build under A/B may predate accepting them).
struct Tensor {
  int64_t shape[2] = {0, 0};
  int64_t strides[2] = {0, 0};
  DLTensor dl{};

  void set(const void* data, DLDataType type, DLDevice device,
           std::initializer_list<int64_t> dims) {
    int d = 0;
    for (int64_t n : dims) shape[d++] = n;
    for (int i = d - 1, stride = 1; i >= 0; stride *= int(shape[i]), --i) strides[i] = stride;
    dl.data = const_cast<void*>(data);  // the C API takes inputs as const DLTensor*
    dl.device = device;
    dl.ndim = d;
    dl.dtype = type;
    dl.shape = shape;
    dl.strides = strides;
    dl.byte_offset = 0;
  }
};

struct RopeArgs {
  Tensor positions, query, key, cache;
  ropekit_rotary_args args{};

  RopeArgs() = default;
  RopeArgs(const RopeArgs&) = delete;
  RopeArgs& operator=(const RopeArgs&) = delete;

  // In place on query and key. positions: [T] int64, or [3, T] for multimodal RoPE.
  void set(DLDevice device, int backend, void* stream, const int64_t* position_data,
           bool mrope, void* query_data, void* key_data, const float* cache_data,
           int64_t tokens, int64_t num_heads, int64_t num_kv_heads, int64_t head_size,
           int64_t cache_rows, int64_t rotary_dim, bool is_neox) {
    if (mrope)
      positions.set(position_data, kI64, device, {3, tokens});
    else
      positions.set(position_data, kI64, device, {tokens});
    query.set(query_data, kBf16, device, {tokens, num_heads * head_size});
    key.set(key_data, kBf16, device, {tokens, num_kv_heads * head_size});
    cache.set(cache_data, kF32, device, {cache_rows, rotary_dim});
    args = {};
    args.positions = &positions.dl;
    args.query = &query.dl;
    args.key = &key.dl;
    args.cos_sin_cache = &cache.dl;
    args.head_size = head_size;
    args.is_neox = is_neox ? 1 : 0;
    args.backend = backend;
    args.stream = stream;
  }
};

}  // namespace ropekit::bench
