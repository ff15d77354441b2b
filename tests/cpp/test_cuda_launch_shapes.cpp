// The CUDA launch shapes. Host side (no device needed, runs in CI): every shape the heuristic or a
// caller can pick covers each (token, head group, chunk) exactly once within the kernel's limits.
// Device side: every heads-per-thread and block size gives the oracle's answer (the heuristic alone
// would pick several heads per thread only for problems too large for the oracle sweep), and
// back-to-back launches with programmatic dependent launch see each other's results.
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

#include "core/problem.hpp"
#include "cuda/launch_config.hpp"
#include "cuda/launch_rotary.hpp"
#include "cuda_test_support.hpp"
#include "harness.hpp"

namespace ropekit::testing {
namespace {

// Walks the grid as the kernel does and checks that the threads that pass its bounds check are
// exactly the work items, each once.
void expect_exact_cover(const detail::Problem& p, const cuda::LaunchShape& s) {
  const int64_t total_heads = p.num_heads + (p.has_key ? p.num_kv_heads : 0);
  ASSERT_GE(s.heads_per_thread, 1);
  ASSERT_EQ(s.head_groups, (total_heads + s.heads_per_thread - 1) / s.heads_per_thread);
  ASSERT_GE(s.chunks_per_head, 1);
  ASSERT_LE(s.block_threads(), uint64_t(cuda::kMaxBlockThreads));
  ASSERT_LE(s.block[2], unsigned(cuda::kMaxTokensPerBlock));
  ASSERT_EQ(cuda::launch_shape_error(p, s), "");
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

TEST(CudaLaunchShape, CoversEveryWorkItemOnce) {
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 200; ++i) {
    const Case c = random_case(rng);
    const Problem problem = make_problem(c, rng());
    const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
    const int pairs = cuda::choose_pairs_per_thread(p);
    SCOPED_TRACE("seed " + std::to_string(seed) + " case " + std::to_string(i) + " " +
                 c.describe() + " pairs " + std::to_string(pairs));
    ASSERT_EQ((p.rotary_dim / 2) % pairs, 0);
    expect_exact_cover(p, cuda::choose_launch_shape(p, pairs, 132));
    const int heads = int(rng() % 9) + 1, block = int(32 << (rng() % 5));
    for (bool token_major : {false, true}) {
      SCOPED_TRACE(token_major ? "token-major grid" : "3-D grid");
      cuda::LaunchShape s = cuda::make_launch_shape(p, pairs, heads, block, token_major);
      expect_exact_cover(p, s);
      cuda::order_grid(p, s, !token_major);  // and converted to the other order
      expect_exact_cover(p, s);
    }
  }
}

// Token-major order: a token block's blocks (head groups x chunk blocks) numbered consecutively,
// only where a token block has several; converting back gives the 3-D grid again.
TEST(CudaLaunchShape, TokenMajorGridNumbersATokensBlocksTogether) {
  Case c;
  c.num_heads = 700;
  c.num_kv_heads = 0;
  c.head_size = c.rotary_dim = 64;
  c.tokens = 3;
  Problem problem = make_problem(c, 1);
  const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  const cuda::LaunchShape grid3 = cuda::make_launch_shape(p, 1, 1, 128);
  ASSERT_GT(grid3.grid[1], 1u);
  cuda::LaunchShape s = grid3;
  cuda::order_grid(p, s, true);
  ASSERT_TRUE(s.token_major());
  EXPECT_EQ(s.grid[0], grid3.grid[0] * grid3.grid[1] * grid3.grid[2]);
  EXPECT_EQ(s.grid[1] * s.grid[2], 1u);
  const cuda::RotaryParams params = cuda::make_params(p, s);
  for (unsigned x = 0; x < s.grid[0]; ++x)
    EXPECT_EQ(cuda::BlockIndex(params, x, 0, 0).token, x / (grid3.grid[1] * grid3.grid[2]));
  cuda::order_grid(p, s, false);
  EXPECT_FALSE(s.token_major());
  for (int d = 0; d < 3; ++d) EXPECT_EQ(s.grid[d], grid3.grid[d]);
  // One block per token block: nothing to order.
  c.num_heads = 2;
  Problem small = make_problem(c, 2);
  const detail::Problem q = detail::make_problem(small.args(Backend::cpu));
  EXPECT_FALSE(cuda::make_launch_shape(q, 1, 1, 128, true).token_major());
}

// Wide rotary parts split a head over several blocks along z; many heads over several along y.
TEST(CudaLaunchShape, SplitsHeadsAndChunksThatExceedABlock) {
  Case c;
  c.num_heads = 700;
  c.num_kv_heads = 0;
  c.head_size = 2048;
  c.rotary_dim = 2048;
  c.tokens = 3;
  const Problem problem = make_problem(c, fresh_seed());
  const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  const cuda::LaunchShape s = cuda::make_launch_shape(p, 1, 1, 128);
  EXPECT_EQ(s.chunks_per_head, 1024);
  EXPECT_GT(s.grid[2], 1u);
  expect_exact_cover(p, s);
}

// Streaming (evict-first) q/k accesses only for prefill-sized launches where every slice a thread
// touches is whole, aligned 32-byte sectors: the full-rotary shapes and glm4-9b, not
// neox-20b's 24 of 96, not misaligned strides, not decode-sized launches.
TEST(CudaLaunchShape, StreamingOnlyForWholeSectors) {
  const auto streaming = [](Case c) {
    c.x_dtype = DType::bfloat16;
    c.num_heads = c.num_kv_heads = 1;
    const Problem problem = make_problem(c, fresh_seed());
    detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
    // Host buffers are only 16-byte aligned; the decision reads addresses, never memory, so the
    // tensors are placed at a device-like (256-byte aligned) address for it.
    place_at_aligned_addresses(p);
    const int pairs = cuda::choose_pairs_per_thread(p);
    const bool chosen = cuda::streaming_accesses(p, pairs);
    EXPECT_EQ(cuda::make_launch_shape(p, pairs, 1, 128).streaming, chosen);
    return chosen;
  };
  Case llama;  // 128 of 128, NeoX: halves of 128 bytes
  llama.tokens = cuda::kStreamingMinTokens;
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
  decode.tokens = cuda::kStreamingMinTokens - 1;
  EXPECT_FALSE(streaming(decode));
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
  const Problem problem = make_problem(c, fresh_seed());
  const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  const cuda::LaunchShape s = cuda::make_launch_shape(p, 8, 1, 128);
  EXPECT_EQ(s.block[0] * s.block[1], 72u);
  const uint64_t lanes = (s.block_threads() + 31) / 32 * 32;
  EXPECT_LE(double(lanes - s.block_threads()) / double(lanes), 0.125)
      << s.block[2] << " tokens per block";
  // One token: no idle token slots.
  Case one = c;
  one.tokens = 1;
  const Problem single = make_problem(one, fresh_seed());
  const detail::Problem q = detail::make_problem(single.args(Backend::cpu));
  EXPECT_EQ(cuda::make_launch_shape(q, 8, 1, 128).block[2], 1u);
}

// The kernel's cache-row arithmetic is 32-bit: a cache beyond it is refused with a message that
// names the cache, never indexed with a wrapped offset.
TEST(CudaLaunchShape, RejectsCachesBeyondThirtyTwoBitRows) {
  Case c;
  const Problem problem = make_problem(c, fresh_seed());
  detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  const int pairs = cuda::choose_pairs_per_thread(p);
  const cuda::LaunchShape s = cuda::choose_launch_shape(p, pairs, 132);
  EXPECT_EQ(cuda::launch_shape_error(p, s), "");
  detail::Problem wide_rows = p;
  wide_rows.cache_row_stride = int64_t(INT32_MAX) + 1;
  EXPECT_NE(cuda::launch_shape_error(wide_rows, s).find("cos_sin_cache"), std::string::npos);
  detail::Problem many_rows = p;
  many_rows.max_position = int64_t(INT32_MAX) + 1;
  EXPECT_NE(cuda::launch_shape_error(many_rows, s).find("cos_sin_cache"), std::string::npos);
}

class DeviceMirror : public DeviceCopies {
 public:
  explicit DeviceMirror(Problem& problem)
      : DeviceCopies({&problem.positions, &problem.cache, &problem.qkv, &problem.query,
                      &problem.key, &problem.query_out, &problem.key_out},
                     false),
        problem_(problem) {}
  RotaryArgs device_args() const { return on_device(problem_.args(Backend::cuda)); }

