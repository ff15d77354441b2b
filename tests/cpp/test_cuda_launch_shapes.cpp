// The CUDA launch layer. Host side (no device needed, runs in CI): the one list of kernel
// configurations, the chooser's picks from it by the policy table, and that every shape covers
// each (token, head group, chunk) exactly once within the kernel's limits. Device side: every
// kernel configuration that exists gives the oracle's answer, and back-to-back launches with
// programmatic dependent launch see each other's results.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/problem.hpp"
#include "cuda/configs.hpp"
#include "cuda/kernels.hpp"
#include "cuda/launch.hpp"
#include "cuda/policy.hpp"
#include "cuda_test_support.hpp"
#include "harness.hpp"
#include "mrope_harness.hpp"

namespace ropekit::testing {
namespace {

using cuda::KernelConfig;
using cuda::Streams;

// Walks the grid as the kernel does and checks that the threads that pass its bounds check are
// exactly the work items, each once.
void expect_exact_cover(const detail::Problem& p, const cuda::LaunchShape& s) {
  const int64_t total_heads = p.num_heads + (p.has_key ? p.num_kv_heads : 0);
  ASSERT_EQ(cuda::launch_shape_error(p, s), "");
  ASSERT_GE(s.heads_per_thread, 1);
  ASSERT_EQ(s.head_groups, (total_heads + s.heads_per_thread - 1) / s.heads_per_thread);
  ASSERT_GE(s.chunks_per_head, 1);
  ASSERT_LE(s.block_threads(), uint64_t(cuda::kMaxBlockThreads));
  ASSERT_LE(s.block[2], unsigned(cuda::kMaxTokensPerBlock));
  const cuda::RotaryParams params = cuda::make_params(p, s);
  std::set<std::tuple<int64_t, int, int>> seen;
  for (unsigned bz = 0; bz < s.grid[2]; ++bz)
    for (unsigned by = 0; by < s.grid[1]; ++by)
      for (unsigned bx = 0; bx < s.grid[0]; ++bx)
        for (unsigned tz = 0; tz < s.block[2]; ++tz)
          for (unsigned ty = 0; ty < s.block[1]; ++ty)
            for (unsigned tx = 0; tx < s.block[0]; ++tx) {
              const cuda::BlockIndex block(params, bx, by, bz);
              const int64_t token = int64_t(block.token) * s.block[2] + tz;
              const int group = int(block.group * s.block[1] + ty);
              const int chunk = int(block.chunk * s.block[0] + tx);
              if (token >= p.num_tokens() || group >= s.head_groups || chunk >= s.chunks_per_head)
                continue;
              ASSERT_TRUE(seen.insert({token, group, chunk}).second)
                  << "token " << token << " group " << group << " chunk " << chunk << " twice";
            }
  EXPECT_EQ(int64_t(seen.size()), p.num_tokens() * s.head_groups * s.chunks_per_head);
}

// The configurations that can run `p` with some shape.
std::vector<int> fitting_configs(const detail::Problem& p) {
  std::vector<int> fits;
  for (int i = 0; i < cuda::kKernelConfigCount; ++i)
    if (cuda::launch_shape_error(p, cuda::make_shape(p, i, 2, 128, false)).empty())
      fits.push_back(i);
  return fits;
}

int config_of(const detail::Problem& p, Streams streams, int pairs, int heads_in_flight,
              bool streaming = false) {
  return cuda::find_config(cuda::config_for(p, streams, pairs, heads_in_flight, streaming));
}

detail::Problem host_problem(const Case& c) {
  const Problem problem = make_problem(c, fresh_seed());
  detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  // Host buffers are only 16-byte aligned; the choice reads addresses, never memory, so the
  // tensors are placed at device-like (256-byte aligned) addresses for it.
  place_at_aligned_addresses(p);
  return p;
}

// A problem as the launch choice sees it, without buffers: contiguous bf16 q/k and a float32 cache
// at device-like addresses (large token counts cost nothing here).
detail::Problem shape_only(int64_t heads, int64_t kv_heads, int64_t head_size, int64_t rotary_dim,
                           bool is_neox, int64_t tokens) {
  const auto fake = [](uintptr_t megabytes) { return reinterpret_cast<void*>(megabytes << 20); };
  detail::Problem p;
  p.batch = 1;
  p.seq = tokens;
  p.num_heads = heads;
  p.num_kv_heads = kv_heads;
  p.has_key = kv_heads > 0;
  p.head_size = head_size;
  p.rotary_dim = rotary_dim;
  p.is_neox = is_neox;
  p.x_dtype = DType::bfloat16;
  p.cache_dtype = DType::float32;
  p.device = Device::cuda;
  p.positions = fake(1);
  p.positions_seq_stride = 1;
  p.cache = fake(2);
  p.cache_row_stride = rotary_dim;
  p.max_position = 131072;
  p.query_in = p.query_out = {fake(3), 0, heads * head_size, head_size};
  p.key_in = p.key_out = {fake(4), 0, kv_heads * head_size, head_size};
  return p;
}

// The list is what the issue allows, has no duplicates, and has a narrowest configuration of every
// family, so that any legal problem has a kernel.
TEST(CudaKernelConfigs, AreFewDistinctAndCoverEveryFamily) {
  EXPECT_LE(cuda::kKernelConfigCount, 200);
  for (int i = 0; i < cuda::kKernelConfigCount; ++i) {
    EXPECT_TRUE(cuda::exists(cuda::kKernelConfigs[i]));
    EXPECT_EQ(cuda::find_config(cuda::kKernelConfigs[i]), i);
  }
  for (auto x : {cuda::XType::f32, cuda::XType::f16, cuda::XType::bf16})
    for (auto cache : {cuda::CacheWidth::b32, cuda::CacheWidth::b16})
      for (bool neox : {false, true})
        for (auto streams : {Streams::one, Streams::contiguous_sections,
                             Streams::interleaved_columns}) {
          if (!neox && streams != Streams::one) continue;  // multimodal RoPE is NeoX only
          EXPECT_TRUE(cuda::exists(KernelConfig{x, cache, neox, streams, 1, 1, false}))
              << int(x) << " " << int(cache) << " " << neox << " " << int(streams);
        }
}

TEST(CudaLaunchShape, CoversEveryWorkItemOnce) {
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200; ++i) {
    const Case c = random_case(rng);
    const Problem problem = make_problem(c, rng());
    const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
    SCOPED_TRACE("seed " + std::to_string(seed) + " case " + std::to_string(i) + " " +
                 c.describe());
    expect_exact_cover(p, cuda::choose_launch(p, h200_like()));
    const std::vector<int> fits = fitting_configs(p);
    ASSERT_FALSE(fits.empty());
    const int config = fits[rng() % fits.size()];
    const int heads = int(rng() % 9) + 1, block = int(32 << (rng() % 5));
    for (bool token_major : {false, true}) {
      SCOPED_TRACE("config " + std::to_string(config) + " heads " + std::to_string(heads) +
                   " block " + std::to_string(block) + (token_major ? " token-major" : " 3-D"));
      expect_exact_cover(p, cuda::make_shape(p, config, heads, block, token_major));
    }
  }
}

// The chooser only returns configurations that fit, on any device size and residency.
TEST(CudaLaunchShape, ChoosesOnlyConfigurationsThatFit) {
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 150; ++i) {
    Case c = random_case(rng);
    c.tokens = int64_t(1) << (rng() % 11);
    const detail::Problem p = host_problem(c);
    cuda::DeviceInfo device = h200_like();
    device.arch = rng() % 2 ? 80 : 90;
    device.multiprocessors = int(rng() % 200) + 1;
    device.resident_threads = rng() % 2 ? [](int, int) { return 2048; }
                                        : [](int, int config) { return 128 * (1 + config % 16); };
    const cuda::LaunchShape s = cuda::choose_launch(p, device);
    EXPECT_EQ(cuda::launch_shape_error(p, s), "")
        << "seed " << seed << " case " << i << " " << c.describe();
  }
}

