// The reference backend: the plainest correct loops, float64 math, one rounding per output.
// Every other backend is tested against this one; keep it obviously right, not fast.
#include "core/backends.hpp"
#include "core/numeric.hpp"

namespace ropekit::detail {
namespace {

template <class X, class C>
void rotate_heads(const Problem& p, const HeadLayout& in, const HeadLayout& out, int64_t heads,
                  int64_t b, int64_t s, const C* cache_row) {
  const int64_t half = p.rotary_dim / 2;
  for (int64_t head = 0; head < heads; ++head) {
    const X* x = static_cast<const X*>(in.data) + b * in.batch_stride + s * in.seq_stride +
                 head * in.head_stride;
    X* y = static_cast<X*>(out.data) + b * out.batch_stride + s * out.seq_stride +
           head * out.head_stride;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t first = p.is_neox ? i : 2 * i;
      const int64_t second = p.is_neox ? i + half : 2 * i + 1;
      const double cos_value = to_double(cache_row[i]);
      const double sin_value = p.inverse ? -to_double(cache_row[half + i])
                                         : to_double(cache_row[half + i]);
      const double a = to_double(x[first]);
      const double c = to_double(x[second]);
      y[first] = from_double<X>(a * cos_value - c * sin_value);
      y[second] = from_double<X>(c * cos_value + a * sin_value);
    }
    if (!p.in_place)
      for (int64_t e = p.rotary_dim; e < p.head_size; ++e) y[e] = x[e];
  }
}

template <class X, class C>
void run_typed(const Problem& p) {
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t s = 0; s < p.seq; ++s) {
      const int64_t position = load_position(p, b, s);
      const C* cache_row = static_cast<const C*>(p.cache) + position * p.cache_row_stride;
      rotate_heads<X, C>(p, p.query_in, p.query_out, p.num_heads, b, s, cache_row);
      if (p.has_key) rotate_heads<X, C>(p, p.key_in, p.key_out, p.num_kv_heads, b, s, cache_row);
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
