// Multimodal RoPE on the CUDA backend: the host MRoPE problems (mrope_harness.hpp) copied to the
// device, rotated there (with the heuristic's launch shape and with every other one), copied back
// and checked against the float64 oracle; out-of-range positions in any stream give NaN (the GPU
// cannot reject them without a host sync). Host side (runs in CI): the pairs per thread chosen for
// contiguous sections never let a chunk straddle a section boundary.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <iterator>
#include <numeric>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/problem.hpp"
#include "cuda/launch_config.hpp"
#include "cuda/launch_rotary.hpp"
#include "cuda_test_support.hpp"
#include "mrope_harness.hpp"

namespace ropekit::testing {
namespace {

std::vector<HostTensor*> tensors_of(MropeRun& r) {
  return {&r.positions, &r.cache, &r.query, &r.key, &r.query_out, &r.key_out};
}

void run_on_gpu_and_check(const MropeCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MropeRun r = make_run(c, rng);
  DeviceCopies device(tensors_of(r), /*misalign=*/false);
  ASSERT_NO_THROW(rotary_embedding(device.on_device(args_of(c, r, Backend::cuda))));
  check_cuda(cudaDeviceSynchronize(), "kernel");
  device.download();
  check_run(c, r);
}

// Launches the library's kernels with shape `s` on the run's device copies, then checks every
// output element against the oracle.
void launch_and_check(const detail::Problem& p, const cuda::LaunchShape& s, DeviceCopies& device,
                      const MropeCase& c, const MropeRun& r) {
  ASSERT_EQ(cuda::launch_rotary(cuda::make_params(p, s), s, p.x_dtype, p.cache_dtype, p.is_neox,
                                nullptr),
            cudaSuccess);
  check_cuda(cudaDeviceSynchronize(), "kernel");
  device.download();
  check_run(c, r);
}

// One launch of interleaved sections with a given cos/sin source, heads per thread and heads in
// flight (0: as make_launch_shape derives them), checked against the oracle.
void run_interleaved_source_and_check(const MropeCase& c, uint64_t seed,
                                      cuda::InterleavedSource source, int heads,
                                      int heads_in_flight) {
  std::mt19937_64 rng(seed);
  MropeRun r = make_run(c, rng);
  DeviceCopies device(tensors_of(r), /*misalign=*/false);
  const detail::Problem p = detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
  cuda::LaunchShape s =
      cuda::make_launch_shape(p, cuda::choose_pairs_per_thread(p), heads, 64, true, source);
  if (heads_in_flight > 0) s.heads_in_flight = heads_in_flight;
  launch_and_check(p, s, device, c, r);
}

const char* source_name(cuda::InterleavedSource source) {
  switch (source) {
    case cuda::InterleavedSource::gather: return "gather";
    case cuda::InterleavedSource::rows: return "rows";
    case cuda::InterleavedSource::columns: return "columns";
    case cuda::InterleavedSource::shuffle: return "shuffle";
  }
  return "?";
}

// Both section forms, and for interleaved sections every cos/sin source (the source is ignored
// for contiguous sections).
constexpr std::pair<bool, cuda::InterleavedSource> kFormsAndSources[] = {
    {false, cuda::InterleavedSource::gather},
    {true, cuda::InterleavedSource::gather},
    {true, cuda::InterleavedSource::rows},
    {true, cuda::InterleavedSource::columns}};

TEST(CudaMrope, SectionsDtypesAndForms) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::random_device entropy;
  // Real sections (Qwen2-VL, Qwen3-VL, a partial-rotary interleaved one) and lopsided ones whose
  // boundaries cut through a thread's chunk of pairs.
  const struct { int64_t head, rotary; std::array<int64_t, 3> section; } models[] = {
      {128, 128, {16, 24, 24}}, {128, 128, {24, 20, 20}}, {256, 64, {11, 11, 10}},
      {64, 64, {2, 28, 2}},     {64, 64, {0, 0, 32}},     {80, 80, {5, 30, 5}}};
  for (const auto& m : models)
    for (bool interleaved : {false, true})
      for (DType x : {DType::float32, DType::float16, DType::bfloat16}) {
        MropeCase c;
        c.tokens = 37;
        c.head_size = m.head;
        c.rotary_dim = m.rotary;
        c.section = m.section;
        c.interleaved = interleaved;
        c.x_dtype = x;
        c.cache_dtype = x == DType::float16 ? DType::bfloat16 : DType::float32;
        c.inverse = x == DType::bfloat16;
        c.out_of_place = x != DType::float32;
        c.positions_dtype = interleaved ? DType::int32 : DType::int64;
        c.num_kv_heads = x == DType::float16 ? 0 : 2;
        SCOPED_TRACE(std::to_string(m.section[0]) + "/" + std::to_string(m.section[1]) + "/" +
                     std::to_string(m.section[2]) + (interleaved ? " interleaved " : " contiguous ") +
                     to_string(x));
        run_on_gpu_and_check(c, entropy());
        if (!interleaved) continue;
        // Every cos/sin source, as each is launched (columns with four and eight in flight; the
        // shuffle where it fits: 2-byte q/k, rotary_dim 128, heads in fours, else the gather).
        const struct { cuda::InterleavedSource source; int heads, in_flight; } launches[] = {
            {cuda::InterleavedSource::gather, 1, 0},
            {cuda::InterleavedSource::rows, 1, 0},
            {cuda::InterleavedSource::columns, 1, 0},
            {cuda::InterleavedSource::columns, 8, 4},
            {cuda::InterleavedSource::columns, 8, 8},
            {cuda::InterleavedSource::shuffle, 1, 0}};
        for (const auto& l : launches) {
          SCOPED_TRACE(std::string(source_name(l.source)) + " " + std::to_string(l.heads) +
                       " heads per thread, " + std::to_string(l.in_flight) + " in flight");
          run_interleaved_source_and_check(c, entropy(), l.source, l.heads, l.in_flight);
        }
      }
}

// The kernel reads one cache row per chunk with contiguous sections: each chunk of pairs must lie in
// one section. Interleaved sections read each frequency's own row: any chunk.
TEST(CudaMrope, ContiguousSectionChunksLieInOneSection) {
  const struct { std::array<int64_t, 3> section; bool interleaved; int pairs; } expected[] = {
      {{16, 24, 24}, false, 8}, {{24, 20, 20}, false, 4}, {{11, 11, 10}, false, 1},
      {{2, 28, 2}, false, 2},   {{0, 0, 32}, false, 8},   {{24, 20, 20}, true, 8},
      {{11, 11, 10}, true, 8}};
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : expected) {
    MropeCase c;
    c.tokens = cuda::kStreamingMinTokens;
    c.head_size = 2 * std::accumulate(e.section.begin(), e.section.end(), int64_t(0));
    c.rotary_dim = c.head_size;
    c.section = e.section;
    c.interleaved = e.interleaved;
    c.x_dtype = DType::bfloat16;
    MropeRun r = make_run(c, rng);
    detail::Problem p = detail::make_problem(args_of(c, r, Backend::cpu));
    place_at_aligned_addresses(p);  // as cudaMalloc would (host buffers: 16 bytes)
    const int pairs = cuda::choose_pairs_per_thread(p);
    EXPECT_EQ(pairs, e.pairs) << e.section[0] << "/" << e.section[1] << "/" << e.section[2]
                              << (e.interleaved ? " interleaved" : " contiguous");
    // Evict-first q/k accesses: never for interleaved sections (slower there), else where whole
    // sectors allow (bf16 halves of 2 * sum(section) bytes).
    const bool whole_sectors = (c.rotary_dim / 2 * 2) % 32 == 0;
    const bool prefill = c.tokens >= cuda::kStreamingMinTokens;
    EXPECT_EQ(cuda::streaming_accesses(p, pairs),
              prefill && !e.interleaved && pairs >= 2 && whole_sectors)
        << e.section[0] << "/" << e.section[1] << "/" << e.section[2];
    // Token-major grid order (several blocks per token here: 64 heads): never for the
    // interleaved gather, whose kernel reads the 3-D block index as it is; for the other sources
    // (and contiguous sections, where the source is ignored) yes.
    c.num_heads = 64;
    MropeRun wide = make_run(c, rng);
    const detail::Problem many_heads = detail::make_problem(args_of(c, wide, Backend::cpu));
    EXPECT_EQ(cuda::make_launch_shape(many_heads, 1, 1, 128, true).token_major(), !e.interleaved)
        << e.section[0] << "/" << e.section[1] << "/" << e.section[2];
    for (auto source : {cuda::InterleavedSource::rows, cuda::InterleavedSource::columns})
      EXPECT_TRUE(cuda::make_launch_shape(many_heads, 1, 1, 128, true, source).token_major())
          << source_name(source);
    if (e.interleaved) continue;
    for (int64_t first = 0; first < c.rotary_dim / 2; first += pairs) {
      const int stream = oracle_stream(first, c.section, false);
      for (int64_t i = first; i < first + pairs; ++i)
        ASSERT_EQ(oracle_stream(i, c.section, false), stream) << "frequency " << i;
    }
  }
}