// Token-major order: a token block's blocks (head groups x chunk blocks) numbered consecutively,
// only where a token block has several.
TEST(CudaLaunchShape, TokenMajorGridNumbersATokensBlocksTogether) {
  Case c;
  c.num_heads = 700;
  c.num_kv_heads = 0;
  c.head_size = c.rotary_dim = 64;
  c.tokens = 3;
  const detail::Problem p = host_problem(c);
  const int config = config_of(p, Streams::one, 1, 1);
  const cuda::LaunchShape grid3 = cuda::make_shape(p, config, 1, 128, false);
  ASSERT_GT(grid3.grid[1], 1u);
  const cuda::LaunchShape s = cuda::make_shape(p, config, 1, 128, true);
  ASSERT_TRUE(s.token_major());
  EXPECT_EQ(s.grid[0], grid3.grid[0] * grid3.grid[1] * grid3.grid[2]);
  EXPECT_EQ(s.grid[1] * s.grid[2], 1u);
  const cuda::RotaryParams params = cuda::make_params(p, s);
  for (unsigned x = 0; x < s.grid[0]; ++x)
    EXPECT_EQ(cuda::BlockIndex(params, x, 0, 0).token, x / (grid3.grid[1] * grid3.grid[2]));
  // One block per token block: nothing to order.
  c.num_heads = 2;
  const detail::Problem q = host_problem(c);
  EXPECT_FALSE(cuda::make_shape(q, config_of(q, Streams::one, 1, 1), 1, 128, true).token_major());
}

