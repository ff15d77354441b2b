// CPU and CUDA kernels of the torch.ops.ropekit operators (schemas, fake implementations and
// autograd live in ropekit/torch_ops.py). Each kernel only converts tensors to TensorViews and
// calls the C++ API: validation and its messages are the library's; ropekit::Error is rethrown
// as c10::ValueError so Python sees a ValueError with the same text. No device guard here: the
// library's CUDA backend selects the tensors' device itself, and empty_like allocates on it.
#include <ATen/ATen.h>
#include <torch/library.h>

#ifdef ROPEKIT_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#include <array>
#include <optional>
#include <string>
#include <tuple>

#include "ropekit/ropekit.hpp"

namespace {

ropekit::DType dtype_of(const at::Tensor& tensor, const char* name) {
  switch (tensor.scalar_type()) {
    case at::kFloat: return ropekit::DType::float32;
    case at::kHalf: return ropekit::DType::float16;
    case at::kBFloat16: return ropekit::DType::bfloat16;
    case at::kDouble: return ropekit::DType::float64;
    case at::kInt: return ropekit::DType::int32;
    case at::kLong: return ropekit::DType::int64;
    default:
      throw ropekit::Error(std::string(name) +
                           ": expected dtype float32, float16, bfloat16, int32 or int64, got " +
                           c10::toString(tensor.scalar_type()));
  }
}

ropekit::TensorView view_of(const at::Tensor& tensor, const char* name) {
  ropekit::TensorView view;
  view.dtype = dtype_of(tensor, name);
  if (tensor.is_cuda()) {
    view.device = ropekit::Device::cuda;
    view.device_id = tensor.get_device();
  } else if (!tensor.is_cpu()) {
    throw ropekit::Error(std::string(name) + ": expected a cpu or cuda tensor, got " +
                         tensor.device().str());
  }
  // TensorView holds at most kMaxDims sizes; the library reports every other rank problem.
  if (tensor.dim() > ropekit::kMaxDims)
    throw ropekit::Error(std::string(name) + ": expected 1 to " +
                         std::to_string(ropekit::kMaxDims) + " dimensions, got " +
                         std::to_string(tensor.dim()));
  view.ndim = static_cast<int>(tensor.dim());
  for (int d = 0; d < view.ndim; ++d) {
    view.shape[d] = tensor.size(d);
    view.strides[d] = tensor.stride(d);
  }
  view.data = tensor.data_ptr();
  return view;
}

// The stream the library launches on: the caller's current PyTorch stream for the query's device.
void* current_stream(const at::Tensor& query) {
#ifdef ROPEKIT_TORCH_CUDA
  if (query.is_cuda()) return c10::cuda::getCurrentCUDAStream(query.get_device()).stream();
#endif
  (void)query;
  return nullptr;
}

template <class Body>
void rethrow_as_value_error(Body&& body) {
  try {
    body();
  } catch (const ropekit::Error& error) {
    C10_THROW_ERROR(ValueError, error.what());
  }
}

ropekit::RotaryArgs make_args(const at::Tensor& positions, const at::Tensor& query,
                              const std::optional<at::Tensor>& key, int64_t head_size,
                              const at::Tensor& cos_sin_cache, bool is_neox) {
  ropekit::RotaryArgs args;
  args.positions = view_of(positions, "positions");
  args.query = view_of(query, "query");
  if (key) args.key = view_of(*key, "key");
  args.head_size = head_size;
  args.cos_sin_cache = view_of(cos_sin_cache, "cos_sin_cache");
  args.is_neox = is_neox;
  args.stream = current_stream(query);
  return args;
}

// vLLM's torch.ops._C.rotary_embedding: rotates query and key in place.
void rotary_embedding(const at::Tensor& positions, const at::Tensor& query,
                      const std::optional<at::Tensor>& key, int64_t head_size,
                      const at::Tensor& cos_sin_cache, bool is_neox, int64_t rope_dim_offset,
                      bool inverse) {
  rethrow_as_value_error([&] {
    ropekit::RotaryArgs args = make_args(positions, query, key, head_size, cos_sin_cache, is_neox);
    args.rope_dim_offset = rope_dim_offset;
    args.inverse = inverse;
    ropekit::rotary_embedding(args);
  });
}

// Multimodal RoPE in place: positions [3, T], NeoX pairs, frequencies split into sections.
void mrope_rotary_embedding(const at::Tensor& positions, const at::Tensor& query,
                            const std::optional<at::Tensor>& key, int64_t head_size,
                            const at::Tensor& cos_sin_cache, c10::IntArrayRef mrope_section,
                            bool mrope_interleaved) {
  rethrow_as_value_error([&] {
    if (mrope_section.size() != 3)
      throw ropekit::Error("mrope_section: expected 3 sizes (temporal, height, width), got " +
                           std::to_string(mrope_section.size()));
    ropekit::RotaryArgs args = make_args(positions, query, key, head_size, cos_sin_cache, true);
    args.mrope_section = std::array<int64_t, 3>{mrope_section[0], mrope_section[1], mrope_section[2]};
    args.mrope_interleaved = mrope_interleaved;
    ropekit::rotary_embedding(args);
  });
}

// Out of place, optionally by -theta (the backward of the forward rotation, and vice versa).
std::tuple<at::Tensor, std::optional<at::Tensor>> rotary_embedding_functional(
    const at::Tensor& positions, const at::Tensor& query, const std::optional<at::Tensor>& key,
    int64_t head_size, const at::Tensor& cos_sin_cache, bool is_neox, bool inverse) {
  at::Tensor query_out = at::empty_like(query);
  std::optional<at::Tensor> key_out;
  if (key) key_out = at::empty_like(*key);
  rethrow_as_value_error([&] {
    ropekit::RotaryArgs args = make_args(positions, query, key, head_size, cos_sin_cache, is_neox);
    args.query_out = view_of(query_out, "query_out");
    if (key_out) args.key_out = view_of(*key_out, "key_out");
    args.inverse = inverse;
    ropekit::rotary_embedding(args);
  });
  return {query_out, key_out};
}

}  // namespace

TORCH_LIBRARY_IMPL(ropekit, CPU, m) {
  m.impl("rotary_embedding", &rotary_embedding);
  m.impl("rotary_embedding_functional", &rotary_embedding_functional);
  m.impl("mrope_rotary_embedding", &mrope_rotary_embedding);
}

// Registered even without CUDA support in ropekit or torch: a CUDA tensor then reaches the library,
// whose error names what is missing, rather than torch's generic "no kernel for CUDA".
TORCH_LIBRARY_IMPL(ropekit, CUDA, m) {
  m.impl("rotary_embedding", &rotary_embedding);
  m.impl("rotary_embedding_functional", &rotary_embedding_functional);
  m.impl("mrope_rotary_embedding", &mrope_rotary_embedding);
}
