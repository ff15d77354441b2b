#include "cuda/launch_config.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "ropekit/tensor.hpp"

namespace ropekit::cuda {
namespace {

bool aligned(const void* pointer, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % uintptr_t(bytes) == 0;
}

bool layout_aligned(const detail::HeadLayout& layout, int64_t element_bytes, int64_t access_bytes) {
  const auto stride_ok = [&](int64_t stride) { return (stride * element_bytes) % access_bytes == 0; };
  return aligned(layout.data, access_bytes) && stride_ok(layout.batch_stride) &&
         stride_ok(layout.seq_stride) && stride_ok(layout.head_stride);
}

// The heads a call rotates: query, then key where there is one.
int64_t rotated_heads(const detail::Problem& p) {
  return p.num_heads + (p.has_key ? p.num_kv_heads : 0);
}

// Threads of a one-head-per-thread launch with `pairs` per thread, in waves of the device's
// resident-thread slots (2048 per SM).
double one_head_waves(const detail::Problem& p, int pairs, int multiprocessor_count) {
  const int64_t total_heads = rotated_heads(p);
  const int64_t chunks_per_head = p.rotary_dim / 2 / pairs;
  return double(p.num_tokens()) * double(total_heads * chunks_per_head) /
         (double(multiprocessor_count) * 2048);
}

// Narrow rotary parts (fewer than 4 chunks a head, e.g. 24 of 96) move few bytes per thread; once
// there is more than two resident-thread slots' worth of one-head threads (2048 slots per SM),
// two heads per thread in blocks of 256 did best (launch-shape sweeps on an H100 and an H200).
bool narrow_rotary_past_two_waves(const detail::Problem& p, int pairs, int multiprocessor_count) {
  return p.rotary_dim / 2 / pairs < 4 && one_head_waves(p, pairs, multiprocessor_count) > 2;
}
LaunchShape narrow_rotary_shape(const detail::Problem& p, int pairs) {
  return make_launch_shape(p, pairs, 2, 256, /*token_major=*/true);
}

// Interleaved multimodal sections, from round-robin timings of every source on the H200
// (`gpu_bench --interleaved-choices`, Qwen3-VL-8B: 40 heads, 16 chunks of 4 pairs, random
// positions; docs/BENCHMARKS.md), by waves of one-head threads with 4 pairs:
// - below 0.3 (T <= 64 there): rows, one head per thread in blocks of 64 (T = 16: 0.96x plain
//   RoPE; gather 1.09x, columns 1.17x);
// - below 1 (T = 256): the gather with 4 pairs, one head per thread in blocks of 128
//   (2026-12-03, 0.91-0.97x in every position pattern: prompt, random shared by every call,
//   random new every call; the columns that held this band before 0.94-1.02x; 8 pairs
//   1.07-1.10x, rows 1.19-1.31x; at T = 64 it lost to rows with rows from DRAM, 1.09 against
//   1.05x);
// - below 2 (T = 512): the gather with the widest pairs, one head per thread in blocks of 256,
//   which hold a whole token here: one gather per token instead of two (1.20x, blocks of 128
//   1.23x in two runs; every other candidate of the later run 1.28x or more);
// - past that, columns with 8 heads per thread in blocks of 64, one cos/sin load for all of them:
//   eight heads in flight below 7 waves (T = 1024: 1.10-1.13x, gather 1.18x), else four
//   (registers: T = 4096 1.12x, 16384 1.05x; gather 1.17x);
// - except from 4 to 7 waves (T = 2048, 4.8 waves), where the gather with the widest pairs in
//   blocks of 128 was ahead of those columns with every position pattern measured on 2026-12-03
//   (1.11-1.17x against 1.13-1.20x: prompt, random shared by every call, random new every call,
//   random below 4096);
// - but from 2 to 28 waves (T = 1024-8192) where the shuffle fits (8 pairs, rotary_dim 128, heads
//   in fours: every Qwen3-VL model), the shuffle with evict-first q/k, in blocks of 128 below 4
//   waves and of 256 (a whole Qwen3-VL-8B token) from there (2026-12-03, second and third
//   candidate runs; the numbers are the second's, the third agreed within 0.01):
//   with random positions shared by every call (the target's) 1.03-1.07x plain RoPE where the
//   choices above took 1.10-1.14x, with a prompt's positions 1.02-1.05x (1.06-1.11x), with one
//   row per token 1.02-1.04x (1.07-1.10x); with fresh random positions in every call (rows from
//   DRAM) 1.10-1.19x against 1.10-1.17x. At 16384 (39 waves) the columns were ahead with shared
//   and fresh random positions (1.086 against 1.097, 1.053 against 1.070). At 512 (1.2 waves) the
//   shuffle ran 1.07-1.08x in the target's pattern, like the gather, but 1.39-1.42x with fresh
//   rows (the gather 1.20x).
LaunchShape choose_interleaved_shape(const detail::Problem& p, int pairs_per_thread,
                                     int multiprocessor_count) {
  const double waves = one_head_waves(p, std::min(pairs_per_thread, 4), multiprocessor_count);
  const bool token_major = waves > 1;
  if (waves < 0.3)
    return make_launch_shape(p, pairs_per_thread, 1, 64, token_major, InterleavedSource::rows);
  if (waves < 1)
    return make_launch_shape(p, std::min(pairs_per_thread, 4), 1, 128, token_major,
                             InterleavedSource::gather);
  if (waves < 2)
    return make_launch_shape(p, pairs_per_thread, 1, 256, token_major, InterleavedSource::gather);
  if (waves < 28 && shuffle_fits(p, pairs_per_thread))
    return make_launch_shape(p, pairs_per_thread, 1, waves < 4 ? 128 : 256, false,
                             InterleavedSource::shuffle);
  if (waves >= 4 && waves < 7)
    return make_launch_shape(p, pairs_per_thread, 1, 128, token_major, InterleavedSource::gather);
  LaunchShape shape =
      make_launch_shape(p, pairs_per_thread, 8, 64, token_major, InterleavedSource::columns);
  if (waves < 7) shape.heads_in_flight = 8;
  return shape;
}

// Multimodal RoPE with contiguous sections (each chunk reads one of its token's three rows), from
// the H200 runs of Qwen2-VL-7B (docs/BENCHMARKS.md) by waves of one-head threads with 4 pairs:
// - narrow rotary parts (fewer than 4 chunks of 4 pairs) past 2 waves: narrow_rotary_shape, as for
//   plain RoPE.
// - below 0.75: 4 pairs, one head per thread in blocks of 64 (T = 256: 0.87-0.93x plain RoPE;
//   8 pairs 1.08-1.14x).
// - past that, where the sections allow 8 pairs, a head has at least 4 chunks of them, and the
//   cache bytes a call reads (a row's worth per token) are at most kRowsInL2Bytes: 8 pairs, one
//   head per thread in blocks of 64, plain RoPE's own kernel shape. The layers of a forward
//   pass call RoPE with the same positions, so those rows stay in L2 from one call to the next:
//   with the positions of a prompt or random positions shared by every call, T = 512-4096 took
//   1.005-1.03x plain RoPE (the 4-pair launches below: 1.04-1.10x). At 8 MiB (T = 16384, fp32
//   rows) random shared positions ran 1.17x (4 pairs 1.06x). With fresh random positions in
//   every call, rows from DRAM, 8 pairs lose: 1.09-1.23x against 1.08-1.13x.
// - otherwise 4 pairs (or fewer) and, sharing one cos/sin load among heads, two heads per thread
//   in blocks of 128 below 1.5 waves (T = 512: a one-head 4-pair launch of 36 registers at 0.97
//   waves ran in two), four up to 3 waves, then eight (T = 16384: 1.05x).
constexpr int64_t kRowsInL2Bytes = int64_t(4) << 20;

LaunchShape choose_contiguous_shape(const detail::Problem& p, int pairs_per_thread,
                                    int multiprocessor_count) {
  const int pairs = std::min(pairs_per_thread, 4);
  const double waves = one_head_waves(p, pairs, multiprocessor_count);
  if (narrow_rotary_past_two_waves(p, pairs, multiprocessor_count))
    return narrow_rotary_shape(p, pairs);
  const int64_t half = p.rotary_dim / 2;
  const int64_t row_bytes = p.rotary_dim * element_size(p.cache_dtype);
  if (waves >= 0.75 && pairs_per_thread >= 8 && half / pairs_per_thread >= 4 &&
      p.num_tokens() * row_bytes <= kRowsInL2Bytes)
    return make_launch_shape(p, pairs_per_thread, 1, 64,
                             one_head_waves(p, pairs_per_thread, multiprocessor_count) > 1);
  const int heads = waves < 0.75 ? 1 : waves < 1.5 ? 2 : waves <= 3 ? 4 : 8;
  return make_launch_shape(p, pairs, heads, heads == 2 ? 128 : 64, waves > 1);
}

}  // namespace

bool streaming_accesses(const detail::Problem& p, int pairs_per_thread,
                        InterleavedSource source) {
  // Prefill-sized launches only: decode-sized ones gained nothing, and in one table of the H200
  // run plain RoPE at T = 16 took 1.22-1.28 us with evict-first q/k instead of 1.06-1.09.
  // Interleaved multimodal sections ran slower or no faster with it, except with the shuffle
  // source (H200, Qwen3-VL-8B, random positions shared by every call: the gather 1.12-1.16x plain
  // RoPE either way at T = 1024-4096, the shuffle 1.04-1.08x with it and 1.11-1.16x without). One
  // pair per thread means accesses narrower than a sector.
  if (p.num_tokens() < kStreamingMinTokens || pairs_per_thread < 2 ||
      (p.mrope && p.mrope_interleaved && source != InterleavedSource::shuffle))
    return false;
  // Every slice a thread reads and writes is whole 32-byte sectors: NeoX's two halves of the
  // rotary part, GPT-J's one rotary part, each starting on a sector.
  const int64_t x_bytes = element_size(p.x_dtype);
  const int64_t slice = (p.is_neox ? p.rotary_dim / 2 : p.rotary_dim) * x_bytes;
  if (slice % 32 != 0) return false;
  bool ok = layout_aligned(p.query_in, x_bytes, 32) && layout_aligned(p.query_out, x_bytes, 32);
  if (p.has_key)
    ok = ok && layout_aligned(p.key_in, x_bytes, 32) && layout_aligned(p.key_out, x_bytes, 32);
  return ok;
}

int choose_pairs_per_thread(const detail::Problem& p) {
  const int64_t x_bytes = element_size(p.x_dtype);
  const int64_t cache_bytes = element_size(p.cache_dtype);
  const int64_t half = p.rotary_dim / 2;
  for (int pairs = 8; pairs > 1; pairs /= 2) {
    if (half % pairs != 0) continue;
    // Contiguous multimodal sections: every chunk inside one section, so it reads one cache row
    // (the kernel has no path for a chunk that straddles a section boundary).
    const bool contiguous_sections = p.mrope && !p.mrope_interleaved;
    if (contiguous_sections &&
        (p.mrope_section[0] % pairs != 0 || (p.mrope_section[0] + p.mrope_section[1]) % pairs != 0))
      continue;
    // NeoX: two slices of `pairs` elements; GPT-J: one slice of 2 * pairs interleaved elements,
    // up to 32 bytes (two 16-byte accesses: as many bytes per thread as NeoX moves, so the cos/sin
    // registers and index work are spent on as much data). Each access at most 16 bytes.
    if (pairs * x_bytes > 16) continue;
    const int64_t access = std::min<int64_t>(16, (p.is_neox ? pairs : 2 * pairs) * x_bytes);
    bool ok = layout_aligned(p.query_in, x_bytes, access) &&
              layout_aligned(p.query_out, x_bytes, access);
    if (p.has_key)
      ok = ok && layout_aligned(p.key_in, x_bytes, access) &&
           layout_aligned(p.key_out, x_bytes, access);
    const int64_t cache_access = std::min<int64_t>(16, pairs * cache_bytes);
    ok = ok && aligned(p.cache, cache_access) &&
         (p.cache_row_stride * cache_bytes) % cache_access == 0;
    if (ok) return pairs;
  }
  return 1;
}

bool shuffle_fits(const detail::Problem& p, int pairs_per_thread) {
  return p.mrope && p.mrope_interleaved && pairs_per_thread == kShufflePairs &&
         p.rotary_dim == kShuffleRotaryDim && rotated_heads(p) % kShuffleHeadsPerWarp == 0;
}

LaunchShape make_launch_shape(const detail::Problem& p, int pairs_per_thread, int heads_per_thread,
                              int block_threads, bool token_major, InterleavedSource source) {
  LaunchShape shape;
  const int64_t total_heads = rotated_heads(p);
  const int64_t target = std::clamp<int64_t>(block_threads, 32, kMaxBlockThreads);
  const bool interleaved = p.mrope && p.mrope_interleaved;
  // The shuffle only in its one form (shuffle_fits), else the gather in its place.
  if (source == InterleavedSource::shuffle && !shuffle_fits(p, pairs_per_thread))
    source = InterleavedSource::gather;
  shape.interleaved = interleaved ? source : InterleavedSource::gather;
  const bool shuffle = shape.interleaved == InterleavedSource::shuffle;
  // Rows and columns read each of their frequencies from its own row: at most 4 pairs per thread
  // (their only instantiations; a narrower chunk of a legal one is legal), and rows one head per
  // thread (its registers: three rows' slices live at once); the shuffle one head per thread too
  // (its only instantiation).
  const bool direct = interleaved && (source == InterleavedSource::rows ||
                                      source == InterleavedSource::columns);
  shape.pairs_per_thread = direct ? std::min(pairs_per_thread, 4) : pairs_per_thread;
  if (interleaved && (source == InterleavedSource::rows || shuffle)) heads_per_thread = 1;
  shape.heads_per_thread =
      int(std::clamp<int64_t>(heads_per_thread, 1, std::max<int64_t>(total_heads, 1)));
  // Columns have one, four and eight in flight; the others one, two and four.
  shape.heads_in_flight = shape.heads_per_thread == 1              ? 1
                          : shape.heads_per_thread == 2 && !direct ? 2
                                                                   : 4;
  shape.head_groups = int((total_heads + shape.heads_per_thread - 1) / shape.heads_per_thread);
  shape.chunks_per_head = int(p.rotary_dim / 2 / shape.pairs_per_thread);
  // x: chunks of a head; y: head groups; z: tokens. A token's threads up to twice the target stay
  // in one block; more are split over y-blocks of equal size (an uneven split left blocks with a
  // few active threads: 34 heads in y-blocks of 32 and 2 ran glm4-9b 13% slower).
  const int64_t bx = std::min<int64_t>(shape.chunks_per_head, target);
  const int64_t groups = shape.head_groups;
  const int64_t most_per_block = std::min<int64_t>(2 * target, kMaxBlockThreads);
  const int64_t y_blocks = std::max<int64_t>(1, (bx * groups + most_per_block - 1) / most_per_block);
  int64_t by = std::min<int64_t>((groups + y_blocks - 1) / y_blocks,
                                 std::max<int64_t>(1, kMaxBlockThreads / bx));
  // The shuffle's warps hold kShuffleHeadsPerWarp whole heads each (with the 8 chunks of x).
  if (shuffle) by = (by + kShuffleHeadsPerWarp - 1) / kShuffleHeadsPerWarp * kShuffleHeadsPerWarp;
  int64_t bz = 1;
  if (bx == shape.chunks_per_head && by == shape.head_groups) {
    // Tokens per block: about `target` threads, but a few more tokens when that leaves fewer idle
    // lanes in the last warp (9 heads x 8 chunks = 72 threads fill 3 warps only to 75%; 4 tokens
    // fill 9 warps exactly), and never more tokens than there are.
    const int64_t per_token = bx * by;
    const int64_t most = std::clamp<int64_t>(
        std::min<int64_t>({kMaxTokensPerBlock, kMaxBlockThreads / per_token, p.num_tokens()}), 1,
        kMaxTokensPerBlock);
    const int64_t wanted = std::clamp<int64_t>(target / per_token, 1, most);
    const auto idle_fraction = [&](int64_t tokens) {
      const int64_t threads = tokens * per_token;
      return double((32 - threads % 32) % 32) / double(threads + (32 - threads % 32) % 32);
    };
    bz = wanted;
    for (int64_t tokens = wanted; tokens <= most && tokens <= 4 * wanted; ++tokens)
      if (idle_fraction(tokens) <= 0.125) {
        bz = tokens;
        break;
      }
  }
  shape.streaming = streaming_accesses(p, shape.pairs_per_thread, shape.interleaved);
  shape.block[0] = unsigned(bx);
  shape.block[1] = unsigned(by);
  shape.block[2] = unsigned(bz);
  const auto blocks = [](int64_t count, int64_t per_block) {
    return uint64_t((count + per_block - 1) / per_block);
  };
  const uint64_t grid[3] = {blocks(p.num_tokens(), bz), blocks(shape.head_groups, by),
                            blocks(shape.chunks_per_head, bx)};
  // Out-of-range grids are left for run_cuda to reject with a message (saturated here).
  shape.grid[0] = unsigned(std::min<uint64_t>(grid[0], UINT32_MAX));
  shape.grid[1] = unsigned(std::min<uint64_t>(grid[1], UINT32_MAX));
  shape.grid[2] = unsigned(std::min<uint64_t>(grid[2], UINT32_MAX));
  order_grid(p, shape, token_major);
  return shape;
}

void order_grid(const detail::Problem& p, LaunchShape& shape, bool token_major) {
  // The interleaved gather and shuffle: the 3-D order only (their kernels read the 3-D index as it
  // is; the token-major order ran the gather slower, and the shuffle was measured in the 3-D one).
  if (p.mrope && p.mrope_interleaved && (shape.interleaved == InterleavedSource::gather ||
                                         shape.interleaved == InterleavedSource::shuffle))
    token_major = false;
  if (shape.token_major() == token_major) return;
  if (!token_major) {  // back to the 3-D grid
    shape.grid[0] /= shape.blocks_per_token_block;
    shape.grid[1] = shape.blocks_per_token_block / shape.chunk_blocks;
    shape.grid[2] = shape.chunk_blocks;
    shape.blocks_per_token_block = shape.chunk_blocks = 1;
    return;
  }
  const uint64_t per_token_block = uint64_t(shape.grid[1]) * shape.grid[2];
  if (per_token_block <= 1 || shape.grid[0] * per_token_block > INT32_MAX) return;
  shape.blocks_per_token_block = unsigned(per_token_block);
  shape.chunk_blocks = shape.grid[2];
  shape.grid[0] = unsigned(shape.grid[0] * per_token_block);
  shape.grid[1] = shape.grid[2] = 1;
}

LaunchShape choose_launch_shape(const detail::Problem& p, int pairs_per_thread,
                                int multiprocessor_count) {
  // Contiguous multimodal sections count chunks and waves at their own pairs per thread.
  if (p.mrope && !p.mrope_interleaved)
    return choose_contiguous_shape(p, pairs_per_thread, multiprocessor_count);
  // From the launch-shape sweeps on an H100 and an H200 (bench/gpu/gpu_bench.cu,
  // docs/BENCHMARKS.md): one head per thread in blocks of about 128 threads was the fastest or
  // within noise of it at every token count for every shape with at least 4 chunks a head; narrow
  // rotary parts: narrow_rotary_shape.
  if (narrow_rotary_past_two_waves(p, pairs_per_thread, multiprocessor_count))
    return narrow_rotary_shape(p, pairs_per_thread);
  const double waves = one_head_waves(p, pairs_per_thread, multiprocessor_count);
  // Past one wave, a token's blocks are numbered next to each other (order_grid), so they run
  // together and read the token's cache rows from DRAM once (H200, T = 16384 with two blocks per
  // token: llama3-8b 84.9 instead of 87.4 us; one block per token: no change). order_grid keeps
  // interleaved multimodal sections in the 3-D order: their per-block gather ran slower
  // token-major (110.5 instead of 103.9 us; 4096 tokens: 28.9 instead of 27.5).
  const bool token_major = waves > 1;
  if (p.mrope) return choose_interleaved_shape(p, pairs_per_thread, multiprocessor_count);
  return make_launch_shape(p, pairs_per_thread, 1, 128, token_major);
}

std::string launch_shape_error(const detail::Problem& p, const LaunchShape& shape) {
  if (p.num_tokens() > kMaxTokens)
    return std::to_string(p.num_tokens()) + " tokens in one call; at most " +
           std::to_string(kMaxTokens) + " (the grid indexes tokens in 32 bits)";
  if (p.max_position > INT32_MAX || p.cache_row_stride > INT32_MAX)
    return "cos_sin_cache of " + std::to_string(p.max_position) + " rows with row stride " +
           std::to_string(p.cache_row_stride) + ": at most " + std::to_string(INT32_MAX) +
           " of each (the kernel's row arithmetic is 32-bit)";
  if (shape.grid[1] > 65535 || shape.grid[2] > 65535)
    return std::to_string(shape.head_groups) + " head groups of " +
           std::to_string(shape.chunks_per_head) +
           " chunks need more blocks than a grid's y and z dimensions hold (65535)";
  if (p.mrope && p.mrope_interleaved && shape.interleaved == InterleavedSource::shuffle) {
    // Every lane of a warp takes part in its shuffles and holds one chunk of one head of one token.
    const bool form = shuffle_fits(p, shape.pairs_per_thread) && shape.heads_per_thread == 1 &&
                      shape.heads_in_flight == 1 && !shape.token_major() &&
                      int(shape.block[0]) == shape.chunks_per_head && shape.grid[2] == 1 &&
                      shape.block[1] % kShuffleHeadsPerWarp == 0;
    if (!form)
      return "the interleaved shuffle source needs " + std::to_string(kShufflePairs) +
             " pairs per thread, rotary_dim " + std::to_string(kShuffleRotaryDim) +
             ", query plus key heads a multiple of " + std::to_string(kShuffleHeadsPerWarp) +
             " and its own launch shape (make_launch_shape)";
  }
  return "";
}

RotaryParams make_params(const detail::Problem& p, const LaunchShape& shape) {
  RotaryParams r;
  const auto head_tensor = [](const detail::HeadLayout& in, const detail::HeadLayout& out) {
    HeadTensor t;
    t.in = in.data;
    t.out = out.data;
    t.in_batch_stride = in.batch_stride;
    t.in_seq_stride = in.seq_stride;
    t.in_head_stride = in.head_stride;
    t.out_batch_stride = out.batch_stride;
    t.out_seq_stride = out.seq_stride;
    t.out_head_stride = out.head_stride;
    return t;
  };
  r.query = head_tensor(p.query_in, p.query_out);
  if (p.has_key) r.key = head_tensor(p.key_in, p.key_out);
  r.num_heads = int(p.num_heads);
  r.num_kv_heads = p.has_key ? int(p.num_kv_heads) : 0;
  r.head_size = int(p.head_size);
  r.rotary_dim = int(p.rotary_dim);
  r.head_groups = shape.head_groups;
  r.chunks_per_head = shape.chunks_per_head;
  r.blocks_per_token_block = shape.token_major() ? shape.blocks_per_token_block : 0;
  r.chunk_blocks = shape.chunk_blocks;
  // Both fit (launch_shape_error rejects more than kMaxTokens tokens).
  r.seq = uint32_t(p.seq);
  r.num_tokens = uint32_t(p.num_tokens());
  r.positions = p.positions;
  r.positions_batch_stride = p.positions_batch_stride;
  r.positions_seq_stride = p.positions_seq_stride;
  r.positions_int64 = p.positions_dtype == DType::int64;
  r.mrope = p.mrope;
  r.mrope_interleaved = p.mrope_interleaved;
  // The sections sum to rotary_dim / 2 (validated), so the bounds fit in 32 bits.
  const int64_t* section = p.mrope_section.data();
  r.mrope_bounds[0] = int(p.mrope_interleaved ? 3 * section[1] : section[0]);
  r.mrope_bounds[1] = int(p.mrope_interleaved ? 3 * section[2] : section[0] + section[1]);
  r.positions_stream_stride = p.positions_stream_stride;
  r.cache = p.cache;
  // Both fit (launch_shape_error rejects more).
  r.cache_row_stride = uint32_t(p.cache_row_stride);
  r.max_position = uint32_t(p.max_position);
  r.inverse = p.inverse;
  r.copy_tail = !p.in_place && p.rotary_dim < p.head_size;
  return r;
}

}  // namespace ropekit::cuda