// Wide rotary parts split a head over several blocks along z; many heads over several along y.
TEST(CudaLaunchShape, SplitsHeadsAndChunksThatExceedABlock) {
  Case c;
  c.num_heads = 700;
  c.num_kv_heads = 0;
  c.head_size = 2048;
  c.rotary_dim = 2048;
  c.tokens = 3;
  const detail::Problem p = host_problem(c);
  const cuda::LaunchShape s = cuda::make_shape(p, config_of(p, Streams::one, 1, 1), 1, 128, false);
  EXPECT_EQ(s.chunks_per_head, 1024);
  EXPECT_GT(s.grid[2], 1u);
  expect_exact_cover(p, s);
}

// Evict-first q/k accesses only for prefill-sized launches where every slice a thread touches is
// whole, aligned 32-byte sectors: full-rotary shapes and glm4-9b, not neox-20b's 24 of 96, not
// misaligned strides, not decode-sized launches.
TEST(CudaLaunchShape, StreamingOnlyForWholeSectors) {
  const int64_t prefill = cuda::policy_for(90).streaming_min_tokens;
  const auto streaming = [](Case c) {
    c.x_dtype = DType::bfloat16;
    c.num_heads = c.num_kv_heads = 1;
    const detail::Problem p = host_problem(c);
    return cuda::choose_launch(p, h200_like()).kernel().streaming;
  };
  Case llama;  // 128 of 128, NeoX: halves of 128 bytes
  llama.tokens = prefill;
  llama.head_size = llama.rotary_dim = 128;
  EXPECT_TRUE(streaming(llama));
  Case glm = llama;  // 64 of 128, GPT-J: 128 bytes
  glm.rotary_dim = 64;
  glm.is_neox = false;
  EXPECT_TRUE(streaming(glm));
  Case neox = llama;  // 24 of 96, NeoX: halves of 24 bytes
  neox.head_size = 96;
  neox.rotary_dim = 24;
  EXPECT_FALSE(streaming(neox));
  Case padded = llama;  // rows 8 bytes past a sector
  padded.token_padding = 4;
  EXPECT_FALSE(streaming(padded));
  Case deepseek = llama;  // 64 of 64, GPT-J
  deepseek.head_size = deepseek.rotary_dim = 64;
  deepseek.is_neox = false;
  EXPECT_TRUE(streaming(deepseek));
  Case decode = llama;
  decode.tokens = prefill - 1;
  EXPECT_FALSE(streaming(decode));
}