// Contiguous sections (launch_config.cpp, choose_contiguous_shape), by waves of one-head threads
// with 4 pairs (132 SMs x 2048): narrow heads (fewer than 4 chunks of 4 pairs) two heads per
// thread past 2 waves; 4 pairs, one head per thread below 0.75; past that 8 pairs and one head
// per thread where the sections allow 8, a head has at least 4 chunks of 8 and the call reads at
// most 4 MiB of cache rows (tokens x row bytes); otherwise 4 pairs and two heads per thread below
// 1.5 waves, four up to 3, then eight.
TEST(CudaMrope, ContiguousLaunchShapeFollowsSizeAndRowBytes) {
  const struct {
    int64_t tokens;
    std::array<int64_t, 3> section;
    DType cache_dtype;
    int pairs, heads;
  } expected[] = {
      {16, {16, 24, 24}, DType::float32, 4, 1},
      {512, {16, 24, 24}, DType::float32, 4, 1},     // 0.48 waves
      {1024, {16, 24, 24}, DType::float32, 8, 1},    // 0.97 waves, 0.5 MiB of rows
      {8192, {16, 24, 24}, DType::float32, 8, 1},    // 7.8 waves, 4 MiB
      {8192, {16, 24, 24}, DType::bfloat16, 8, 1},   // 2 MiB
      {1024, {24, 20, 20}, DType::float32, 4, 2},    // 8 pairs would straddle 24 + 20
      {2048, {24, 20, 20}, DType::float32, 4, 4},    // 1.9 waves
      {4096, {24, 20, 20}, DType::float32, 4, 8},    // 3.9 waves
      {8192, {32, 48, 48}, DType::float32, 4, 8},    // head_size 256: 8 MiB of rows
      {8192, {8, 8, 8}, DType::float32, 4, 2},       // 3 chunks of 8 pairs; 1.45 waves of 4
      {24576, {4, 4, 4}, DType::float32, 4, 2}};     // 3 chunks of 4 pairs, 2.2 waves: narrow
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : expected) {
    MropeCase c;
    c.tokens = e.tokens;
    c.section = e.section;
    c.head_size = c.rotary_dim = 2 * (e.section[0] + e.section[1] + e.section[2]);
    // 16 heads of 16 chunks of 4 pairs at head_size 128, 8 heads of 32 at 256: 256 threads per
    // token; 8 heads for the narrow ones too.
    c.num_heads = c.head_size == 128 ? 12 : 6;
    c.num_kv_heads = c.head_size == 128 ? 4 : 2;
    c.x_dtype = DType::bfloat16;
    c.cache_dtype = e.cache_dtype;
    MropeRun r = make_run(c, rng);
    detail::Problem p = detail::make_problem(args_of(c, r, Backend::cpu));
    place_at_aligned_addresses(p);
    const cuda::LaunchShape s = cuda::choose_launch_shape(p, cuda::choose_pairs_per_thread(p), 132);
    const std::string label = std::to_string(e.tokens) + " tokens, sections " +
                              std::to_string(e.section[0]) + "/" + std::to_string(e.section[1]) +
                              "/" + std::to_string(e.section[2]) + ", " +
                              to_string(e.cache_dtype) + " cache";
    EXPECT_EQ(s.pairs_per_thread, e.pairs) << label;
    EXPECT_EQ(s.heads_per_thread, e.heads) << label;
  }
}

