#include "cuda/launch.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/policy.hpp"
#include "ropekit/tensor.hpp"

namespace ropekit::cuda {
namespace {

bool aligned(const void* pointer, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % uintptr_t(bytes) == 0;
}

bool layout_aligned(const detail::HeadLayout& layout, int64_t element_bytes, int64_t access_bytes) {
  const auto stride_ok = [&](int64_t stride) {
    return (stride * element_bytes) % access_bytes == 0;
  };
  return aligned(layout.data, access_bytes) && stride_ok(layout.batch_stride) &&
         stride_ok(layout.seq_stride) && stride_ok(layout.head_stride);
}

bool all_layouts_aligned(const detail::Problem& p, int64_t access_bytes) {
  const int64_t x_bytes = element_size(p.x_dtype);
  bool ok = layout_aligned(p.query_in, x_bytes, access_bytes) &&
            layout_aligned(p.query_out, x_bytes, access_bytes);
  if (p.has_key)
    ok = ok && layout_aligned(p.key_in, x_bytes, access_bytes) &&
         layout_aligned(p.key_out, x_bytes, access_bytes);
  return ok;
}

// The heads a call rotates: query, then key where there is one.
int64_t rotated_heads(const detail::Problem& p) {
  return p.num_heads + (p.has_key ? p.num_kv_heads : 0);
}

int64_t chunks_per_head(const detail::Problem& p, int pairs) { return p.rotary_dim / 2 / pairs; }

// Every slice a thread reads and writes is whole 32-byte sectors (NeoX's two halves of the rotary
// part, GPT-J's one): where a store fills part of a sector evicted after its load, evict-first
// accesses were much slower.
bool whole_sectors(const detail::Problem& p) {
  const int64_t slice = (p.is_neox ? p.rotary_dim / 2 : p.rotary_dim) * element_size(p.x_dtype);
  return slice % 32 == 0 && all_layouts_aligned(p, 32);
}

bool shuffle_fits(const detail::Problem& p, int pairs) {
  return p.mrope && p.mrope_interleaved && (pairs == 4 || pairs == 8) &&
         pairs <= widest_pairs(p) && p.rotary_dim == kShuffleRotaryDim &&
         rotated_heads(p) % shuffle_heads_per_warp(pairs) == 0;
}

bool streams_fit(const detail::Problem& p, Streams streams) {
  switch (streams) {
    case Streams::one: return !p.mrope;
    case Streams::contiguous_sections: return p.mrope && !p.mrope_interleaved;
    case Streams::interleaved_columns:
    case Streams::interleaved_shuffle: return p.mrope && p.mrope_interleaved;
  }
  return false;
}

// The configuration nearest to the one asked for that exists: as asked, else without evict-first,
// else with one head in flight, else with half the pairs.
int pick(const detail::Problem& p, Streams streams, int pairs, int heads_in_flight,
         bool streaming) {
  for (; pairs >= 1; pairs /= 2) {
    const KernelConfig tries[] = {config_for(p, streams, pairs, heads_in_flight, streaming),
                                  config_for(p, streams, pairs, heads_in_flight, false),
                                  config_for(p, streams, pairs, 1, false)};
    for (const KernelConfig& c : tries)
      if (const int index = find_config(c); index >= 0) return index;
  }
  return -1;
}

// A launch's threads at one head per thread with `pairs` per thread, in waves of the device's
// resident slots for configuration `config` (the occupancy API's residency).
double one_head_waves(const detail::Problem& p, const DeviceInfo& d, int config, int pairs) {
  const double threads =
      double(p.num_tokens()) * double(rotated_heads(p) * chunks_per_head(p, pairs));
  const int resident = std::max(d.resident_threads(d.device, config), 1);
  return threads / (double(d.multiprocessors) * double(resident));
}

template <class Step, size_t N>
const Step& step_for(const Step (&steps)[N], double waves) {
  for (const Step& step : steps)
    if (waves < step.below_waves) return step;
  return steps[N - 1];
}

LaunchShape choose_plain(const detail::Problem& p, const DeviceInfo& d, const ArchPolicy& policy) {
  const PlainPolicy& plain = policy.plain;
  const int pairs = widest_pairs(p);
  const double waves = one_head_waves(p, d, pick(p, Streams::one, pairs, 1, false), pairs);
  if (chunks_per_head(p, pairs) < plain.narrow_below_chunks && waves > plain.narrow_past_waves)
    return make_shape(p, pick(p, Streams::one, pairs, plain.narrow.heads_in_flight, false),
                      plain.narrow.heads_per_thread, plain.narrow.block_threads, true);
  const bool streaming = p.num_tokens() >= policy.streaming_min_tokens && whole_sectors(p);
  return make_shape(p, pick(p, Streams::one, pairs, 1, streaming), 1, plain.block_threads,
                    waves > plain.token_major_past_waves);
}

LaunchShape choose_contiguous(const detail::Problem& p, const DeviceInfo& d,
                              const ArchPolicy& policy) {
  constexpr Streams kStreams = Streams::contiguous_sections;
  const ContiguousPolicy& contiguous = policy.contiguous;
  const int widest = widest_pairs(p), pairs = std::min(widest, 4);
  const double waves = one_head_waves(p, d, pick(p, kStreams, pairs, 1, false), pairs);
  const PlainPolicy& plain = policy.plain;
  if (chunks_per_head(p, pairs) < plain.narrow_below_chunks && waves > plain.narrow_past_waves)
    return make_shape(p, pick(p, kStreams, pairs, plain.narrow.heads_in_flight, false),
                      plain.narrow.heads_per_thread, plain.narrow.block_threads, true);
  const bool streaming = p.num_tokens() >= policy.streaming_min_tokens && whole_sectors(p);
  const int64_t row_bytes = p.rotary_dim * element_size(p.cache_dtype);
  if (waves >= contiguous.eight_pairs_from_waves && widest >= 8 &&
      chunks_per_head(p, widest) >= contiguous.eight_pairs_min_chunks &&
      p.num_tokens() * row_bytes <= contiguous.eight_pairs_max_row_bytes) {
    const int config = pick(p, kStreams, widest, 1, streaming);
    return make_shape(p, config, 1, contiguous.eight_pairs_block_threads,
                      one_head_waves(p, d, pick(p, kStreams, widest, 1, false), widest) > 1);
  }
  const WaveStep& step = step_for(contiguous.steps, waves);
  return make_shape(p, pick(p, kStreams, pairs, step.heads_in_flight, streaming),
                    step.heads_per_thread, step.block_threads, waves > 1);
}

LaunchShape choose_interleaved(const detail::Problem& p, const DeviceInfo& d,
                               const ArchPolicy& policy) {
  const InterleavedPolicy& interleaved = policy.interleaved;
  const int widest = widest_pairs(p), four = std::min(widest, 4);
  const double waves =
      one_head_waves(p, d, pick(p, Streams::interleaved_columns, four, 1, false), four);
  const InterleavedStep* step = &step_for(interleaved.steps, waves);
  if (step->source == Streams::interleaved_shuffle && !shuffle_fits(p, step->pairs))
    step = &step_for(interleaved.without_shuffle, waves);
  const bool shuffle = step->source == Streams::interleaved_shuffle;
  const bool streaming =
      shuffle && p.num_tokens() >= interleaved.shuffle_streaming_min_tokens && whole_sectors(p);
  const int config = pick(p, step->source, std::min(widest, step->pairs), step->heads_in_flight,
                          streaming);
  return make_shape(p, config, step->heads_per_thread, step->block_threads, !shuffle && waves > 1);
}

// Tokens per block: about `target` threads, but a few more tokens when that leaves fewer idle
// lanes in the last warp (9 heads x 8 chunks = 72 threads fill 3 warps only to 75%; 4 tokens fill
// 9 warps exactly), and never more tokens than there are.
int64_t tokens_per_block(const detail::Problem& p, int64_t per_token, int64_t target) {
  const int64_t most = std::clamp<int64_t>(
      std::min<int64_t>({kMaxTokensPerBlock, kMaxBlockThreads / per_token, p.num_tokens()}), 1,
      kMaxTokensPerBlock);
  const int64_t wanted = std::clamp<int64_t>(target / per_token, 1, most);
  const auto idle_fraction = [&](int64_t tokens) {
    const int64_t threads = tokens * per_token;
    const int64_t idle = (32 - threads % 32) % 32;
    return double(idle) / double(threads + idle);
  };
  for (int64_t tokens = wanted; tokens <= most && tokens <= 4 * wanted; ++tokens)
    if (idle_fraction(tokens) <= 0.125) return tokens;
  return wanted;
}

// The grid in token-major order where a token block has several blocks and the 1-D grid fits in
// 2^31 - 1 blocks.
void order_token_major(LaunchShape& shape) {
  const uint64_t per_token_block = uint64_t(shape.grid[1]) * shape.grid[2];
  if (per_token_block <= 1 || shape.grid[0] * per_token_block > INT32_MAX) return;
  shape.blocks_per_token_block = unsigned(per_token_block);
  shape.chunk_blocks = shape.grid[2];
  shape.grid[0] = unsigned(shape.grid[0] * per_token_block);
  shape.grid[1] = shape.grid[2] = 1;
}

}  // namespace

int widest_pairs(const detail::Problem& p) {
  const int64_t x_bytes = element_size(p.x_dtype);
  const int64_t cache_bytes = element_size(p.cache_dtype);
  const int64_t half = p.rotary_dim / 2;
  const bool contiguous_sections = p.mrope && !p.mrope_interleaved;
  for (int pairs = 8; pairs > 1; pairs /= 2) {
    if (half % pairs != 0 || pairs * x_bytes > 16) continue;
    // Contiguous multimodal sections: every chunk inside one section, so it reads one cache row.
    if (contiguous_sections &&
        (p.mrope_section[0] % pairs != 0 || (p.mrope_section[0] + p.mrope_section[1]) % pairs != 0))
      continue;
    // NeoX: two slices of `pairs` elements; GPT-J: one slice of 2 * pairs interleaved elements, up
    // to 32 bytes as two 16-byte accesses.
    const int64_t access = std::min<int64_t>(16, (p.is_neox ? pairs : 2 * pairs) * x_bytes);
    const int64_t cache_access = std::min<int64_t>(16, pairs * cache_bytes);
    if (all_layouts_aligned(p, access) && aligned(p.cache, cache_access) &&
        (p.cache_row_stride * cache_bytes) % cache_access == 0)
      return pairs;
  }
  return 1;
}

KernelConfig config_for(const detail::Problem& p, Streams streams, int pairs, int heads_in_flight,
                        bool streaming) {
  KernelConfig c;
  c.x = p.x_dtype == DType::float16    ? XType::f16
        : p.x_dtype == DType::bfloat16 ? XType::bf16
                                       : XType::f32;
  c.cache = p.cache_dtype == DType::float32 ? CacheWidth::b32 : CacheWidth::b16;
  c.neox = p.is_neox;
  c.streams = streams;
  c.pairs = uint8_t(pairs);
  c.heads_in_flight = uint8_t(heads_in_flight);
  c.streaming = streaming;
  return c;
}

LaunchShape choose_launch(const detail::Problem& p, const DeviceInfo& d) {
  const ArchPolicy& policy = policy_for(d.arch);
  if (!p.mrope) return choose_plain(p, d, policy);
  if (!p.mrope_interleaved) return choose_contiguous(p, d, policy);
  return choose_interleaved(p, d, policy);
}

LaunchShape make_shape(const detail::Problem& p, int config, int heads_per_thread,
                       int block_threads, bool token_major) {
  LaunchShape shape;
  shape.config = config;
  if (config < 0 || config >= kKernelConfigCount) return shape;  // launch_shape_error says why
  const KernelConfig& c = kKernelConfigs[config];
  const bool shuffle = c.streams == Streams::interleaved_shuffle;
  const int64_t total_heads = rotated_heads(p);
  const int64_t target = std::clamp<int64_t>(block_threads, 32, kMaxBlockThreads);
  // One head in flight is the one-head-per-thread kernel.
  shape.heads_per_thread = c.heads_in_flight == 1
                               ? 1
                               : int(std::clamp<int64_t>(heads_per_thread, 1,
                                                         std::max<int64_t>(total_heads, 1)));
  shape.head_groups = int((total_heads + shape.heads_per_thread - 1) / shape.heads_per_thread);
  shape.chunks_per_head = int(chunks_per_head(p, c.pairs));
  if (shape.chunks_per_head < 1) return shape;  // wider than the rotary part: launch_shape_error
  // x: chunks of a head; y: head groups; z: tokens. A token's threads up to twice the target stay
  // in one block; more are split over y-blocks of equal size (an uneven split leaves blocks with a
  // few active threads).
  const int64_t bx = std::min<int64_t>(shape.chunks_per_head, target);
  const int64_t groups = shape.head_groups;
  const int64_t most_per_block = std::min<int64_t>(2 * target, kMaxBlockThreads);
  const int64_t y_blocks =
      std::max<int64_t>(1, (bx * groups + most_per_block - 1) / most_per_block);
  int64_t by = std::min<int64_t>((groups + y_blocks - 1) / y_blocks,
                                 std::max<int64_t>(1, kMaxBlockThreads / bx));
  // The shuffle's warps hold whole heads (a head's chunks along x).
  if (shuffle) {
    const int64_t per_warp = shuffle_heads_per_warp(c.pairs);
    by = (by + per_warp - 1) / per_warp * per_warp;
  }
  const bool whole_tokens = bx == shape.chunks_per_head && by == groups;
  const int64_t bz = whole_tokens ? tokens_per_block(p, bx * by, target) : 1;
  shape.block[0] = unsigned(bx);
  shape.block[1] = unsigned(by);
  shape.block[2] = unsigned(bz);
  const auto blocks = [](int64_t count, int64_t per_block) {
    return uint64_t((count + per_block - 1) / per_block);
  };
  // Out-of-range grids are saturated here and rejected with a message by launch_shape_error.
  shape.grid[0] = unsigned(std::min<uint64_t>(blocks(p.num_tokens(), bz), UINT32_MAX));
  shape.grid[1] = unsigned(std::min<uint64_t>(blocks(groups, by), UINT32_MAX));
  shape.grid[2] = unsigned(std::min<uint64_t>(blocks(shape.chunks_per_head, bx), UINT32_MAX));
  if (token_major && !shuffle) order_token_major(shape);
  return shape;
}

std::string launch_shape_error(const detail::Problem& p, const LaunchShape& shape) {
  if (p.num_tokens() > kMaxTokens)
    return std::to_string(p.num_tokens()) + " tokens in one call; at most " +
           std::to_string(kMaxTokens) + " (the grid indexes tokens in 32 bits)";
  if (p.max_position > INT32_MAX || p.cache_row_stride > INT32_MAX)
    return "cos_sin_cache of " + std::to_string(p.max_position) + " rows with row stride " +
           std::to_string(p.cache_row_stride) + ": at most " + std::to_string(INT32_MAX) +
           " of each (the kernel's row arithmetic is 32-bit)";
  if (shape.config < 0 || shape.config >= kKernelConfigCount)
    return "no kernel configuration fits this problem";
  const KernelConfig& c = shape.kernel();
  const int pairs = c.pairs;
  const KernelConfig family = config_for(p, c.streams, pairs, c.heads_in_flight, c.streaming);
  if (!(family == c) || !streams_fit(p, c.streams))
    return "kernel configuration " + std::to_string(shape.config) +
           " is for other dtypes, pairing or position streams";
  if (pairs > widest_pairs(p))
    return std::to_string(pairs) + " pairs per thread; the alignment of this problem allows " +
           std::to_string(widest_pairs(p));
  if (c.streaming && !whole_sectors(p))
    return "evict-first accesses need whole, aligned 32-byte sectors";
  const int64_t total_heads = rotated_heads(p);
  if (shape.chunks_per_head != chunks_per_head(p, pairs) || shape.heads_per_thread < 1 ||
      (c.heads_in_flight == 1 && shape.heads_per_thread != 1) ||
      shape.head_groups != (total_heads + shape.heads_per_thread - 1) / shape.heads_per_thread)
    return "the launch shape does not match its kernel configuration (make_shape)";
  if (shape.block_threads() > uint64_t(kMaxBlockThreads) || shape.block[2] > kMaxTokensPerBlock)
    return "blocks of " + std::to_string(shape.block_threads()) + " threads; at most " +
           std::to_string(kMaxBlockThreads);
  if (shape.grid[1] > 65535 || shape.grid[2] > 65535)
    return std::to_string(shape.head_groups) + " head groups of " +
           std::to_string(shape.chunks_per_head) +
           " chunks need more blocks than a grid's y and z dimensions hold (65535)";
  if (c.streams == Streams::interleaved_shuffle) {
    // Every lane of a warp takes part in its shuffles and holds one chunk of one head of a token.
    const bool form = shuffle_fits(p, pairs) && !shape.token_major() &&
                      int(shape.block[0]) == shape.chunks_per_head && shape.grid[2] == 1 &&
                      shape.block[1] % shuffle_heads_per_warp(pairs) == 0;
    if (!form)
      return "the interleaved shuffle with " + std::to_string(pairs) +
             " pairs per thread needs rotary_dim " + std::to_string(kShuffleRotaryDim) +
             ", query plus key heads a multiple of " +
             std::to_string(shuffle_heads_per_warp(pairs)) +
             " and its own block shape (make_shape)";
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
  // All fit in 32 bits: make_problem refuses larger on cuda (check_cuda_index_limits).
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
  r.cache_bf16 = p.cache_dtype == DType::bfloat16;
  // Both fit (launch_shape_error rejects more).
  r.cache_row_stride = uint32_t(p.cache_row_stride);
  r.max_position = uint32_t(p.max_position);
  r.inverse = p.inverse;
  r.copy_tail = !p.in_place && p.rotary_dim < p.head_size;
  return r;
}

}  // namespace ropekit::cuda
