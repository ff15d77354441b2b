// The rotary position embedding operator (vLLM's `rotary_embedding`, generalized).
#pragma once
#include <array>
#include <cstdint>
#include <optional>

#include "ropekit/backend.hpp"
#include "ropekit/export.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit {

struct RotaryArgs {
  // int32 or int64, [T] or [B, S].
  TensorView positions;
  // float32, float16 or bfloat16: [T, nh*hs], [T, nh, hs], [B, S, nh*hs] or [B, S, nh, hs].
  // Any strides; the last dimension must be contiguous.
  TensorView query;
  // Like query with nkv heads (nh % nkv == 0), same dtype; absent for query-only rotation.
  std::optional<TensorView> key;
  int64_t head_size = 0;
  // [max_position, rotary_dim]: cos half then sin half. float32, float16 or bfloat16.
  TensorView cos_sin_cache;
  // true: NeoX pairing (x[i], x[i + rotary_dim/2]); false: GPT-J pairing (x[2i], x[2i+1]).
  bool is_neox = true;
  // Out of place: where to write. Same shape and dtype as the input; the whole head is written
  // (the pass-through tail is copied). Absent: the input is rotated in place.
  std::optional<TensorView> query_out;
  std::optional<TensorView> key_out;
  // Rotate by -theta: undoes the forward rotation (the backward pass).
  bool inverse = false;
  // Where the rotary part starts within each head (vLLM's rope_dim_offset): elements
  // [rope_dim_offset, rope_dim_offset + rotary_dim) rotate, the rest pass through. In place only.
  int64_t rope_dim_offset = 0;
  // Multimodal RoPE (Qwen2-VL / Qwen3-VL): when set, positions are [3, T] (temporal, height,
  // width) and frequency i takes its cache row from the stream the sections assign it. The three
  // sizes sum to rotary_dim / 2; NeoX pairing only.
  std::optional<std::array<int64_t, 3>> mrope_section;
  // false: contiguous sections (Qwen2-VL, Qwen2.5-VL); true: interleaved (Qwen3-VL).
  bool mrope_interleaved = false;
  // Backend::automatic picks by device, honouring ROPEKIT_BACKEND.
  Backend backend = Backend::automatic;
  // cudaStream_t for the CUDA backend; ignored on the CPU.
  void* stream = nullptr;
};

// Validates everything first: on any bad input it throws ropekit::Error and writes nothing.
// Except on the CUDA backend, where position values are not read on the host: a token whose
// position lies outside [0, max_position) gets NaN in its rotary part, and the call succeeds.
// ROPEKIT_CUDA_CHECK_POSITIONS=1 checks them on the host first instead (an error, nothing written;
// it synchronizes the stream and is refused during CUDA-graph capture).
// Written tensors must share no memory with themselves, each other or any tensor the call reads
// (an output exactly equal to its input is in place).
ROPEKIT_CXX_API void rotary_embedding(const RotaryArgs& args);

// The backend rotary_embedding(args) would run, after validation (throws like it).
ROPEKIT_CXX_API Backend resolve_backend(const RotaryArgs& args);

}  // namespace ropekit