// Interleaved sections (Qwen3-VL-8B: 32 + 8 heads, 16 chunks of 4 pairs, 132 SMs), the source by
// waves of one-head threads (launch_config.cpp): rows below 0.3, the gather with 4 pairs below 1
// and with the widest pairs in blocks of 256 below 2; then where the shuffle fits (heads in fours)
// the shuffle below 28 waves, in blocks of 128 below 4 and 256 past that; else the gather with
// the widest pairs from 4 to 7 waves and columns with 8 heads per thread (eight in flight below
// 7 waves). Evict-first q/k with the shuffle only.
TEST(CudaMrope, InterleavedSourceFollowsLaunchSize) {
  using cuda::InterleavedSource;
  const struct {
    int64_t tokens, kv_heads;
    InterleavedSource source;
    int pairs, heads, in_flight;
    unsigned block_threads;
  } expected[] = {{1, 8, InterleavedSource::rows, 4, 1, 1, 128},         // 0.002 waves
                  {64, 8, InterleavedSource::rows, 4, 1, 1, 128},        // 0.15
                  {256, 8, InterleavedSource::gather, 4, 1, 1, 224},     // 0.61
                  {512, 8, InterleavedSource::gather, 8, 1, 1, 320},     // 1.2
                  {1024, 8, InterleavedSource::shuffle, 8, 1, 1, 160},   // 2.4
                  {2048, 8, InterleavedSource::shuffle, 8, 1, 1, 320},   // 4.8
                  {8192, 8, InterleavedSource::shuffle, 8, 1, 1, 320},   // 19.4
                  {16384, 8, InterleavedSource::columns, 4, 8, 4, 160},  // 38.8
                  {1536, 1, InterleavedSource::columns, 4, 8, 8, 160},   // 33 heads: no shuffle, 3.0
                  {3072, 1, InterleavedSource::gather, 8, 1, 1, 136}};   // 6.0
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : expected) {
    MropeCase c;
    c.tokens = e.tokens;
    c.num_heads = 32;
    c.num_kv_heads = e.kv_heads;
    c.section = {24, 20, 20};
    c.interleaved = true;
    c.x_dtype = DType::bfloat16;
    MropeRun r = make_run(c, rng);
    detail::Problem p = detail::make_problem(args_of(c, r, Backend::cpu));
    place_at_aligned_addresses(p);
    const cuda::LaunchShape s = cuda::choose_launch_shape(p, cuda::choose_pairs_per_thread(p), 132);
    const std::string label = std::to_string(e.tokens) + " tokens, " +
                              std::to_string(32 + e.kv_heads) + " heads";
    EXPECT_EQ(source_name(s.interleaved), std::string(source_name(e.source))) << label;
    EXPECT_EQ(s.pairs_per_thread, e.pairs) << label;
    EXPECT_EQ(s.heads_per_thread, e.heads) << label;
    EXPECT_EQ(s.heads_in_flight, e.in_flight) << label;
    EXPECT_EQ(s.block_threads(), e.block_threads) << label;
    EXPECT_EQ(s.streaming, e.source == InterleavedSource::shuffle) << label;
    EXPECT_EQ(cuda::launch_shape_error(p, s), "") << label;
  }
}

