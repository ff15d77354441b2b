// The cpu backend: float32 math, one rounding per output. (Placeholder loops until the vectorized,
// threaded kernels land; correct, not fast.)
#include "core/backends.hpp"
#include "core/numeric.hpp"

namespace ropekit::detail {
namespace {

template <class X, class C>
void run_typed(const Problem& p) {
  const int64_t half = p.rotary_dim / 2;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t s = 0; s < p.seq; ++s) {
      const C* row = static_cast<const C*>(p.cache) + load_position(p, b, s) * p.cache_row_stride;
      for (int which = 0; which < (p.has_key ? 2 : 1); ++which) {
        const HeadLayout& in = which ? p.key_in : p.query_in;
        const HeadLayout& out = which ? p.key_out : p.query_out;
        const int64_t heads = which ? p.num_kv_heads : p.num_heads;
        for (int64_t h = 0; h < heads; ++h) {
          const X* x = static_cast<const X*>(in.data) + b * in.batch_stride + s * in.seq_stride + h * in.head_stride;
          X* y = static_cast<X*>(out.data) + b * out.batch_stride + s * out.seq_stride + h * out.head_stride;
          for (int64_t i = 0; i < half; ++i) {
            const int64_t first = p.is_neox ? i : 2 * i, second = p.is_neox ? i + half : 2 * i + 1;
            const float c = to_float(row[i]);
            const float sn = p.inverse ? -to_float(row[half + i]) : to_float(row[half + i]);
            const float a = to_float(x[first]), bb = to_float(x[second]);
            y[first] = from_float<X>(a * c - bb * sn);
            y[second] = from_float<X>(bb * c + a * sn);
          }
          if (!p.in_place)
            for (int64_t e = p.rotary_dim; e < p.head_size; ++e) y[e] = x[e];
        }
      }
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

void run_cpu(const Problem& p) {
  switch (p.x_dtype) {
    case DType::float32: return run_with_cache_type<float>(p);
    case DType::float16: return run_with_cache_type<f16_t>(p);
    default: return run_with_cache_type<bf16_t>(p);
  }
}

}  // namespace ropekit::detail
