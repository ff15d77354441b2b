#include "cuda/launch_config.hpp"

#include <algorithm>
#include <cstdint>

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

}  // namespace

int choose_pairs_per_thread(const detail::Problem& p) {
  const int64_t x_bytes = element_size(p.x_dtype);
  const int64_t cache_bytes = element_size(p.cache_dtype);
  const int64_t half = p.rotary_dim / 2;
  for (int pairs = 8; pairs > 1; pairs /= 2) {
    if (half % pairs != 0) continue;
    // NeoX: two slices of `pairs` elements; GPT-J: one slice of 2 * pairs interleaved elements.
    const int64_t access = (p.is_neox ? pairs : 2 * pairs) * x_bytes;
    if (access > 16) continue;
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

LaunchShape make_launch_shape(const detail::Problem& p, int pairs_per_thread, int heads_per_thread,
                              int block_threads) {
  LaunchShape shape;
  const int total_heads = int(p.num_heads + (p.has_key ? p.num_kv_heads : 0));
  shape.heads_per_thread = std::clamp(heads_per_thread, 1, total_heads);
  shape.block_threads = block_threads;
  shape.head_groups = (total_heads + shape.heads_per_thread - 1) / shape.heads_per_thread;
  shape.chunks_per_head = int(p.rotary_dim / 2 / pairs_per_thread);
  shape.total_threads =
      uint64_t(p.num_tokens()) * uint64_t(shape.head_groups) * uint64_t(shape.chunks_per_head);
  return shape;
}

LaunchShape choose_launch_shape(const detail::Problem& p, int pairs_per_thread,
                                int multiprocessor_count) {
  // Blocks of 128 threads: as fast as 256 or faster at every size in the launch-shape sweep
  // (bench/gpu/gpu_bench.cu, docs/BENCHMARKS.md), and small launches spread over more SMs.
  constexpr int kBlock = 128;
  const LaunchShape one_head = make_launch_shape(p, pairs_per_thread, 1, kBlock);
  // Heads per thread by the amount of work (one-head threads per resident-thread slot, 2048 per
  // SM), from the sweep on an H100 (132 SMs): up to 2 per slot, one head per thread (latency
  // decides: most parallelism, leanest kernel); up to 4, four heads, whose loads overlap the
  // position -> cache-row chain; beyond, eight (two batches of four), paying the index and
  // cos/sin work once for eight heads. Narrow rotary parts (fewer than 4 chunks a head, e.g. 24
  // of 96) did best with two: their small accesses need many threads in flight.
  const uint64_t slots = uint64_t(multiprocessor_count) * 2048;
  int heads = 1;
  if (one_head.total_threads > 2 * slots) heads = one_head.chunks_per_head < 4 ? 2 : 4;
  if (one_head.total_threads > 4 * slots && one_head.chunks_per_head >= 4) heads = 8;
  LaunchShape shape = make_launch_shape(p, pairs_per_thread, heads, kBlock);
  // The kernel indexes threads in 32 bits: give each thread more heads if that is exceeded.
  // (run_cuda rejects what still exceeds it: more than ~2^26 tokens in one call.)
  while (shape.total_threads > UINT32_MAX && shape.head_groups > 1)
    shape = make_launch_shape(p, pairs_per_thread, shape.heads_per_thread * 2, kBlock);
  return shape;
}

RotaryParams make_params(const detail::Problem& p) {
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
  r.seq = p.seq;
  r.num_tokens = p.num_tokens();
  r.positions = p.positions;
  r.positions_batch_stride = p.positions_batch_stride;
  r.positions_seq_stride = p.positions_seq_stride;
  r.positions_int64 = p.positions_dtype == DType::int64;
  r.mrope = p.mrope;
  r.mrope_interleaved = p.mrope_interleaved;
  for (int i = 0; i < 3; ++i) r.mrope_section[i] = p.mrope_section[i];
  r.positions_stream_stride = p.positions_stream_stride;
  r.cache = p.cache;
  r.cache_row_stride = p.cache_row_stride;
  r.max_position = p.max_position;
  r.inverse = p.inverse;
  r.copy_tail = !p.in_place && p.rotary_dim < p.head_size;
  return r;
}

}  // namespace ropekit::cuda
