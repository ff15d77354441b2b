// What the rotary kernel receives: the problem flattened to plain pointers and strides, and the
// launch shape. Plain C++ (no CUDA headers), so host code chooses launch shapes without nvcc.
#pragma once
#include <cstdint>

namespace ropekit::cuda {

// One of query / key: pointers and strides in elements (element stride 1).
struct HeadTensor {
  const void* in = nullptr;
  void* out = nullptr;  // == in when rotating in place
  int64_t in_batch_stride = 0, in_seq_stride = 0, in_head_stride = 0;
  int64_t out_batch_stride = 0, out_seq_stride = 0, out_head_stride = 0;
};

struct RotaryParams {
  HeadTensor query, key;
  int num_heads = 0;
  int num_kv_heads = 0;  // 0: no key
  int head_size = 0;
  int rotary_dim = 0;
  int64_t seq = 0;         // tokens are (batch, seq); batch = num_tokens / seq
  int64_t num_tokens = 0;
  const void* positions = nullptr;
  int64_t positions_batch_stride = 0, positions_seq_stride = 0;
  bool positions_int64 = true;
  // Multimodal RoPE: positions hold 3 streams (temporal, height, width), positions_stream_stride
  // apart; frequency i reads the row of the stream mrope_section assigns it (rope_variants_mrope.hpp).
  bool mrope = false;
  bool mrope_interleaved = false;
  int64_t mrope_section[3] = {0, 0, 0};
  int64_t positions_stream_stride = 0;
  const void* cache = nullptr;
  int64_t cache_row_stride = 0;
  int64_t max_position = 0;
  bool inverse = false;
  bool copy_tail = false;  // out of place with rotary_dim < head_size: copy the pass-through part
};

// The launch shape, chosen on the host (launch_config.hpp).
struct LaunchShape {
  int heads_per_thread = 1;
  int block_threads = 256;
  // Derived by make_launch_shape: head groups per token, chunks per head, threads in all.
  int head_groups = 0;
  int chunks_per_head = 0;
  uint64_t total_threads = 0;
};

}  // namespace ropekit::cuda
