// The cpu backend: picks the kernels for this machine's instruction set and spreads tokens (or,
// with few tokens, token x head blocks) over OpenMP threads.
//
// Environment:
//   OMP_NUM_THREADS   the most threads one call uses (OpenMP's own variable; default: all cores).
//                     Problems under kMinElementsPerThread elements per thread use fewer threads,
//                     down to one: waking a thread costs more than rotating a few heads.
//   ROPEKIT_CPU_ISA   "baseline" or "avx2" forces the kernels of that instruction set (benchmarks,
//                     bug hunting); unset or empty: the best one the CPU supports.
#include <algorithm>
#include <cstdlib>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef ROPEKIT_CPU_AVX2
#include <cpuid.h>
#endif

#include "core/backends.hpp"
#include "core/checked.hpp"
#include "cpu/cpu_kernels.hpp"
#include "ropekit/error.hpp"

namespace ropekit::detail {
namespace cpu {
namespace {

Isa best_supported_isa() {
#ifdef ROPEKIT_CPU_AVX2
  if (isa_supported(Isa::avx2)) return Isa::avx2;
#endif
  return Isa::baseline;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

const char* to_string(Isa isa) { return isa == Isa::avx2 ? "avx2" : "baseline"; }

bool isa_supported(Isa isa) {
  if (isa == Isa::baseline) return true;
#ifdef ROPEKIT_CPU_AVX2
  // Asked once: cpuid is slow (in a virtual machine it traps), and this runs on every call.
  static const bool avx2 = [] {
    __builtin_cpu_init();
    // F16C through cpuid: Clang before 16 has no "f16c" for __builtin_cpu_supports.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return avx2;
#else
  return false;
#endif
}

Isa selected_isa() {
  const char* forced = std::getenv("ROPEKIT_CPU_ISA");
  if (forced == nullptr || *forced == '\0') return best_supported_isa();
  const std::string name = forced;
  Isa isa;
  if (name == "baseline") {
    isa = Isa::baseline;
  } else if (name == "avx2") {
    isa = Isa::avx2;
  } else {
    throw Error("ROPEKIT_CPU_ISA: expected 'baseline' or 'avx2', got '" + name + "'");
  }
  if (!isa_supported(isa))
    throw Error("ROPEKIT_CPU_ISA: '" + name + "' is not supported by this CPU or this build");
  return isa;
}

const Kernels& kernels_for(Isa isa) {
#ifdef ROPEKIT_CPU_AVX2
  if (isa == Isa::avx2) return avx2::kernels();
#endif
  return baseline::kernels();
}

void run_cpu_with(const Problem& p, Isa isa, int max_threads, int64_t min_elements_per_thread) {
  const TokenKernel kernel = kernels_for(isa).select(p);
  const int64_t tokens = p.num_tokens();
  const int64_t heads = p.num_heads + p.num_kv_heads;
  // Validation bounds the count (make_problem); saturating keeps this safe for a Problem built
  // another way, and the count only sizes the thread team.
  const std::optional<int64_t> token_heads = checked_mul(tokens, heads);
  const int64_t elements =
      (token_heads ? checked_mul(*token_heads, p.head_size) : std::nullopt).value_or(INT64_MAX);
  int64_t threads = max_threads < 1 ? 1 : max_threads;
  const int64_t worth = elements / std::max<int64_t>(min_elements_per_thread, 1);
  if (threads > worth) threads = worth;

  if (threads <= 1) {
    for (int64_t token = 0; token < tokens; ++token) kernel(p, token, 0, heads);
    return;
  }
  // Work units are (token, block of heads). Whole tokens convert each cache row once; with fewer
  // than 4 tokens per thread, heads are split too so that every thread gets work.
  const int64_t wanted_blocks = tokens >= 4 * threads ? 1 : ceil_div(4 * threads, tokens);
  const int64_t heads_per_block = ceil_div(heads, wanted_blocks < heads ? wanted_blocks : heads);
  const int64_t blocks = ceil_div(heads, heads_per_block);
  const int64_t units = tokens * blocks;
#ifdef _OPENMP
#pragma omp parallel for num_threads(int(threads)) schedule(static)
#endif
  for (int64_t unit = 0; unit < units; ++unit) {
    const int64_t token = unit / blocks;
    const int64_t head_begin = (unit - token * blocks) * heads_per_block;
    const int64_t head_end = head_begin + heads_per_block < heads ? head_begin + heads_per_block
                                                                   : heads;
    kernel(p, token, head_begin, head_end);
  }
}

}  // namespace cpu

void run_cpu(const Problem& problem) {
#ifdef _OPENMP
  const int max_threads = omp_get_max_threads();
#else
  const int max_threads = 1;
#endif
  cpu::run_cpu_with(problem, cpu::selected_isa(), max_threads, cpu::kMinElementsPerThread);
}

}  // namespace ropekit::detail