// The plain-RoPE rows of the H200 policy at the benchmark's model shapes (bf16 q/k, fp32 cache,
// 132 SMs, residency 2048): one head per thread in blocks of 128 with the widest pairs, a
// token's blocks together past one wave (where a token has several), evict-first from the policy's token count, and for the
// narrow rotary part of neox-20b two heads per thread in blocks of 256 past two waves.
TEST(CudaLaunchShape, FollowsThePolicyTable) {
  const struct {
    int64_t heads, kv_heads, head_size, rotary_dim;
    bool neox;
    int64_t tokens;
    int pairs, heads_per_thread;
    bool streaming, token_major;
  } expected[] = {{32, 8, 128, 128, true, 1, 8, 1, false, false},       // llama3-8b
                  {32, 8, 128, 128, true, 16384, 8, 1, true, true},
                  {32, 2, 128, 64, false, 1024, 8, 1, true, false},     // glm4-9b: 0.52 waves
                  {32, 2, 128, 64, false, 4096, 8, 1, true, false},     // one block a token
                  {64, 64, 96, 24, true, 1024, 4, 1, false, true},      // neox-20b: 1.45 waves
                  {64, 64, 96, 24, true, 4096, 4, 2, false, false}};    // 5.8 waves: narrow
  for (const auto& e : expected) {
    const detail::Problem p =
        shape_only(e.heads, e.kv_heads, e.head_size, e.rotary_dim, e.neox, e.tokens);
    const cuda::LaunchShape s = cuda::choose_launch(p, h200_like());
    const std::string label = std::to_string(e.heads) + "/" + std::to_string(e.kv_heads) +
                              " heads of " + std::to_string(e.head_size) + ", T = " +
                              std::to_string(e.tokens);
    EXPECT_EQ(s.kernel().streams, Streams::one) << label;
    EXPECT_EQ(int(s.kernel().pairs), e.pairs) << label;
    EXPECT_EQ(s.heads_per_thread, e.heads_per_thread) << label;
    EXPECT_EQ(s.kernel().streaming, e.streaming) << label;
    EXPECT_EQ(s.token_major(), e.token_major) << label;
  }
}

// Waves are counted in the device's resident slots for the kernel: a kernel with half the
// residency reaches the narrow-rotary step at half the tokens.
TEST(CudaLaunchShape, ResidencyFromTheDeviceMovesTheSteps) {
  // neox-20b at 1024 tokens: 1.45 waves with 2048 threads per SM, 2.9 with 1024.
  const detail::Problem p = shape_only(64, 64, 96, 24, true, 1024);
  cuda::DeviceInfo device = h200_like();
  EXPECT_EQ(cuda::choose_launch(p, device).heads_per_thread, 1);
  device.resident_threads = [](int, int) { return 1024; };
  EXPECT_EQ(cuda::choose_launch(p, device).heads_per_thread, 2);
}

