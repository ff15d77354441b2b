// Multimodal RoPE on the CUDA backend: the host MRoPE problems (mrope_harness.hpp) copied to the
// device, rotated there, copied back and checked against the float64 oracle; out-of-range
// positions in any stream give NaN (the GPU cannot reject them without a host sync). Host side
// (runs in CI): the pairs per thread and the launch the policy picks for each section form. Every
// multimodal kernel configuration is checked against the oracle in test_cuda_launch_shapes.cpp.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/problem.hpp"
#include "cuda/configs.hpp"
#include "cuda/kernels.hpp"
#include "cuda/launch.hpp"
#include "cuda/policy.hpp"
#include "cuda_test_support.hpp"
#include "mrope_harness.hpp"

namespace ropekit::testing {
namespace {

using cuda::Streams;

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

// The launch the policy picks for `c` on an H200-like device (host buffers placed at
// device-like addresses).
cuda::LaunchShape chosen_launch(const MropeCase& c, std::mt19937_64& rng, detail::Problem* out = nullptr) {
  MropeRun r = make_run(c, rng);
  detail::Problem p = detail::make_problem(args_of(c, r, Backend::cpu));
  place_at_aligned_addresses(p);
  if (out) *out = p;
  return cuda::choose_launch(p, h200_like());
}

const char* streams_name(Streams s) {
  switch (s) {
    case Streams::one: return "one";
    case Streams::contiguous_sections: return "contiguous";
    case Streams::interleaved_columns: return "columns";
    case Streams::interleaved_shuffle: return "shuffle";
  }
  return "?";
}

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
    c.tokens = cuda::policy_for(90).streaming_min_tokens;
    c.head_size = 2 * std::accumulate(e.section.begin(), e.section.end(), int64_t(0));
    c.rotary_dim = c.head_size;
    c.section = e.section;
    c.interleaved = e.interleaved;
    c.x_dtype = DType::bfloat16;
    detail::Problem p;
    const cuda::LaunchShape s = chosen_launch(c, rng, &p);
    const std::string label = std::to_string(e.section[0]) + "/" + std::to_string(e.section[1]) +
                              "/" + std::to_string(e.section[2]) +
                              (e.interleaved ? " interleaved" : " contiguous");
    const int pairs = cuda::widest_pairs(p);
    EXPECT_EQ(pairs, e.pairs) << label;
    EXPECT_EQ(cuda::launch_shape_error(p, s), "") << label;
    if (e.interleaved) continue;
    for (int64_t first = 0; first < c.rotary_dim / 2; first += pairs) {
      const int stream = oracle_stream(first, c.section, false);
      for (int64_t i = first; i < first + pairs; ++i)
        ASSERT_EQ(oracle_stream(i, c.section, false), stream) << "frequency " << i;
    }
  }
}

// Contiguous sections (policy.hpp, ContiguousPolicy), by waves of one-head threads with 4 pairs
// (132 SMs x 2048): narrow heads (fewer than 4 chunks of 4 pairs) two heads per thread past 2
// waves; 4 pairs, one head per thread below 0.75; past that 8 pairs and one head per thread where
// the sections allow 8, a head has at least 4 chunks of 8 and the call reads at most 4 MiB of
// cache rows (tokens x row bytes); otherwise 4 pairs and two heads per thread below 1.5 waves,
// four below 3, then eight.
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
    const cuda::LaunchShape s = chosen_launch(c, rng);
    const std::string label = std::to_string(e.tokens) + " tokens, sections " +
                              std::to_string(e.section[0]) + "/" + std::to_string(e.section[1]) +
                              "/" + std::to_string(e.section[2]) + ", " +
                              to_string(e.cache_dtype) + " cache";
    EXPECT_EQ(s.kernel().streams, Streams::contiguous_sections) << label;
    EXPECT_EQ(int(s.kernel().pairs), e.pairs) << label;
    EXPECT_EQ(s.heads_per_thread, e.heads) << label;
  }
}

