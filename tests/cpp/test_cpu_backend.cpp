// The cpu backend on what the random sweep rarely draws: heads longer than one kernel chunk, a
// single token, odd alignments; plus properties the sweep cannot see: the same bits for every
// thread count and instruction set, the exact float32 formula, and bit-exact agreement with the
// reference backend where float32 and float64 math must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/numeric.hpp"
#include "core/problem.hpp"
#include "cpu/cpu_kernels.hpp"
#include "harness.hpp"

namespace ropekit::testing {
namespace {

using detail::cpu::Isa;

constexpr DType kFloatTypes[] = {DType::float32, DType::float16, DType::bfloat16};

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas{Isa::baseline};
  if (detail::cpu::isa_supported(Isa::avx2)) isas.push_back(Isa::avx2);
  return isas;
}

// Runs the cpu kernels of `isa` on at most `threads` threads, as run_cpu would; with
// `force_threads`, on exactly that many, however small the problem.
void run_cpu_on(const Problem& problem, Isa isa, int threads, bool force_threads = false) {
  const detail::Problem p = detail::make_problem(problem.args(Backend::cpu));
  detail::check_positions_in_range(p);
  detail::cpu::run_cpu_with(p, isa, threads,
                            force_threads ? 1 : detail::cpu::kMinElementsPerThread);
}

void expect_matches_oracle(const Problem& problem, const std::string& what) {
  const std::string errors = check_result(problem);
  EXPECT_TRUE(errors.empty()) << what << " " << problem.c.describe() << "\n" << errors;
}

// Every byte the op may write: the inputs (in place) or the outputs.
std::vector<unsigned char> written_bytes(const Problem& problem) {
  std::vector<unsigned char> bytes;
  for (const HostTensor* t : {&problem.qkv, &problem.query, &problem.key, &problem.query_out,
                              &problem.key_out})
    bytes.insert(bytes.end(), t->storage.begin(), t->storage.end());
  return bytes;
}

// Every instruction set, on both pairings, all nine dtype pairs, in and out of place.
template <class Body>
void for_each_variant(Body body) {
  for (Isa isa : supported_isas())
    for (DType x : kFloatTypes)
      for (DType cache : kFloatTypes)
        for (bool neox : {true, false})
          for (bool out_of_place : {false, true}) body(isa, x, cache, neox, out_of_place);
}

TEST(CpuBackend, LargeHeadsSpanSeveralChunks) {
  // rotary 512 is two full chunks of 128 frequencies; rotary 300 ends with a partial chunk (22).
  for (int64_t rotary_dim : {512, 300}) {
    uint64_t seed = fresh_seed();
    for_each_variant([&](Isa isa, DType x, DType cache, bool neox, bool out_of_place) {
      Case c;
      c.tokens = 3;
      c.num_heads = 2;
      c.num_kv_heads = 1;
      c.head_size = 512;
      c.rotary_dim = rotary_dim;
      c.x_dtype = x;
      c.cache_dtype = cache;
      c.is_neox = neox;
      c.out_of_place = out_of_place;
      c.inverse = seed % 2;
      c.max_position = 64;  // a small cache: these rows are long
      Problem problem = make_problem(c, seed++);
      run_cpu_on(problem, isa, 2);
      expect_matches_oracle(problem, to_string(isa));
    });
  }
}

TEST(CpuBackend, SingleTokenSplitsHeadsOverThreads) {
  // One token and many threads: the work is split into blocks of heads, q and k blocks mixed.
  uint64_t seed = fresh_seed();
  for (int threads : {1, 3, 8})
    for_each_variant([&](Isa isa, DType x, DType cache, bool neox, bool out_of_place) {
      Case c;
      c.tokens = 1;
      c.num_heads = 64;
      c.num_kv_heads = 8;
      c.head_size = 128;
      c.rotary_dim = 64;
      c.x_dtype = x;
      c.cache_dtype = cache;
      c.is_neox = neox;
      c.out_of_place = out_of_place;
      c.explicit_heads = true;
      Problem problem = make_problem(c, seed++);
      run_cpu_on(problem, isa, threads, /*force_threads=*/true);  // 9 Ki elements: split anyway
      expect_matches_oracle(problem, std::string(to_string(isa)) + " threads " +
                                         std::to_string(threads));
    });
}

TEST(CpuBackend, EveryThreadCountAndIsaGivesTheSameBits) {
  // Every thread count is forced (the threshold would keep the smaller ones on one thread).
  const int64_t token_counts[] = {1, 5, 300};
  for (int64_t tokens : token_counts)
    for (DType x : kFloatTypes) {
      Case c;
      c.tokens = tokens;
      c.num_heads = tokens == 1 ? 256 : 32;
      c.num_kv_heads = tokens == 1 ? 64 : 8;
      c.head_size = 128;
      c.rotary_dim = 96;
      c.x_dtype = x;
      c.cache_dtype = DType::bfloat16;
      c.is_neox = tokens != 5;
      c.fused_qkv = true;
      c.max_position = 4096;
      const uint64_t seed = fresh_seed();
      Problem first = make_problem(c, seed);
      run_cpu_on(first, Isa::baseline, 1);
      expect_matches_oracle(first, "baseline, 1 thread");
      const std::vector<unsigned char> expected = written_bytes(first);
      for (Isa isa : supported_isas())
        for (int threads : {1, 2, 3, 8}) {
          Problem again = make_problem(c, seed);
          run_cpu_on(again, isa, threads, /*force_threads=*/true);
          EXPECT_TRUE(written_bytes(again) == expected)
              << to_string(isa) << " with " << threads << " threads differs from baseline with 1 "
              << c.describe();
        }
    }
}

TEST(CpuBackend, OddlyAlignedDataPointers) {
  // q and k start one element past an aligned address; every row then sits at an odd offset.
  uint64_t seed = fresh_seed();
  for_each_variant([&](Isa isa, DType x, DType cache, bool neox, bool out_of_place) {
    Case c;
    c.tokens = 9;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_size = 80;
    c.rotary_dim = 80;
    c.x_dtype = x;
    c.cache_dtype = cache;
    c.is_neox = neox;
    c.out_of_place = out_of_place;
    c.token_padding = 1;  // room for the shifted view inside the buffer
    Problem problem = make_problem(c, seed++);
    const int64_t shift = element_size(x);
    problem.query_view.data = static_cast<unsigned char*>(problem.query_view.data) + shift;
    problem.key_view.data = static_cast<unsigned char*>(problem.key_view.data) + shift;
    run_cpu_on(problem, isa, 2);
    expect_matches_oracle(problem, to_string(isa));
  });
}

// What the cpu backend promises: float32 products and sums, then one rounding to the dtype.
// volatile keeps the compiler from fusing them into an FMA, as the kernels are built to.
template <class X>
double float32_formula(float a, float b, float cos_value, float sin_value, bool first) {
  volatile float product_1 = first ? a * cos_value : b * cos_value;
  volatile float product_2 = first ? b * sin_value : a * sin_value;
  const float sum = first ? product_1 - product_2 : product_1 + product_2;
  return detail::to_double(detail::from_float<X>(sum));
}

double formula_for(DType x, float a, float b, float cos_value, float sin_value, bool first) {
  switch (x) {
    case DType::float16: return float32_formula<detail::f16_t>(a, b, cos_value, sin_value, first);
    case DType::bfloat16: return float32_formula<detail::bf16_t>(a, b, cos_value, sin_value, first);
    default: return float32_formula<float>(a, b, cos_value, sin_value, first);
  }
}

TEST(CpuBackend, BitExactFloat32FormulaWithOneRounding) {
  uint64_t seed = fresh_seed();
  for (Isa isa : supported_isas())
    for (DType x : kFloatTypes)
      for (DType cache : kFloatTypes)
        for (bool neox : {true, false})
          for (bool inverse : {false, true}) {
            Case c;  // contiguous [T, heads * head_size], in place
            c.tokens = 6;
            c.num_heads = 3;
            c.num_kv_heads = 0;
            c.head_size = 48;
            c.rotary_dim = 40;
            c.x_dtype = x;
            c.cache_dtype = cache;
            c.is_neox = neox;
            c.inverse = inverse;
            Problem problem = make_problem(c, seed++);
            HostTensor original;  // the input as it was, through the same view
            original.view = problem.query.view;
            original.view.data = problem.snapshot.data();
            run_cpu_on(problem, isa, 1);
            const int64_t half = c.rotary_dim / 2;
            for (int64_t t = 0; t < c.tokens; ++t) {
              const int64_t row = int64_t(problem.positions.get(t)) * problem.cache.view.strides[0];
              for (int64_t h = 0; h < c.num_heads; ++h)
                for (int64_t i = 0; i < half; ++i) {
                  const int64_t base = (t * c.num_heads + h) * c.head_size;
                  const int64_t first = base + (neox ? i : 2 * i);
                  const int64_t second = base + (neox ? i + half : 2 * i + 1);
                  const float cos_value = float(problem.cache.get(row + i));
                  const float sin_value = float((inverse ? -1 : 1) * problem.cache.get(row + half + i));
                  const float a = float(original.get(first)), b = float(original.get(second));
                  ASSERT_EQ(problem.query.get(first),
                            formula_for(x, a, b, cos_value, sin_value, true))
                      << to_string(isa) << " token " << t << " head " << h << " pair " << i
                      << " " << c.describe();
                  ASSERT_EQ(problem.query.get(second),
                            formula_for(x, a, b, cos_value, sin_value, false))
                      << to_string(isa) << " token " << t << " head " << h << " pair " << i
                      << " " << c.describe();
                }
            }
          }
}

TEST(CpuBackend, BitExactWithReferenceWhereTheMathIsExact) {
  // Position 0 of a genuine cache is cos 1, sin 0: both backends return the input unchanged, and
  // out of place both copy the pass-through tail byte for byte.
  uint64_t seed = fresh_seed();
  for_each_variant([&](Isa isa, DType x, DType cache_dtype, bool neox, bool out_of_place) {
    Case c;
    c.tokens = 4;
    c.head_size = 96;
    c.rotary_dim = 24;
    c.x_dtype = x;
    c.cache_dtype = cache_dtype;
    c.is_neox = neox;
    c.out_of_place = out_of_place;
    c.max_position = 1;  // every position is 0
    HostTensor cache = make_host_tensor(cache_dtype, {1, c.rotary_dim});
    build_cos_sin_cache(default_inv_freq(10000.0, c.rotary_dim), 1.0, cache.view);
    Problem on_cpu = make_problem(c, seed);
    Problem on_reference = make_problem(c, seed++);
    on_cpu.cache = std::move(cache);
    HostTensor cache_copy = make_host_tensor(cache_dtype, {1, c.rotary_dim});
    std::memcpy(cache_copy.storage.data(), on_cpu.cache.storage.data(), cache_copy.storage.size());
    on_reference.cache = std::move(cache_copy);

    run_cpu_on(on_cpu, isa, 1);
    rotary_embedding(on_reference.args(Backend::reference));
    EXPECT_TRUE(written_bytes(on_cpu) == written_bytes(on_reference))
        << to_string(isa) << " " << c.describe();
    if (!out_of_place) {
      // The snapshot holds the input buffers' bytes before the run, in this order.
      std::vector<unsigned char> inputs_after = on_cpu.c.fused_qkv ? on_cpu.qkv.storage
                                                               : on_cpu.query.storage;
      if (!on_cpu.c.fused_qkv)
        inputs_after.insert(inputs_after.end(), on_cpu.key.storage.begin(),
                            on_cpu.key.storage.end());
      EXPECT_TRUE(inputs_after == on_cpu.snapshot)
          << to_string(isa) << " rotation by 0 changed the input " << c.describe();
    }
  });
}

TEST(CpuBackend, RandomSweepOnEachIsa) {
  // run_cpu itself (thread count from OpenMP) with ROPEKIT_CPU_ISA forcing each instruction set.
  const uint64_t base_seed = fresh_seed();
  for (Isa isa : supported_isas()) {
    ASSERT_EQ(setenv("ROPEKIT_CPU_ISA", to_string(isa), 1), 0);
    std::mt19937_64 rng(base_seed);
    for (int i = 0; i < 150 && !HasFailure(); ++i) {
      const Case c = random_case(rng);
      Problem problem = make_problem(c, rng());
      rotary_embedding(problem.args(Backend::cpu));
      expect_matches_oracle(problem, std::string(to_string(isa)) + " seed " +
                                         std::to_string(base_seed) + " case " + std::to_string(i));
    }
  }
  unsetenv("ROPEKIT_CPU_ISA");
}

TEST(CpuBackend, UnknownIsaNameIsRejected) {
  ASSERT_EQ(setenv("ROPEKIT_CPU_ISA", "avx9000", 1), 0);
  Case c;
  Problem problem = make_problem(c, fresh_seed());
  try {
    rotary_embedding(problem.args(Backend::cpu));
    ADD_FAILURE() << "expected ropekit::Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("ROPEKIT_CPU_ISA"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("avx9000"), std::string::npos) << error.what();
  }
  unsetenv("ROPEKIT_CPU_ISA");
}

}  // namespace
}  // namespace ropekit::testing