// A shape whose configuration does not fit the problem is refused with a reason, never launched.
TEST(CudaLaunchShape, RejectsConfigurationsThatDoNotFit) {
  Case c;
  c.x_dtype = DType::bfloat16;
  c.head_size = c.rotary_dim = 128;
  c.tokens = 600;
  const detail::Problem p = host_problem(c);
  const auto error = [&](const KernelConfig& k, int heads = 1) {
    return cuda::launch_shape_error(p, cuda::make_shape(p, cuda::find_config(k), heads, 128, false));
  };
  KernelConfig ok = cuda::config_for(p, Streams::one, 8, 1, true);
  EXPECT_EQ(error(ok), "");
  KernelConfig other_dtype = ok;
  other_dtype.x = cuda::XType::f16;
  EXPECT_NE(error(other_dtype), "");
  KernelConfig gptj = ok;
  gptj.neox = false;
  EXPECT_NE(error(gptj), "");
  KernelConfig multimodal = ok;
  multimodal.streams = Streams::contiguous_sections;
  EXPECT_NE(error(multimodal), "");
  EXPECT_NE(cuda::launch_shape_error(p, cuda::make_shape(p, -1, 1, 128, false)), "");
  // Heads per thread that the one-head kernel cannot walk.
  cuda::LaunchShape two_heads = cuda::make_shape(p, cuda::find_config(ok), 1, 128, false);
  two_heads.heads_per_thread = 2;
  two_heads.head_groups = int((p.num_heads + p.num_kv_heads + 1) / 2);
  EXPECT_NE(cuda::launch_shape_error(p, two_heads), "");
  // Wider than the alignment allows, and evict-first without whole sectors.
  Case narrow = c;
  narrow.rotary_dim = 24;
  const detail::Problem q = host_problem(narrow);
  EXPECT_EQ(cuda::widest_pairs(q), 4);
  const auto q_error = [&](const KernelConfig& k) {
    return cuda::launch_shape_error(q, cuda::make_shape(q, cuda::find_config(k), 1, 128, false));
  };
  EXPECT_NE(q_error(cuda::config_for(q, Streams::one, 8, 1, false)).find("pairs"),
            std::string::npos);
  EXPECT_NE(q_error(cuda::config_for(q, Streams::one, 4, 1, true)).find("sectors"),
            std::string::npos);
  EXPECT_EQ(q_error(cuda::config_for(q, Streams::one, 4, 1, false)), "");
}

// Blocks of whole tokens leave at most an eighth of their warps' lanes idle where a few more tokens
// per block allow it (9 heads x 8 chunks = 72 threads would leave a quarter idle).
TEST(CudaLaunchShape, PacksTokensToFillWarps) {
  Case c;
  c.num_heads = 8;
  c.num_kv_heads = 1;
  c.head_size = 128;
  c.rotary_dim = 128;
  c.tokens = 64;
  c.x_dtype = DType::bfloat16;
  const detail::Problem p = host_problem(c);
  const cuda::LaunchShape s = cuda::make_shape(p, config_of(p, Streams::one, 8, 1), 1, 128, false);
  EXPECT_EQ(s.block[0] * s.block[1], 72u);
  const uint64_t lanes = (s.block_threads() + 31) / 32 * 32;
  EXPECT_LE(double(lanes - s.block_threads()) / double(lanes), 0.125)
      << s.block[2] << " tokens per block";
  // One token: no idle token slots.
  Case one = c;
  one.tokens = 1;
  const detail::Problem q = host_problem(one);
  EXPECT_EQ(cuda::make_shape(q, config_of(q, Streams::one, 8, 1), 1, 128, false).block[2], 1u);
}

// The kernel's cache-row arithmetic is 32-bit: a cache beyond it is refused with a message that
// names the cache, never indexed with a wrapped offset.
TEST(CudaLaunchShape, RejectsCachesBeyondThirtyTwoBitRows) {
  Case c;
  const detail::Problem p = host_problem(c);
  const cuda::LaunchShape s = cuda::choose_launch(p, h200_like());
  EXPECT_EQ(cuda::launch_shape_error(p, s), "");
  detail::Problem wide_rows = p;
  wide_rows.cache_row_stride = int64_t(INT32_MAX) + 1;
  EXPECT_NE(cuda::launch_shape_error(wide_rows, s).find("cos_sin_cache"), std::string::npos);
  detail::Problem many_rows = p;
  many_rows.max_position = int64_t(INT32_MAX) + 1;
  EXPECT_NE(cuda::launch_shape_error(many_rows, s).find("cos_sin_cache"), std::string::npos);
}

DType random_cache_dtype(cuda::CacheWidth width, std::mt19937_64& rng) {
  if (width == cuda::CacheWidth::b32) return DType::float32;
  return rng() % 2 ? DType::float16 : DType::bfloat16;
}

