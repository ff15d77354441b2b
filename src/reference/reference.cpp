// The reference backend: the plainest correct loops, float64 math, one rounding per output.
// Every other backend is tested against this one; keep it obviously right, not fast.
#include <vector>

#include "core/backends.hpp"
#include "core/numeric.hpp"
#include "core/rope_variants_mrope.hpp"

namespace ropekit::detail {
namespace {

// cos_values / sin_values: the rotary_dim / 2 factors of this token (already negated for inverse).
template <class X>
void rotate_heads(const Problem& p, const HeadLayout& in, const HeadLayout& out, int64_t heads,
                  int64_t b, int64_t s, const double* cos_values, const double* sin_values) {
  const int64_t half = p.rotary_dim / 2;
  for (int64_t head = 0; head < heads; ++head) {
    const X* x = static_cast<const X*>(in.data) + b * in.batch_stride + s * in.seq_stride +
                 head * in.head_stride;
    X* y = static_cast<X*>(out.data) + b * out.batch_stride + s * out.seq_stride +
           head * out.head_stride;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t first = p.is_neox ? i : 2 * i;
      const int64_t second = p.is_neox ? i + half : 2 * i + 1;
      const double a = to_double(x[first]);
      const double c = to_double(x[second]);
      y[first] = from_double<X>(a * cos_values[i] - c * sin_values[i]);
      y[second] = from_double<X>(c * cos_values[i] + a * sin_values[i]);
    }
    if (!p.in_place)
      for (int64_t e = p.rotary_dim; e < p.head_size; ++e) y[e] = x[e];
  }
}

// The cos/sin factors of token (b, s): one cache row, or with mrope one row per position stream,
// frequency i reading the row of the stream mrope_section gives it.
template <class C>
void load_factors(const Problem& p, int64_t b, int64_t s, double* cos_values, double* sin_values) {
  const int64_t half = p.rotary_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const int stream =
        p.mrope ? mrope_stream(i, p.mrope_section.data(), p.mrope_interleaved) : 0;
    const C* row = static_cast<const C*>(p.cache) + load_position(p, b, s, stream) * p.cache_row_stride;
    cos_values[i] = to_double(row[i]);
    sin_values[i] = p.inverse ? -to_double(row[half + i]) : to_double(row[half + i]);
  }
}

template <class X, class C>
void run_typed(const Problem& p) {
  std::vector<double> cos_values(p.rotary_dim / 2), sin_values(p.rotary_dim / 2);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t s = 0; s < p.seq; ++s) {
      load_factors<C>(p, b, s, cos_values.data(), sin_values.data());
      rotate_heads<X>(p, p.query_in, p.query_out, p.num_heads, b, s, cos_values.data(),
                      sin_values.data());
      if (p.has_key)
        rotate_heads<X>(p, p.key_in, p.key_out, p.num_kv_heads, b, s, cos_values.data(),
                        sin_values.data());
    }
}

template <class X>
void run_with_cache_type(const Problem& p) {
  switch (p.cache_dtype) {
    case DType::float32: return run_typed<X, float>(p);
    case DType::float16: return run_typed<X, f16_t>(p);
    default: return run_typed<X, bf16_t>(p);
  }
}

}  // namespace

void run_reference(const Problem& p) {
  switch (p.x_dtype) {
    case DType::float32: return run_with_cache_type<float>(p);
    case DType::float16: return run_with_cache_type<f16_t>(p);
    default: return run_with_cache_type<bf16_t>(p);
  }
}

}  // namespace ropekit::detail