 private:
  Problem& problem_;
};

// Every heads-per-thread (both kernel variants: 1 and 4 in flight, with partial batches) and block
// size on random problems, with and without programmatic launch, against the oracle.
TEST(CudaLaunchShape, EveryShapeGivesTheOraclesAnswer) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 150; ++i) {
    Case c = random_case(rng);
    c.tokens = int64_t(rng() % 300) + 1;
    Problem problem = make_problem(c, rng());
    DeviceMirror mirror(problem);
    const detail::Problem p = detail::make_problem(mirror.device_args());
    const int pairs = cuda::choose_pairs_per_thread(p);
    const int heads = int(rng() % 9) + 1, block = int(32 << (rng() % 5));
    cuda::LaunchShape s = cuda::make_launch_shape(p, pairs, heads, block, rng() % 2 == 0);
    s.programmatic = rng() % 2 == 0;
    SCOPED_TRACE("seed " + std::to_string(seed) + " case " + std::to_string(i) + " " +
                 c.describe() + " heads/thread " + std::to_string(heads) + " block " +
                 std::to_string(block) + (s.programmatic ? " programmatic" : "") +
                 (s.token_major() ? " token-major" : ""));
    ASSERT_EQ(cuda::launch_rotary(cuda::make_params(p, s), s, p.x_dtype, p.cache_dtype, p.is_neox,
                                  nullptr),
              cudaSuccess);
    check_cuda(cudaDeviceSynchronize(), "kernel");
    mirror.download();
    const std::string errors = check_result(problem);
    ASSERT_TRUE(errors.empty()) << errors;
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
  const int pairs = cuda::choose_pairs_per_thread(pf);
  cuda::LaunchShape s = cuda::choose_launch_shape(pf, pairs, 132);
  s.programmatic = true;
  // A different shape for the inverse, so the two kernels' blocks overlap differently.
  cuda::LaunchShape t = cuda::make_launch_shape(pb, pairs, 1, 64);
  t.programmatic = true;
  for (int round = 0; round < 20; ++round) {
    ASSERT_EQ(cuda::launch_rotary(cuda::make_params(pf, s), s, pf.x_dtype, pf.cache_dtype,
                                  pf.is_neox, stream),
              cudaSuccess);
    ASSERT_EQ(cuda::launch_rotary(cuda::make_params(pb, t), t, pb.x_dtype, pb.cache_dtype,
                                  pb.is_neox, stream),
              cudaSuccess);
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