// The shuffle source has one form (rotary_params.hpp): make_launch_shape gives the gather instead
// wherever it does not fit, and launch_shape_error rejects a shuffle shape changed by hand.
TEST(CudaMrope, ShuffleSourceOnlyInItsOneForm) {
  using cuda::InterleavedSource;
  const struct {
    const char* what;
    DType x_dtype;
    int64_t heads, kv_heads, rotary_dim;
    std::array<int64_t, 3> section;
    bool fits;
  } cases[] = {{"Qwen3-VL-8B", DType::bfloat16, 32, 8, 128, {24, 20, 20}, true},
               {"fp16, no key", DType::float16, 4, 0, 128, {24, 20, 20}, true},
               {"36 heads", DType::bfloat16, 32, 4, 128, {24, 20, 20}, true},
               {"fp32 q/k: 4 pairs", DType::float32, 32, 8, 128, {24, 20, 20}, false},
               {"rotary_dim 64", DType::bfloat16, 32, 8, 64, {12, 10, 10}, false},
               {"33 heads", DType::bfloat16, 32, 1, 128, {24, 20, 20}, false}};
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : cases) {
    MropeCase c;
    c.tokens = 100;
    c.x_dtype = e.x_dtype;
    c.num_heads = e.heads;
    c.num_kv_heads = e.kv_heads;
    c.head_size = c.rotary_dim = e.rotary_dim;
    c.section = e.section;
    c.interleaved = true;
    MropeRun r = make_run(c, rng);
    detail::Problem p = detail::make_problem(args_of(c, r, Backend::cpu));
    place_at_aligned_addresses(p);
    const int pairs = cuda::choose_pairs_per_thread(p);
    EXPECT_EQ(cuda::shuffle_fits(p, pairs), e.fits) << e.what;
    for (int block : {32, 64, 128, 256, 512}) {
      const cuda::LaunchShape s =
          cuda::make_launch_shape(p, pairs, 4, block, true, InterleavedSource::shuffle);
      const std::string label = std::string(e.what) + ", block " + std::to_string(block);
      EXPECT_EQ(source_name(s.interleaved),
                std::string(e.fits ? "shuffle" : "gather")) << label;
      EXPECT_EQ(cuda::launch_shape_error(p, s), "") << label;
      EXPECT_FALSE(s.token_major()) << label;
      if (!e.fits) continue;
      EXPECT_EQ(s.heads_per_thread, 1) << label;
      EXPECT_EQ(s.block[0], 8u) << label;
      EXPECT_EQ(s.block[1] % cuda::kShuffleHeadsPerWarp, 0u) << label;
      cuda::LaunchShape two_in_flight = s;
      two_in_flight.heads_in_flight = 2;
      EXPECT_NE(cuda::launch_shape_error(p, two_in_flight).find("shuffle"), std::string::npos)
          << label;
      cuda::LaunchShape odd_rows = s;
      odd_rows.block[1] = 3;
      EXPECT_NE(cuda::launch_shape_error(p, odd_rows).find("shuffle"), std::string::npos)
          << label;
    }
  }
}