// Interleaved sections (Qwen3-VL-8B: 32 + 8 heads, 16 chunks of 4 pairs, 132 SMs), by waves of
// one-head threads with 4 pairs (policy.hpp, InterleavedPolicy): where the shuffle fits
// (rotary_dim 128, whole heads per warp) the 4-pair shuffle in blocks of 64 below 0.3 waves, one-head
// columns below 1, the 8-pair shuffle in blocks of 128 below 4 and 256 below 28 (evict-first q/k
// from the policy's shuffle token count), then columns with 8 heads per thread; otherwise columns, one
// head per thread below 1 wave, then 8 heads per thread (eight in flight below 7 waves, else four).
TEST(CudaMrope, InterleavedLaunchFollowsSize) {
  const struct {
    int64_t tokens, kv_heads;
    Streams streams;
    int pairs, heads, in_flight;
    unsigned block_threads;
    bool streaming;
  } expected[] = {{1, 8, Streams::interleaved_shuffle, 4, 1, 1, 128, false},      // 0.002 waves
                  {64, 8, Streams::interleaved_shuffle, 4, 1, 1, 128, false},     // 0.15
                  {256, 8, Streams::interleaved_columns, 4, 1, 1, 224, false},    // 0.61
                  {512, 8, Streams::interleaved_shuffle, 8, 1, 1, 160, false},    // 1.2
                  {1024, 8, Streams::interleaved_shuffle, 8, 1, 1, 160, true},    // 2.4
                  {2048, 8, Streams::interleaved_shuffle, 8, 1, 1, 320, true},    // 4.8
                  {8192, 8, Streams::interleaved_shuffle, 8, 1, 1, 320, true},    // 19.4
                  {16384, 8, Streams::interleaved_columns, 4, 8, 4, 160, false},  // 38.8
                  {1, 4, Streams::interleaved_shuffle, 4, 1, 1, 128, false},      // 36 heads
                  {64, 1, Streams::interleaved_columns, 4, 1, 1, 176, false},     // 33 heads
                  {1536, 1, Streams::interleaved_columns, 4, 8, 8, 160, false},   // 3.0
                  {8192, 1, Streams::interleaved_columns, 4, 8, 4, 160, false}};  // 16
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : expected) {
    MropeCase c;
    c.tokens = e.tokens;
    c.num_heads = 32;
    c.num_kv_heads = e.kv_heads;
    c.section = {24, 20, 20};
    c.interleaved = true;
    c.x_dtype = DType::bfloat16;
    detail::Problem p;
    const cuda::LaunchShape s = chosen_launch(c, rng, &p);
    const std::string label = std::to_string(e.tokens) + " tokens, " +
                              std::to_string(32 + e.kv_heads) + " heads";
    EXPECT_EQ(std::string(streams_name(s.kernel().streams)), streams_name(e.streams)) << label;
    EXPECT_EQ(int(s.kernel().pairs), e.pairs) << label;
    EXPECT_EQ(s.heads_per_thread, e.heads) << label;
    EXPECT_EQ(int(s.kernel().heads_in_flight), e.in_flight) << label;
    EXPECT_EQ(s.block_threads(), e.block_threads) << label;
    EXPECT_EQ(s.kernel().streaming, e.streaming) << label;
    EXPECT_EQ(cuda::launch_shape_error(p, s), "") << label;
  }
}

// The shuffle's form (configs.hpp): rotary_dim 128 and whole heads per warp (4 with 8 pairs, 2
// with 4), never wider than the alignment allows. make_shape gives its warps whole heads of one
// token in the 3-D grid; launch_shape_error rejects it on other problems and with a block changed
// by hand.
TEST(CudaMrope, ShuffleOnlyInItsForm) {
  const struct {
    const char* what;
    DType x_dtype;
    int64_t heads, kv_heads, rotary_dim;
    std::array<int64_t, 3> section;
    bool fits4, fits8;
  } cases[] = {{"Qwen3-VL-8B", DType::bfloat16, 32, 8, 128, {24, 20, 20}, true, true},
               {"fp16, no key", DType::float16, 4, 0, 128, {24, 20, 20}, true, true},
               {"34 heads", DType::bfloat16, 32, 2, 128, {24, 20, 20}, true, false},
               {"fp32 q/k: at most 4 pairs", DType::float32, 32, 8, 128, {24, 20, 20}, true, false},
               {"rotary_dim 64", DType::bfloat16, 32, 8, 64, {12, 10, 10}, false, false},
               {"33 heads", DType::bfloat16, 32, 1, 128, {24, 20, 20}, false, false}};
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& e : cases)
    for (int pairs : {4, 8}) {
      MropeCase c;
      c.tokens = 100;
      c.x_dtype = e.x_dtype;
      c.num_heads = e.heads;
      c.num_kv_heads = e.kv_heads;
      c.head_size = c.rotary_dim = e.rotary_dim;
      c.section = e.section;
      c.interleaved = true;
      detail::Problem p;
      const cuda::LaunchShape chosen = chosen_launch(c, rng, &p);  // 4-pair waves below 0.3
      if (pairs == 4) {
        EXPECT_EQ(chosen.kernel().streams == Streams::interleaved_shuffle, e.fits4) << e.what;
      }
      const bool fits = pairs == 4 ? e.fits4 : e.fits8;
      const int shuffle =
          cuda::find_config(cuda::config_for(p, Streams::interleaved_shuffle, pairs, 1, false));
      for (int block : {32, 64, 128, 256, 512}) {
        const std::string label = std::string(e.what) + ", " + std::to_string(pairs) +
                                  " pairs, block " + std::to_string(block);
        const cuda::LaunchShape s = cuda::make_shape(p, shuffle, 4, block, true);
        if (!fits) {
          EXPECT_NE(cuda::launch_shape_error(p, s), "") << label;
          continue;
        }
        EXPECT_EQ(cuda::launch_shape_error(p, s), "") << label;
        EXPECT_FALSE(s.token_major()) << label;
        EXPECT_EQ(s.heads_per_thread, 1) << label;
        EXPECT_EQ(s.block[0], unsigned(64 / pairs)) << label;
        EXPECT_EQ(s.block[1] % unsigned(cuda::shuffle_heads_per_warp(pairs)), 0u) << label;
        cuda::LaunchShape odd_rows = s;
        odd_rows.block[1] = 3;
        EXPECT_NE(cuda::launch_shape_error(p, odd_rows).find("shuffle"), std::string::npos)
            << label;
      }
    }
}

