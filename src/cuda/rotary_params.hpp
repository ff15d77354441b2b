// What the rotary kernel receives: the problem flattened to plain pointers and strides, and the
// launch shape. Plain C++ (no CUDA headers), so host code chooses launch shapes without nvcc.
#pragma once
#include <cstdint>

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

// Where a thread of interleaved multimodal sections gets its chunk's cos/sin (neighbouring
// frequencies belong to different streams, so a chunk reads three rows); kernel::FactorSource:
// - gather: the block's threads of a token copy its columns into shared memory, one load per
//   column, then a block barrier;
// - rows: the chunk's slice of all three rows as vector loads, then a pick per frequency (one head
//   per thread: the fewest dependent steps, for small launches);
// - columns: one scalar load per frequency from its own stream's row (no barrier, fewer registers
//   than rows; with several heads per thread, for large launches);
// - shuffle: the lanes of a warp (one token's chunks of four heads) each load two of their chunk's
//   columns and pass them to one another with warp shuffles (no shared memory, no barrier; only
//   for the shapes kShuffle* describe).
enum class InterleavedSource : unsigned char { gather, rows, columns, shuffle };

// The shuffle source's one form: 8 pairs per thread and rotary_dim 128, so a head's 8 chunks lie
// across a block's x, a warp holds kShuffleHeadsPerWarp heads of one token, and each of a chunk's
// four lanes loads kShuffleColumnsPerLane of its 8 frequencies (one cos and one sin load each).
constexpr int kShufflePairs = 8;
constexpr int kShuffleColumnsPerLane = 2;
constexpr int kShuffleRotaryDim = 2 * 32 * kShuffleColumnsPerLane;
constexpr int kShuffleHeadsPerWarp = 32 / (kShuffleRotaryDim / 2 / kShufflePairs);

// The launch shape, chosen on the host (launch_config.hpp). Blocks are three-dimensional
// (chunks, head groups, tokens) so the kernel reads its indices off the hardware instead of
// dividing a linear thread index: on small launches those divisions were a visible part of the
// latency. (Only the token-major grid of large launches divides, once per block index.)
struct LaunchShape {
  int heads_per_thread = 1;
  int pairs_per_thread = 1;  // the rotation pairs of a chunk (the kernel instantiation's kPairs)
  // Heads whose loads a thread issues together (1, 2, 4; 8 for interleaved columns): derived from
  // heads_per_thread by make_launch_shape, raised by choose_launch_shape where it measured faster.
  int heads_in_flight = 1;
  InterleavedSource interleaved = InterleavedSource::gather;  // interleaved sections only
  // Derived by make_launch_shape.
  int head_groups = 0;       // heads / heads_per_thread, rounded up
  int chunks_per_head = 0;   // rotary_dim / 2 / pairs_per_thread
  unsigned block[3] = {1, 1, 1};  // chunks, head groups, tokens per block
  unsigned grid[3] = {1, 1, 1};   // token blocks, head-group blocks, chunk blocks
  // Token-major order (order_grid): when a token's heads span several blocks, those blocks
  // numbered next to each other in a 1-D grid (grid[0] = all blocks), so they run at the same
  // time and the token's cache rows are read from DRAM once; a 3-D grid runs all tokens' first
  // head-group blocks before any second one. 1 and 1 in the 3-D order.
  unsigned blocks_per_token_block = 1;  // head-group blocks x chunk blocks
  unsigned chunk_blocks = 1;
  // Programmatic dependent launch (sm_90+): the kernel may start while the previous kernel on the
  // stream finishes; it waits for that kernel's results before its first memory access.
  bool programmatic = false;
  // q/k loads and stores marked evict-first (see kernel::load_x); derived by make_launch_shape.
  bool streaming = false;

  bool token_major() const { return blocks_per_token_block > 1; }
  uint64_t block_threads() const { return uint64_t(block[0]) * block[1] * block[2]; }
  uint64_t total_threads() const {
    return block_threads() * uint64_t(grid[0]) * uint64_t(grid[1]) * uint64_t(grid[2]);
  }
};

}  // namespace ropekit::cuda
