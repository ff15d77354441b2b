// The cpu backend's kernels as seen from the dispatcher: one table per instruction set.
// kernels.inl is compiled once per instruction set (kernels_baseline.cpp, kernels_avx2.cpp), each
// copy in its own namespace, and cpu_backend.cpp picks a table at run time.
#pragma once
#include <cstdint>

#include "core/numeric.hpp"
#include "core/problem.hpp"

namespace ropekit::detail::cpu {

enum class Isa {
  baseline,  // the compiler's default target (x86-64: SSE2)
  avx2,      // x86-64 with AVX2 + FMA + F16C
};

const char* to_string(Isa isa);

// Rotates heads [head_begin, head_end) of one token, where heads [0, num_heads) are the query's
// and [num_heads, num_heads + num_kv_heads) the key's; `token` indexes the (batch, seq) pairs.
using TokenKernel = void (*)(const Problem& problem, int64_t token, int64_t head_begin,
                             int64_t head_end);

struct Kernels {
  Isa isa;
  // The kernel for the problem's query/key dtype and cache dtype.
  TokenKernel (*select)(const Problem& problem);
  // The storage conversions the kernels use, exposed so tests can compare them bit for bit with
  // core/numeric.hpp on this instruction set.
  void (*floats_to_f16)(const float* in, f16_t* out, int64_t count);
  void (*floats_to_bf16)(const float* in, bf16_t* out, int64_t count);
  void (*f16_to_floats)(const f16_t* in, float* out, int64_t count);
  void (*bf16_to_floats)(const bf16_t* in, float* out, int64_t count);
};

namespace baseline { const Kernels& kernels(); }
#ifdef ROPEKIT_CPU_AVX2
namespace avx2 { const Kernels& kernels(); }
#endif

// Whether this machine can run `isa` (and this build contains it).
bool isa_supported(Isa isa);

// The instruction set run_cpu uses: ROPEKIT_CPU_ISA ("baseline" or "avx2") when set, else the
// best one this machine supports. Throws ropekit::Error for an unknown or unsupported name.
Isa selected_isa();

const Kernels& kernels_for(Isa isa);

// Below this many head elements per thread (about 30-60 us of one core's work), another thread
// costs more than it saves: waking and joining takes microseconds on an idle machine, and on a
// busy one the join waits until the OS schedules every worker (seen here: 8-12 ms for a 16-token
// call on 2 loaded cores with 32K elements per thread). Decode-sized calls stay on one thread.
inline constexpr int64_t kMinElementsPerThread = 128 * 1024;

// run_cpu with an explicit instruction set, thread count and threading threshold (tests use them
// to compare thread counts and to split problems too small for run_cpu to split).
void run_cpu_with(const Problem& problem, Isa isa, int max_threads,
                  int64_t min_elements_per_thread = kMinElementsPerThread);

}  // namespace ropekit::detail::cpu