// The shuffle source against the oracle: Qwen3-VL head layouts, including ones whose last block
// has whole warps past the last head (36 and 68 heads) and blocks of several tokens (4 heads),
// every block size, evict-first q/k on and off, random dtypes, inverse, in and out of place, with
// and without a pass-through part.
TEST(CudaMrope, ShuffleSourceGivesTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const struct { int64_t heads, kv_heads; } layouts[] = {{32, 8}, {16, 8}, {32, 4},
                                                         {64, 4}, {4, 0},  {2, 2}};
  const DType caches[] = {DType::float32, DType::bfloat16, DType::float16};
  for (const auto& l : layouts)
    for (int block : {32, 64, 128, 256, 512}) {
      MropeCase c;
      c.tokens = int64_t(rng() % 40) + 1;
      c.num_heads = l.heads;
      c.num_kv_heads = l.kv_heads;
      c.head_size = rng() % 3 == 0 ? 256 : 128;  // rotary_dim 128: a pass-through half or none
      c.section = {24, 20, 20};
      c.interleaved = true;
      c.x_dtype = rng() % 2 ? DType::bfloat16 : DType::float16;
      c.cache_dtype = caches[rng() % 3];
      c.positions_dtype = rng() % 2 ? DType::int32 : DType::int64;
      c.inverse = rng() % 2 == 0;
      c.out_of_place = rng() % 2 == 0;
      MropeRun r = make_run(c, rng);
      DeviceCopies device(tensors_of(r), /*misalign=*/false);
      const detail::Problem p =
          detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
      cuda::LaunchShape s = cuda::make_launch_shape(p, cuda::choose_pairs_per_thread(p), 1, block,
                                                    false, cuda::InterleavedSource::shuffle);
      ASSERT_EQ(s.interleaved, cuda::InterleavedSource::shuffle);
      s.streaming = rng() % 2 == 0;  // whole, aligned sectors here: both instantiations legal
      s.programmatic = rng() % 2 == 0;
      ASSERT_EQ(cuda::launch_shape_error(p, s), "");
      SCOPED_TRACE("seed " + std::to_string(seed) + ", " + std::to_string(l.heads) + " + " +
                   std::to_string(l.kv_heads) + " heads of " + std::to_string(c.head_size) +
                   ", block " + std::to_string(block) + ", " +
                   std::to_string(c.tokens) + " tokens, " + to_string(c.x_dtype) + " x, " +
                   to_string(c.cache_dtype) + " cache" + (s.streaming ? ", evict-first" : ""));
      launch_and_check(p, s, device, c, r);
    }
}

