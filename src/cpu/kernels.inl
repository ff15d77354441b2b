// The cpu backend's rotation kernels: plain loops over contiguous float32 buffers that the compiler
// vectorizes. Math in float32, one rounding to the output dtype.
//
// This file is compiled once per instruction set, inside the namespace ROPEKIT_CPU_ISA, so that the
// copies never meet at link time. Keep every helper in that namespace and call nothing inline from
// outside it (numeric.hpp's conversions, std templates): a non-inlined copy compiled with AVX2
// could otherwise be the one the linker keeps, and crash the baseline path on an older CPU.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/problem.hpp"
#include "core/rope_variants_mrope.hpp"
#include "cpu/cpu_kernels.hpp"

#ifndef ROPEKIT_CPU_ISA
#error "define ROPEKIT_CPU_ISA (the namespace of this copy) before including cpu/kernels.inl"
#endif

namespace ropekit::detail::cpu::ROPEKIT_CPU_ISA {
namespace {

// Frequencies converted per pass over a token's heads. A cache row is converted to float32 once
// per token and reused for all its heads; 128 frequencies (rotary_dim 256) cover every model we
// know in one pass, and the stack buffers (4 x 512 bytes) stay in L1.
constexpr int64_t kChunk = 128;

inline uint32_t bits_of(float value) { uint32_t b; std::memcpy(&b, &value, 4); return b; }
inline float float_of(uint32_t bits) { float v; std::memcpy(&v, &bits, 4); return v; }

// Storage conversions, written without branches so loops over them vectorize. Each one equals
// core/numeric.hpp bit for bit (tests/cpp/test_cpu_conversions.cpp checks it on this build).
inline float to_float32(float value) { return value; }
inline float to_float32(bf16_t value) { return float_of(uint32_t(value.bits) << 16); }
inline float to_float32(f16_t value) {
  const uint32_t h = value.bits;
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exponent = h & 0x7c00u;
  const uint32_t mantissa = h & 0x3ffu;
  const uint32_t normal = ((h & 0x7fffu) << 13) + (112u << 23);  // rebias 15 -> 127
  const uint32_t inf_or_nan = 0x7f800000u | (mantissa << 13);
  const uint32_t subnormal = bits_of(float(int32_t(mantissa)) * 0x1p-24f);  // exact
  const uint32_t magnitude =
      exponent == 0 ? subnormal : (exponent == 0x7c00u ? inf_or_nan : normal);
  return float_of(sign | magnitude);
}

template <class X> X from_float32(float value);
template <> inline float from_float32<float>(float value) { return value; }

// Round to nearest even; NaN stays NaN (quiet bit set).
template <> inline bf16_t from_float32<bf16_t>(float value) {
  const uint32_t x = bits_of(value);
  const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (x >> 16) | 0x40u;
  return bf16_t{uint16_t((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded)};
}

// Round to nearest even with subnormals, overflow to infinity and NaN -> 0x7e00, by letting the
// FPU round: (Maratyszcza's FP16 library, fp16_ieee_from_fp32_value.) Scaling by 2^112 sends
// everything >= 65520 to infinity; adding 2^(e+1) for the value's exponent e (at least 2^-13, the
// f16 subnormal spacing) leaves exactly the f16 mantissa bits in the sum's low bits, rounded to
// nearest even by the addition itself. Needs -ffp-contract=off (see CMakeLists.txt).
template <> inline f16_t from_float32<f16_t>(float value) {
  const uint32_t x = bits_of(value);
  const uint32_t twice = x + x;  // drops the sign
  const uint32_t sign = (x >> 16) & 0x8000u;
  const float scaled = (float_of(x & 0x7fffffffu) * 0x1p+112f) * 0x1p-110f;
  const uint32_t exponent_bits = twice & 0xff000000u;
  const uint32_t bias = exponent_bits < 0x71000000u ? 0x71000000u : exponent_bits;
  const uint32_t sum = bits_of(float_of((bias >> 1) + 0x07800000u) + scaled);
  const uint32_t finite = ((sum >> 13) & 0x7c00u) + (sum & 0x0fffu);
  return f16_t{uint16_t(sign | (twice > 0xff000000u ? 0x7e00u : finite))};
}

template <class T>
inline void load_floats(const T* __restrict in, float* __restrict out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = to_float32(in[i]);
}

template <class T>
inline void store_floats(const float* __restrict in, T* __restrict out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = from_float32<T>(in[i]);
}

// Runs step over elements [0, count) in fixed-size blocks of 16 (the vector width the compiler
// picks for 16-bit types with AVX2) or, for 8 to 15 elements, of 8; a partial last block is
// replaced by the full block ending at count. That recomputes a few elements, which is harmless
// because every step writes the same value again from inputs it does not overwrite, and it spares
// the scalar remainder loop and loop set-up that dominate short rows (rotary_dim 24: 12 pairs).
template <class Step>
inline void for_each_block(int64_t count, const Step& step) {
  const auto blocks_of = [&](auto width) {
    int64_t begin = 0;
    for (; begin + width <= count; begin += width) step.template block<width>(begin);
    if (begin < count) step.template block<width>(count - width);
  };
  if (count >= 16) {
    blocks_of(std::integral_constant<int64_t, 16>{});
  } else if (count >= 8) {
    blocks_of(std::integral_constant<int64_t, 8>{});
  } else {
    for (int64_t i = 0; i < count; ++i) step.template block<1>(i);
  }
}

// NeoX pairs (x[i], x[i + half]) for frequencies [first, first + count).
template <class X>
struct NeoxStep {
  const float* __restrict a;
  const float* __restrict b;
  const float* __restrict cos;
  const float* __restrict sin;
  X* __restrict y_a;
  X* __restrict y_b;

  template <int64_t kWidth>
  void block(int64_t begin) const {
    for (int64_t i = begin; i < begin + kWidth; ++i) {
      y_a[i] = from_float32<X>(a[i] * cos[i] - b[i] * sin[i]);
      y_b[i] = from_float32<X>(b[i] * cos[i] + a[i] * sin[i]);
    }
  }
};

// Converts a row segment to float32 into a local buffer.
template <class T>
struct LoadStep {
  const T* __restrict in;
  float* __restrict out;

  template <int64_t kWidth>
  void block(int64_t begin) const {
    for (int64_t i = begin; i < begin + kWidth; ++i) out[i] = to_float32(in[i]);
  }
};

template <class X>
inline void rotate_neox(const X* x, X* y, const float* __restrict cos, const float* __restrict sin,
                        int64_t first, int64_t count, int64_t half) {
  // Both halves are read into local copies before any write, so y may alias x (in place).
  float a[kChunk], b[kChunk];
  for_each_block(count, LoadStep<X>{x + first, a});
  for_each_block(count, LoadStep<X>{x + half + first, b});
  for_each_block(count, NeoxStep<X>{a, b, cos, sin, y + first, y + half + first});
}

// GPT-J pairs (x[2i], x[2i + 1]): split into local copies of the first and second elements.
template <class X>
struct GptjLoadStep {
  const X* __restrict pairs;
  float* __restrict a;
  float* __restrict b;

  template <int64_t kWidth>
  void block(int64_t begin) const {
    for (int64_t i = begin; i < begin + kWidth; ++i) {
      a[i] = to_float32(pairs[2 * i]);
      b[i] = to_float32(pairs[2 * i + 1]);
    }
  }
};

template <class X>
struct GptjStep {
  const float* __restrict a;
  const float* __restrict b;
  const float* __restrict cos;
  const float* __restrict sin;
  X* __restrict pairs;

  template <int64_t kWidth>
  void block(int64_t begin) const {
    for (int64_t i = begin; i < begin + kWidth; ++i) {
      pairs[2 * i] = from_float32<X>(a[i] * cos[i] - b[i] * sin[i]);
      pairs[2 * i + 1] = from_float32<X>(b[i] * cos[i] + a[i] * sin[i]);
    }
  }
};

// GPT-J pairs for frequencies [first, first + count).
template <class X>
inline void rotate_gptj(const X* x, X* y, const float* __restrict cos, const float* __restrict sin,
                        int64_t first, int64_t count) {
  float a[kChunk], b[kChunk];
  for_each_block(count, GptjLoadStep<X>{x + 2 * first, a, b});
  for_each_block(count, GptjStep<X>{a, b, cos, sin, y + 2 * first});
}

template <class X>
struct HeadPointers {
  const X* in;
  X* out;
};

template <class X>
inline HeadPointers<X> head_pointers(const Problem& p, int64_t b, int64_t s, int64_t head) {
  const bool is_key = head >= p.num_heads;
  const HeadLayout& in = is_key ? p.key_in : p.query_in;
  const HeadLayout& out = is_key ? p.key_out : p.query_out;
  const int64_t h = is_key ? head - p.num_heads : head;
  return {static_cast<const X*>(in.data) + b * in.batch_stride + s * in.seq_stride +
              h * in.head_stride,
          static_cast<X*>(out.data) + b * out.batch_stride + s * out.seq_stride +
              h * out.head_stride};
}

// Multimodal RoPE: frequency i reads the cache row of the position stream mrope_section gives it.
// Scalar, but paid once per token for all its heads.
template <class C>
void load_mrope_factors(const Problem& p, const C* const (&rows)[3], int64_t first, int64_t count,
                        float* cos, float* sin) {
  const int64_t half = p.rotary_dim / 2;
  for (int64_t i = 0; i < count; ++i) {
    const C* row = rows[mrope_stream(first + i, p.mrope_section.data(), p.mrope_interleaved)];
    cos[i] = to_float32(row[first + i]);
    sin[i] = to_float32(row[half + first + i]);
  }
}

template <class X, class C>
void rotate_token(const Problem& p, int64_t token, int64_t head_begin, int64_t head_end) {
  const int64_t b = token / p.seq;
  const int64_t s = token - b * p.seq;
  const C* rows[3] = {};  // one cache row per position stream (mrope), else just rows[0]
  for (int stream = 0; stream < (p.mrope ? 3 : 1); ++stream)
    rows[stream] =
        static_cast<const C*>(p.cache) + load_position(p, b, s, stream) * p.cache_row_stride;
  const int64_t half = p.rotary_dim / 2;
  float cos[kChunk], sin[kChunk];
  for (int64_t first = 0; first < half; first += kChunk) {
    const int64_t count = half - first < kChunk ? half - first : kChunk;
    if (p.mrope)
      load_mrope_factors(p, rows, first, count, cos, sin);
    else {
      load_floats(rows[0] + first, cos, count);
      load_floats(rows[0] + half + first, sin, count);
    }
    if (p.inverse)
      for (int64_t i = 0; i < count; ++i) sin[i] = -sin[i];
    for (int64_t head = head_begin; head < head_end; ++head) {
      const HeadPointers<X> ptr = head_pointers<X>(p, b, s, head);
      if (p.is_neox)
        rotate_neox(ptr.in, ptr.out, cos, sin, first, count, half);
      else
        rotate_gptj(ptr.in, ptr.out, cos, sin, first, count);
    }
  }
  if (!p.in_place && p.rotary_dim < p.head_size) {
    const size_t tail_bytes = size_t(p.head_size - p.rotary_dim) * sizeof(X);
    for (int64_t head = head_begin; head < head_end; ++head) {
      const HeadPointers<X> ptr = head_pointers<X>(p, b, s, head);
      std::memcpy(ptr.out + p.rotary_dim, ptr.in + p.rotary_dim, tail_bytes);
    }
  }
}

template <class X>
TokenKernel select_for_cache(DType cache_dtype) {
  switch (cache_dtype) {
    case DType::float32: return &rotate_token<X, float>;
    case DType::float16: return &rotate_token<X, f16_t>;
    default: return &rotate_token<X, bf16_t>;
  }
}

TokenKernel select(const Problem& p) {
  switch (p.x_dtype) {
    case DType::float32: return select_for_cache<float>(p.cache_dtype);
    case DType::float16: return select_for_cache<f16_t>(p.cache_dtype);
    default: return select_for_cache<bf16_t>(p.cache_dtype);
  }
}

void floats_to_f16(const float* in, f16_t* out, int64_t count) { store_floats(in, out, count); }
void floats_to_bf16(const float* in, bf16_t* out, int64_t count) { store_floats(in, out, count); }
void f16_to_floats(const f16_t* in, float* out, int64_t count) { load_floats(in, out, count); }
void bf16_to_floats(const bf16_t* in, float* out, int64_t count) { load_floats(in, out, count); }

constexpr Kernels kTable{Isa::ROPEKIT_CPU_ISA, &select,        &floats_to_f16,
                        &floats_to_bf16,       &f16_to_floats, &bf16_to_floats};

}  // namespace

const Kernels& kernels() { return kTable; }

}  // namespace ropekit::detail::cpu::ROPEKIT_CPU_ISA