// A rotary part wider than a block's chunks (blocks of 32 threads): with 48 chunks the head's
// second block has 16 chunks past the end, with 64 it is full; a token's heads are split over
// several blocks too. Both grid orders (the token-major one decodes the chunk block from a 1-D
// index), for contiguous sections and interleaved columns (4 pairs: twice the chunks).
TEST(CudaMrope, WideRotaryPartsSplitOverBlocksGiveTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const std::array<int64_t, 3> sections[] = {{128, 128, 128}, {256, 128, 128}};  // 48, 64 chunks
  for (Streams streams : {Streams::contiguous_sections, Streams::interleaved_columns})
    for (const auto& section : sections)
      for (bool token_major : {false, true}) {
        MropeCase c;
        c.section = section;
        c.head_size = c.rotary_dim = 2 * (section[0] + section[1] + section[2]);
        c.interleaved = streams == Streams::interleaved_columns;
        c.tokens = 5;
        c.num_heads = 3;
        c.num_kv_heads = 1;
        c.x_dtype = DType::bfloat16;
        MropeRun r = make_run(c, rng);
        DeviceCopies device(tensors_of(r), /*misalign=*/false);
        const detail::Problem p =
            detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
        const int pairs = c.interleaved ? 4 : 8;
        const int config = cuda::find_config(cuda::config_for(p, streams, pairs, 1, false));
        const cuda::LaunchShape s = cuda::make_shape(p, config, 1, 32, token_major);
        SCOPED_TRACE("seed " + std::to_string(seed) + " " + streams_name(streams) + " rotary " +
                     std::to_string(c.rotary_dim) + (token_major ? " token-major" : " 3-D grid"));
        ASSERT_EQ(cuda::launch_shape_error(p, s), "");
        ASSERT_GT(s.grid[2] * s.chunk_blocks, 1u);  // the head's chunks span several blocks
        ASSERT_EQ(s.token_major(), token_major);
        ASSERT_EQ(cuda::launch_kernel(cuda::make_params(p, s), s, nullptr), cudaSuccess);
        check_cuda(cudaDeviceSynchronize(), "kernel");
        device.download();
        check_run(c, r);
      }
}

// Contiguous sections through the library; interleaved columns and the shuffle with 4 and 8
// pairs (bf16 q and no key: its form) launched directly.
TEST(CudaMrope, OutOfRangePositionInAnyStreamGivesNaN) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const struct { Streams streams; int pairs; } forms[] = {{Streams::contiguous_sections, 8},
                                                          {Streams::interleaved_columns, 4},
                                                          {Streams::interleaved_shuffle, 4},
                                                          {Streams::interleaved_shuffle, 8}};
  for (const auto [streams, pairs] : forms)
    for (int stream = 0; stream < 3; ++stream) {
      SCOPED_TRACE(std::string(streams_name(streams)) + " " + std::to_string(pairs) + " pairs");
      MropeCase c;
      c.interleaved = streams != Streams::contiguous_sections;
      if (c.interleaved) c.section = {24, 20, 20};
      if (streams == Streams::interleaved_shuffle) {
        c.x_dtype = DType::bfloat16;
        c.num_kv_heads = 0;
      }
      std::mt19937_64 rng(std::random_device{}());
      MropeRun r = make_run(c, rng);
      r.positions.set(stream * c.tokens + 3, double(c.max_position));  // token 3
      DeviceCopies device(tensors_of(r), /*misalign=*/false);
      const RotaryArgs args = device.on_device(args_of(c, r, Backend::cuda));
      if (!c.interleaved) {
        ASSERT_NO_THROW(rotary_embedding(args));
      } else {
        const detail::Problem p = detail::make_problem(args);
        const int config = cuda::find_config(cuda::config_for(p, streams, pairs, 1, false));
        const cuda::LaunchShape s = cuda::make_shape(p, config, 1, 64, false);
        ASSERT_EQ(cuda::launch_shape_error(p, s), "");
        ASSERT_EQ(cuda::launch_kernel(cuda::make_params(p, s), s, nullptr), cudaSuccess);
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