// Every kernel variant (one head per thread; two, four and for interleaved columns eight heads in
// flight, with partial batches), block size and interleaved cos/sin source, for both section
// forms, against the oracle.
TEST(CudaMrope, EveryLaunchShapeGivesTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const std::array<int64_t, 3> sections[] = {{16, 24, 24}, {24, 20, 20}, {2, 28, 2}, {11, 11, 10}};
  for (int i = 0; i < 48; ++i) {
    MropeCase c;
    c.section = sections[rng() % 4];
    c.head_size = c.rotary_dim = 2 * (c.section[0] + c.section[1] + c.section[2]);
    c.interleaved = rng() % 2 == 0;
    c.tokens = int64_t(rng() % 40) + 1;
    c.num_heads = int64_t(rng() % 6) + 1;
    c.num_kv_heads = rng() % 3 == 0 ? 0 : 1;
    c.x_dtype = rng() % 2 ? DType::bfloat16 : DType::float32;
    c.inverse = rng() % 2 == 0;
    MropeRun r = make_run(c, rng);
    DeviceCopies device(tensors_of(r), /*misalign=*/false);
    const detail::Problem p = detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
    const int pairs = cuda::choose_pairs_per_thread(p);
    const int heads = int(rng() % 9) + 1, block = int(32 << (rng() % 5));
    const auto source = cuda::InterleavedSource(rng() % 4);  // a shuffle that does not fit: gather
    cuda::LaunchShape s = cuda::make_launch_shape(p, pairs, heads, block, rng() % 2 == 0, source);
    if (c.interleaved && source == cuda::InterleavedSource::columns && rng() % 2 == 0)
      s.heads_in_flight = 8;
    s.programmatic = rng() % 2 == 0;
    SCOPED_TRACE("seed " + std::to_string(seed) + " case " + std::to_string(i) + " sections " +
                 std::to_string(c.section[0]) + "/" + std::to_string(c.section[1]) + "/" +
                 std::to_string(c.section[2]) +
                 (c.interleaved ? std::string(" interleaved ") + source_name(source)
                                : std::string(" contiguous")) +
                 " heads/thread " + std::to_string(s.heads_per_thread) + " in flight " +
                 std::to_string(s.heads_in_flight) + " block " + std::to_string(block) +
                 (s.token_major() ? " token-major" : ""));
    launch_and_check(p, s, device, c, r);
  }
}