DType x_dtype_of(cuda::XType x) {
  return x == cuda::XType::f32 ? DType::float32
         : x == cuda::XType::f16 ? DType::float16
                                 : DType::bfloat16;
}

// Launches configuration `config` on `p` with random heads per thread, block size, grid order and
// programmatic launch; the caller checks the result.
void launch_config_randomly(const detail::Problem& p, int config, std::mt19937_64& rng,
                            std::string& label) {
  const int heads = int(rng() % 9) + 1, block = int(32 << (rng() % 5));
  cuda::LaunchShape s = cuda::make_shape(p, config, heads, block, rng() % 2 == 0);
  s.programmatic = rng() % 2 == 0;
  label += " heads/thread " + std::to_string(s.heads_per_thread) + " block " +
           std::to_string(block) + (s.token_major() ? " token-major" : "") +
           (s.programmatic ? " programmatic" : "");
  ASSERT_EQ(cuda::launch_shape_error(p, s), "") << label;
  ASSERT_EQ(cuda::launch_kernel(cuda::make_params(p, s), s, nullptr), cudaSuccess) << label;
  check_cuda(cudaDeviceSynchronize(), "kernel");
}

// Every kernel configuration that exists, twice on random problems it fits (plain RoPE through
// the harness's layouts, multimodal RoPE through its own), against the oracle.
TEST(CudaKernelConfigs, EveryConfigurationGivesTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int config = 0; config < cuda::kKernelConfigCount; ++config)
    for (int round = 0; round < 2; ++round) {
      const KernelConfig& k = cuda::kKernelConfigs[config];
      std::string label = "seed " + std::to_string(seed) + " config " + std::to_string(config);
      // Rotary widths the configuration's chunks tile; whole sectors for evict-first.
      const int64_t unit = k.streaming ? (k.neox ? 32 : 64) / cuda::x_bytes(k.x) : 2 * k.pairs;
      if (k.streams == Streams::one) {
        // The harness's random layouts may misalign a view for wide accesses: draw again.
        for (int attempt = 0;; ++attempt) {
          ASSERT_LT(attempt, 50) << label << ": no random problem fits";
          Case c = random_case(rng);
          c.x_dtype = x_dtype_of(k.x);
          c.cache_dtype = random_cache_dtype(k.cache, rng);
          c.is_neox = k.neox;
          c.rotary_dim = unit * int64_t(1 + rng() % std::max<int64_t>(1, 128 / unit));
          c.head_size = c.rotary_dim + (rng() % 2 ? 0 : unit);
          c.token_padding = c.head_padding = c.batch_gap = c.cache_row_padding = 0;
          c.tokens = int64_t(rng() % 64) + 1;
          Problem problem = make_problem(c, rng());
          DeviceMirror mirror(problem);
          const detail::Problem p = detail::make_problem(mirror.device_args());
          if (!cuda::launch_shape_error(p, cuda::make_shape(p, config, 1, 128, false)).empty())
            continue;
          label.append(" ").append(c.describe());
          ASSERT_NO_FATAL_FAILURE(launch_config_randomly(p, config, rng, label));
          mirror.download();
          const std::string errors = check_result(problem);
          ASSERT_TRUE(errors.empty()) << label << "\n" << errors;
          break;
        }
      } else {
        MropeCase c;
        c.interleaved = k.streams != Streams::contiguous_sections;
        c.section = c.interleaved ? std::array<int64_t, 3>{24, 20, 20}
                                  : std::array<int64_t, 3>{16, 24, 24};
        c.head_size = rng() % 3 == 0 ? 256 : 128;  // rotary_dim 128: a pass-through half or none
        c.num_heads = 4 * int64_t(1 + rng() % 4);
        c.num_kv_heads = rng() % 3 == 0 ? 0 : 4;
        c.tokens = int64_t(rng() % 40) + 1;
        c.x_dtype = x_dtype_of(k.x);
        c.cache_dtype = random_cache_dtype(k.cache, rng);
        c.positions_dtype = rng() % 2 ? DType::int32 : DType::int64;
        c.inverse = rng() % 2 == 0;
        c.out_of_place = rng() % 2 == 0;
        MropeRun r = make_run(c, rng);
        DeviceCopies device({&r.positions, &r.cache, &r.query, &r.key, &r.query_out, &r.key_out},
                            /*misalign=*/false);
        const detail::Problem p =
            detail::make_problem(device.on_device(args_of(c, r, Backend::cuda)));
        label.append(c.interleaved ? " interleaved " : " contiguous ")
            .append(to_string(c.x_dtype))
            .append(" x, ")
            .append(to_string(c.cache_dtype))
            .append(" cache");
        ASSERT_NO_FATAL_FAILURE(launch_config_randomly(p, config, rng, label));
        device.download();
        SCOPED_TRACE(label);
        check_run(c, r);
      }
    }
}

