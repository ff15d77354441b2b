// The normalized problem: every front end's arguments reduced to one shape that every backend
// consumes. Built only by make_problem(), which validates everything first.
#pragma once
#include <array>
#include <cstdint>

#include "ropekit/rotary.hpp"

namespace ropekit::detail {

// A tensor indexed by (batch, seq, head, element); strides in elements, element stride 1.
struct HeadLayout {
  void* data = nullptr;
  int64_t batch_stride = 0;
  int64_t seq_stride = 0;
  int64_t head_stride = 0;
};

struct Problem {
  // Tokens are (batch, seq) pairs. When every tensor is contiguous across the batch dimension the
  // two collapse to batch = 1, seq = number of tokens, so kernels index tokens with one stride.
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // 0 when there is no key
  int64_t head_size = 0;
  int64_t rotary_dim = 0;
  bool is_neox = true;
  bool inverse = false;
  bool has_key = false;
  bool in_place = true;  // query_out / key_out alias query / key

  DType x_dtype = DType::float32;  // query, key and outputs
  DType cache_dtype = DType::float32;
  DType positions_dtype = DType::int64;
  Device device = Device::cpu;
  int device_id = 0;
  void* stream = nullptr;

  const void* positions = nullptr;
  int64_t positions_batch_stride = 0;
  int64_t positions_seq_stride = 0;

  // Multimodal RoPE: positions [3, T]; stream k of token s sits at
  // s * positions_seq_stride + k * positions_stream_stride (batch is 1).
  bool mrope = false;
  std::array<int64_t, 3> mrope_section{};
  bool mrope_interleaved = false;
  int64_t positions_stream_stride = 0;

  const void* cache = nullptr;
  int64_t cache_row_stride = 0;
  int64_t max_position = 0;

  HeadLayout query_in, query_out, key_in, key_out;

  int64_t num_tokens() const { return batch * seq; }
};

// Validates `args` (throws ropekit::Error naming the argument) and normalizes them.
Problem make_problem(const RotaryArgs& args);

// Host-side check that every position lies in [0, max_position); throws naming the first bad one.
// Host backends call it before writing anything.
void check_positions_in_range(const Problem& problem);

// Reads position `token` (batch b, seq s) on the host; `stream` (0, 1, 2) only for mrope.
int64_t load_position(const Problem& problem, int64_t b, int64_t s, int stream = 0);

}  // namespace ropekit::detail
