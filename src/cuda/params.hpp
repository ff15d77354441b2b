// What the rotary kernel receives: the problem flattened to plain pointers and strides, and the
// launch shape. Plain C++ (no CUDA headers), so host code chooses launch shapes without nvcc.
#pragma once
#include <cstdint>

#include "cuda/configs.hpp"

namespace ropekit::cuda {

// Limits of the kernel's indexing: threads per block (its launch bounds), tokens per block (the
// block's z dimension) and tokens per call (32-bit token index).
constexpr int kMaxBlockThreads = 512;
constexpr int kMaxTokensPerBlock = 64;
constexpr int64_t kMaxTokens = INT32_MAX;

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
  // The work split, from the launch shape: thread (chunk, group, token) rotates pairs
  // [chunk * pairs, (chunk + 1) * pairs) of heads group, group + head_groups, ... of the token.
  int head_groups = 0;
  int chunks_per_head = 0;
  // Grid order (LaunchShape::token_major()): 0 for a 3-D grid (token blocks, head-group blocks,
  // chunk blocks); else the head-group and chunk blocks of one token block are numbered
  // consecutively in a 1-D grid, blocks_per_token_block of them, chunk_blocks of each group block.
  uint32_t blocks_per_token_block = 0;
  uint32_t chunk_blocks = 1;
  uint32_t num_tokens = 0;  // the host rejects more (the grid indexes tokens in 32 bits)
  uint32_t seq = 0;         // tokens are (batch, seq); batch = num_tokens / seq
  const void* positions = nullptr;
  int64_t positions_batch_stride = 0, positions_seq_stride = 0;
  bool positions_int64 = true;
  // Multimodal RoPE: positions hold 3 streams (temporal, height, width), positions_stream_stride
  // apart; frequency i reads the row of the stream that mrope_section assigns it
  // (rope_variants_mrope.hpp), given here as two bounds in 32 bits (the kernel decides per
  // frequency, so 64-bit arithmetic there was a visible part of its latency). Contiguous:
  // {section[0], section[0] + section[1]}; interleaved: {3 * section[1], 3 * section[2]}.
  bool mrope = false;
  bool mrope_interleaved = false;
  int mrope_bounds[2] = {0, 0};
  int64_t positions_stream_stride = 0;
  const void* cache = nullptr;
  bool cache_bf16 = false;  // a 16-bit cache: bfloat16, else float16
  // Both below 2^31 (launch_shape_error), so the kernel's row arithmetic is 32-bit.
  uint32_t cache_row_stride = 0;
  uint32_t max_position = 0;
  bool inverse = false;
  bool copy_tail = false;  // out of place with rotary_dim < head_size: copy the pass-through part
};

#if defined(__CUDACC__)
#define ROPEKIT_HOST_DEVICE __host__ __device__
#else
#define ROPEKIT_HOST_DEVICE
#endif

// A block's (token block, head-group block, chunk block) from its grid coordinates: the 3-D grid's
// own, or decoded from the 1-D token-major grid (two divisions). The kernel and the host tests
// that walk the grid share it.
struct BlockIndex {
  uint32_t token, group, chunk;

  // A 3-D grid's coordinates as they are.
  ROPEKIT_HOST_DEVICE BlockIndex(uint32_t x, uint32_t y, uint32_t z)
      : token(x), group(y), chunk(z) {}
  ROPEKIT_HOST_DEVICE BlockIndex(const RotaryParams& p, uint32_t x, uint32_t y, uint32_t z) {
    if (p.blocks_per_token_block == 0) {
      token = x;
      group = y;
      chunk = z;
    } else {
      token = x / p.blocks_per_token_block;
      const uint32_t within = x - token * p.blocks_per_token_block;
      group = within / p.chunk_blocks;
      chunk = within - group * p.chunk_blocks;
    }
  }
};

// A launch: which kernel configuration (an index into kKernelConfigs) and how its threads cover
// the problem. Blocks are three-dimensional (chunks, head groups, tokens) so the kernel reads its
// indices off the hardware instead of dividing a linear thread index, which costs latency on
// small launches.
struct LaunchShape {
  int config = -1;
  int heads_per_thread = 1;
  int head_groups = 0;      // heads / heads_per_thread, rounded up
  int chunks_per_head = 0;  // rotary_dim / 2 / pairs
  unsigned block[3] = {1, 1, 1};  // chunks, head groups, tokens per block
  unsigned grid[3] = {1, 1, 1};   // token blocks, head-group blocks, chunk blocks
  // Token-major order: when a token's heads span several blocks, those blocks are numbered next
  // to each other in a 1-D grid (grid[0] = all blocks), so they run together and read the token's
  // cache rows from DRAM once. 1 and 1 in the 3-D order.
  unsigned blocks_per_token_block = 1;  // head-group blocks x chunk blocks
  unsigned chunk_blocks = 1;
  // Programmatic dependent launch (sm_90+): the kernel may start while the previous kernel on the
  // stream finishes; it waits for that kernel's results before its first memory access.
  bool programmatic = false;

  const KernelConfig& kernel() const { return kKernelConfigs[config]; }
  bool token_major() const { return blocks_per_token_block > 1; }
  uint64_t block_threads() const { return uint64_t(block[0]) * block[1] * block[2]; }
  uint64_t total_threads() const {
    return block_threads() * uint64_t(grid[0]) * uint64_t(grid[1]) * uint64_t(grid[2]);
  }
};

}  // namespace ropekit::cuda