// A rotation and its inverse, many times back to back on one stream, each launch programmatic:
// every launch must see the previous one's output, so the data comes back as it started (within
// the roundings of float32 data). A launch that read early would leave a visible error.
TEST(CudaLaunchShape, ProgrammaticLaunchesSeeThePreviousResults) {
  SKIP_WITHOUT_CUDA_DEVICE();
  Case c;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_size = 128;
  c.rotary_dim = 128;
  c.tokens = 2048;
  c.x_dtype = DType::float32;
  c.max_position = 4096;
  Problem problem = make_problem(c, fresh_seed());
  // A true rotation cache (the harness draws cos and sin independently): cos^2 + sin^2 = 1, so
  // the inverse undoes the rotation.
  const int64_t half = c.rotary_dim / 2;
  for (int64_t row = 0; row < c.max_position; ++row)
    for (int64_t j = 0; j < half; ++j) {
      const double angle = double(row) * std::pow(10000.0, -2.0 * double(j) / double(c.rotary_dim));
      problem.cache.set(row * c.rotary_dim + j, std::cos(angle));
      problem.cache.set(row * c.rotary_dim + half + j, std::sin(angle));
    }
  const std::vector<unsigned char> before = problem.query.storage;
  DeviceMirror mirror(problem);
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
  RotaryArgs forward = mirror.device_args();
  RotaryArgs backward = forward;
  backward.inverse = true;
  const detail::Problem pf = detail::make_problem(forward), pb = detail::make_problem(backward);
  cuda::LaunchShape s = cuda::choose_launch(pf, h200_like());
  s.programmatic = true;
  // A different shape for the inverse, so the two kernels' blocks overlap differently.
  cuda::LaunchShape t = cuda::make_shape(pb, s.config, 1, 64, false);
  t.programmatic = true;
  ASSERT_EQ(cuda::launch_shape_error(pf, s), "");
  ASSERT_EQ(cuda::launch_shape_error(pb, t), "");
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(cuda::launch_kernel(cuda::make_params(pf, s), s, stream), cudaSuccess);
    ASSERT_EQ(cuda::launch_kernel(cuda::make_params(pb, t), t, stream), cudaSuccess);
  }
  check_cuda(cudaStreamSynchronize(stream), "kernels");
  cudaStreamDestroy(stream);
  mirror.download();
  const auto* x0 = reinterpret_cast<const float*>(before.data());
  const auto* x1 = reinterpret_cast<const float*>(problem.query.storage.data());
  const size_t count = before.size() / sizeof(float);
  double worst = 0;
  for (size_t e = 0; e < count; ++e) worst = std::max(worst, double(std::fabs(x1[e] - x0[e])));
  // 40 rotations of |x| <= 2 in float32: each adds at most a few ulps (2^-22 each at |x| < 2).
  EXPECT_LT(worst, 40 * 8 * std::ldexp(1.0, -22)) << "largest change after the round trips";
}

}  // namespace
}  // namespace ropekit::testing