// A rotary part wider than a block's chunks (blocks of 32 threads): each block gathers only its
// own columns (its offset along the head); with 48 chunks the head's second block has 16 chunks
// past the end, with 64 it is full. A token's heads are split over several blocks too, each with
// its own gather. Both grid orders (the token-major one decodes the chunk block from a 1-D index;
// the interleaved gather keeps the 3-D one), and the interleaved rows and columns (4 pairs: twice
// the chunks) as well.
TEST(CudaMrope, WideRotaryPartsSplitOverBlocksGiveTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const std::array<int64_t, 3> sections[] = {{128, 128, 128}, {256, 128, 128}};  // 48, 64 chunks
  for (auto [interleaved, source] : kFormsAndSources)
    for (const auto& section : sections)
    for (bool token_major : {false, true}) {
      const int block = 32;
      MropeCase c;
      c.section = section;
      c.head_size = c.rotary_dim = 2 * (section[0] + section[1] + section[2]);
      c.interleaved = interleaved;
      c.tokens = 5;
      c.num_heads = 3;
      c.num_kv_heads = 1;
      c.x_dtype = DType::bfloat16;
      MropeRun r = make_run(c, rng);
      DeviceCopies device(tensors_of(r), /*misalign=*/false);
      const detail::Problem p =
          detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
      const int pairs = 8;  // legal for both forms: the sections are multiples of 8
      cuda::LaunchShape s = cuda::make_launch_shape(p, pairs, 1, block, false, source);
      ASSERT_GT(s.grid[2], 1u);  // the head's chunks span several blocks
      cuda::order_grid(p, s, token_major);
      ASSERT_EQ(s.token_major(),
                token_major && !(interleaved && source == cuda::InterleavedSource::gather));
      SCOPED_TRACE("seed " + std::to_string(seed) +
                   (interleaved ? std::string(" interleaved ") + source_name(source)
                                : std::string(" contiguous")) +
                   " rotary " + std::to_string(c.rotary_dim) +
                   (token_major ? " token-major" : " 3-D grid"));
      launch_and_check(p, s, device, c, r);
    }
}

// Contiguous sections through the library, and every interleaved cos/sin source (the shuffle
// with bf16 q and no key: its form).
TEST(CudaMrope, OutOfRangePositionInAnyStreamGivesNaN) {
  SKIP_WITHOUT_CUDA_DEVICE();
  std::vector<std::pair<bool, cuda::InterleavedSource>> forms(std::begin(kFormsAndSources),
                                                              std::end(kFormsAndSources));
  forms.push_back({true, cuda::InterleavedSource::shuffle});
  for (auto [interleaved, source] : forms)
  for (int stream = 0; stream < 3; ++stream) {
    SCOPED_TRACE(interleaved ? std::string("interleaved ") + source_name(source) : "contiguous");
    MropeCase c;
    c.interleaved = interleaved;
    if (interleaved) c.section = {24, 20, 20};
    if (source == cuda::InterleavedSource::shuffle) {
      c.x_dtype = DType::bfloat16;
      c.num_kv_heads = 0;
    }
    std::mt19937_64 rng(std::random_device{}());
    MropeRun r = make_run(c, rng);
    r.positions.set(stream * c.tokens + 3, double(c.max_position));  // token 3
    DeviceCopies device(tensors_of(r), /*misalign=*/false);
    const RotaryArgs args = device.on_device(args_of(c, r, Backend::cuda));
    if (!interleaved) {
      ASSERT_NO_THROW(rotary_embedding(args));
    } else {
      const detail::Problem p = detail::make_problem(args);
      const cuda::LaunchShape s =
          cuda::make_launch_shape(p, cuda::choose_pairs_per_thread(p), 2, 64, false, source);
      ASSERT_EQ(s.interleaved, source);
      ASSERT_EQ(cuda::launch_rotary(cuda::make_params(p, s), s, p.x_dtype, p.cache_dtype,
                                    p.is_neox, nullptr),
                cudaSuccess);
    }
    check_cuda(cudaDeviceSynchronize(), "kernel");
    device.download();
    const int64_t row = c.num_heads * c.head_size;
    for (int64_t t = 0; t < c.tokens; ++t)
      for (int64_t e = 0; e < c.rotary_dim; ++e) {
        const double v = r.query.get(t * row + e);  // head 0
        if (t == 3)
          ASSERT_TRUE(std::isnan(v)) << "stream " << stream << " element " << e;
        else
          ASSERT_FALSE(std::isnan(v)) << "stream " << stream << " token " << t;
      }
  }
}

}  // namespace
}  // namespace ropekit::testing
