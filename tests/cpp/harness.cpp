#include "harness.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/numeric.hpp"

namespace ropekit::testing {
namespace {

using detail::bf16_t;
using detail::f16_t;

int64_t tokens_total(const Case& c) { return c.batch > 0 ? c.batch * c.tokens : c.tokens; }

void fill_poison(HostTensor& t) {
  if (t.view.dtype == DType::int32 || t.view.dtype == DType::int64) {
    std::memset(t.storage.data(), 0xff, t.storage.size());
  } else {
    const int64_t count = int64_t(t.storage.size()) / element_size(t.view.dtype);
    for (int64_t i = 0; i < count; ++i) t.set(i, NAN);
  }
}

// A buffer of rows: token dims [T] or [B, S + batch_gap], each row `row_elements` long.
// Returns the buffer and writes the token strides to use for views of its first rows.
HostTensor make_row_buffer(const Case& c, DType dtype, int64_t row_elements) {
  if (c.batch > 0) return make_host_tensor(dtype, {c.batch, c.tokens + c.batch_gap, row_elements});
  return make_host_tensor(dtype, {c.tokens, row_elements});
}

// The view of `heads` heads starting at element `offset` of each row of `buffer`.
TensorView head_view(const Case& c, const HostTensor& buffer, int64_t offset, int64_t heads,
                     int64_t head_stride, bool explicit_heads) {
  TensorView v;
  v.dtype = buffer.view.dtype;
  v.data = static_cast<unsigned char*>(buffer.view.data) + offset * element_size(v.dtype);
  int d = 0;
  if (c.batch > 0) {
    v.shape[d] = c.batch;
    v.strides[d++] = buffer.view.strides[0];
    v.shape[d] = c.tokens;
    v.strides[d++] = buffer.view.strides[1];
  } else {
    v.shape[d] = c.tokens;
    v.strides[d++] = buffer.view.strides[0];
  }
  if (explicit_heads) {
    v.shape[d] = heads;
    v.strides[d++] = head_stride;
    v.shape[d] = c.head_size;
    v.strides[d++] = 1;
  } else {
    v.shape[d] = heads * c.head_size;
    v.strides[d++] = 1;
  }
  v.ndim = d;
  return v;
}

void fill_uniform(HostTensor& t, std::mt19937_64& rng, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  const int64_t count = int64_t(t.storage.size()) / element_size(t.view.dtype);
  for (int64_t i = 0; i < count; ++i) t.set(i, dist(rng));
}

// Offset (elements from view.data) of element e of head h of token (b, s).
int64_t element_offset(const TensorView& v, int token_dims, int64_t b, int64_t s, int64_t h,
                       int64_t e, int64_t head_size, bool explicit_heads) {
  int64_t offset = token_dims == 2 ? b * v.strides[0] + s * v.strides[1] : s * v.strides[0];
  if (explicit_heads) return offset + h * v.strides[token_dims] + e;
  return offset + h * head_size + e;
}

double read(DType dtype, const void* base, int64_t offset) {
  switch (dtype) {
    case DType::float32: return static_cast<const float*>(base)[offset];
    case DType::float64: return static_cast<const double*>(base)[offset];
    case DType::float16: return detail::f16_to_float(static_cast<const f16_t*>(base)[offset]);
    case DType::bfloat16: return detail::bf16_to_float(static_cast<const bf16_t*>(base)[offset]);
    case DType::int32: return static_cast<const int32_t*>(base)[offset];
    case DType::int64: return double(static_cast<const int64_t*>(base)[offset]);
  }
  return NAN;
}

}  // namespace

double HostTensor::get(int64_t offset) const { return read(view.dtype, view.data, offset); }

void HostTensor::set(int64_t offset, double value) {
  switch (view.dtype) {
    case DType::float32: static_cast<float*>(view.data)[offset] = float(value); break;
    case DType::float64: static_cast<double*>(view.data)[offset] = value; break;
    case DType::float16: static_cast<f16_t*>(view.data)[offset] = detail::from_double<f16_t>(value); break;
    case DType::bfloat16: static_cast<bf16_t*>(view.data)[offset] = detail::from_double<bf16_t>(value); break;
    case DType::int32: static_cast<int32_t*>(view.data)[offset] = int32_t(value); break;
    case DType::int64: static_cast<int64_t*>(view.data)[offset] = int64_t(value); break;
  }
}

HostTensor make_host_tensor(DType dtype, const std::vector<int64_t>& shape) {
  HostTensor t;
  int64_t count = 1;
  for (int64_t size : shape) count *= size;
  // 64 bytes of slack, so a tensor of zero elements still has a valid, aligned pointer.
  t.storage.assign(size_t(count * element_size(dtype)) + 64, 0);
  t.view.data = t.storage.data();
  t.view.dtype = dtype;
  t.view.ndim = int(shape.size());
  int64_t stride = 1;
  for (int d = t.view.ndim - 1; d >= 0; --d) {
    t.view.shape[d] = shape[d];
    t.view.strides[d] = stride;
    stride *= shape[d];
  }
  fill_poison(t);
  return t;
}

std::string Case::describe() const {
  std::ostringstream out;
  out << (batch > 0 ? "B=" + std::to_string(batch) + " S=" : "T=") << tokens << " heads "
      << num_heads << "/" << num_kv_heads << " hs " << head_size << " rotary " << rotary_dim
      << (is_neox ? " neox" : " gptj") << " x " << to_string(x_dtype) << " cache "
      << to_string(cache_dtype) << " pos " << to_string(positions_dtype)
      << (fused_qkv ? " fused" : "") << (explicit_heads ? " explicit-heads" : "")
      << (out_of_place ? " out-of-place" : "") << (inverse ? " inverse" : "")
      << " pad " << token_padding << "/" << head_padding << "/" << batch_gap << "/"
      << cache_row_padding << " maxpos " << max_position;
  return out.str();
}

uint64_t fresh_seed() {
  std::random_device entropy;
  return (uint64_t(entropy()) << 32) | entropy();
}

Case random_case(std::mt19937_64& rng) {
  auto pick = [&](auto... values) {
    const std::vector<std::common_type_t<decltype(values)...>> options{values...};
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  Case c;
  c.head_size = pick(64, 80, 96, 128, 256, 32, 8);
  const int64_t rotary_choices[] = {c.head_size, c.head_size / 2, c.head_size / 4, 2,
                                    c.head_size == 96 ? 24 : c.head_size};
  c.rotary_dim = rotary_choices[std::uniform_int_distribution<int>(0, 4)(rng)];
  if (c.rotary_dim % 2) c.rotary_dim += 1;
  if (c.rotary_dim < 2) c.rotary_dim = 2;
  c.num_kv_heads = pick(0, 1, 2, 4);
  c.num_heads = (c.num_kv_heads ? c.num_kv_heads : 1) * pick(1, 2, 3, 4);
  c.batch = pick(0, 0, 1, 3);
  c.tokens = pick(1, 2, 5, 17, 33);
  c.is_neox = pick(true, false);
  c.x_dtype = pick(DType::float32, DType::float16, DType::bfloat16);
  c.cache_dtype = pick(DType::float32, DType::float16, DType::bfloat16);
  c.positions_dtype = pick(DType::int32, DType::int64);
  c.fused_qkv = c.num_kv_heads > 0 && pick(true, false);
  c.explicit_heads = pick(true, false);
  c.out_of_place = pick(true, false);
  c.inverse = pick(false, false, true);
  c.max_position = pick(1, 64, 4096);
  c.token_padding = pick(0, 0, 8, 3);
  c.head_padding = (c.explicit_heads && !c.fused_qkv) ? pick(0, 0, 8, 1) : 0;
  c.batch_gap = c.batch > 0 ? pick(0, 1) : 0;
  c.cache_row_padding = pick(0, 0, 4);
  return c;
}

Problem make_problem(const Case& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Problem p;
  p.c = c;
  const int64_t T = tokens_total(c);
  (void)T;

  p.positions = c.batch > 0 ? make_host_tensor(c.positions_dtype, {c.batch, c.tokens})
                            : make_host_tensor(c.positions_dtype, {c.tokens});
  std::uniform_int_distribution<int64_t> position_dist(0, c.max_position - 1);
  for (int64_t i = 0; i < p.positions.view.numel(); ++i)
    p.positions.set(i, double(position_dist(rng)));

  HostTensor cache_buffer =
      make_host_tensor(c.cache_dtype, {c.max_position, c.rotary_dim + c.cache_row_padding});
  fill_uniform(cache_buffer, rng, -1.0, 1.0);
  p.cache = std::move(cache_buffer);
  p.cache.view.shape[1] = c.rotary_dim;  // a view of the first rotary_dim columns of each row

  const int64_t head_stride = c.head_size + c.head_padding;
  if (c.fused_qkv) {
    const int64_t row = (c.num_heads + 2 * c.num_kv_heads) * c.head_size + c.token_padding;
    p.qkv = make_row_buffer(c, c.x_dtype, row);
    fill_uniform(p.qkv, rng, -2.0, 2.0);
    p.query_view = head_view(c, p.qkv, 0, c.num_heads, c.head_size, c.explicit_heads);
    p.key_view = head_view(c, p.qkv, c.num_heads * c.head_size, c.num_kv_heads, c.head_size,
                           c.explicit_heads);
    p.snapshot = p.qkv.storage;
  } else {
    p.query = make_row_buffer(c, c.x_dtype, c.num_heads * head_stride + c.token_padding);
    fill_uniform(p.query, rng, -2.0, 2.0);
    p.query_view = head_view(c, p.query, 0, c.num_heads, head_stride, c.explicit_heads);
    p.snapshot = p.query.storage;
    if (c.num_kv_heads > 0) {
      p.key = make_row_buffer(c, c.x_dtype, c.num_kv_heads * head_stride + c.token_padding);
      fill_uniform(p.key, rng, -2.0, 2.0);
      p.key_view = head_view(c, p.key, 0, c.num_kv_heads, head_stride, c.explicit_heads);
      p.snapshot.insert(p.snapshot.end(), p.key.storage.begin(), p.key.storage.end());
    }
  }
  if (c.out_of_place) {
    // Outputs get their own layout (explicit heads, one element of padding per token).
    Case out_case = c;
    out_case.token_padding = 1;
    out_case.batch_gap = 0;
    p.query_out = make_row_buffer(out_case, c.x_dtype, c.num_heads * c.head_size + 1);
    if (c.num_kv_heads > 0)
      p.key_out = make_row_buffer(out_case, c.x_dtype, c.num_kv_heads * c.head_size + 1);
  }
  return p;
}

RotaryArgs Problem::args(Backend backend) const {
  RotaryArgs a;
  a.positions = positions.view;
  a.query = query_view;
  if (c.num_kv_heads > 0) a.key = key_view;
  a.head_size = c.head_size;
  a.cos_sin_cache = cache.view;
  a.is_neox = c.is_neox;
  a.inverse = c.inverse;
  a.backend = backend;
  if (c.out_of_place) {
    Case out_case = c;
    out_case.batch_gap = 0;
    a.query_out = head_view(out_case, query_out, 0, c.num_heads, c.head_size, c.explicit_heads);
    if (c.num_kv_heads > 0)
      a.key_out = head_view(out_case, key_out, 0, c.num_kv_heads, c.head_size, c.explicit_heads);
  }
  return a;
}

double tolerance(DType dtype, double expected, double product_magnitude) {
  const double magnitude = std::fabs(expected);
  int mantissa_bits = 23;
  double smallest = std::ldexp(1.0, -149);
  if (dtype == DType::float16) {
    mantissa_bits = 10;
    smallest = std::ldexp(1.0, -24);
  } else if (dtype == DType::bfloat16) {
    mantissa_bits = 7;
    smallest = std::ldexp(1.0, -133);
  }
  const double ulp =
      magnitude > 0 ? std::ldexp(1.0, std::ilogb(magnitude) - mantissa_bits) : smallest;
  return std::max(ulp, smallest) + 8.0 * std::ldexp(1.0, -24) * product_magnitude;
}

std::string check_result(const Problem& p) {
  const Case& c = p.c;
  const RotaryArgs args = p.args(Backend::automatic);
  const int token_dims = c.batch > 0 ? 2 : 1;
  const int64_t batches = c.batch > 0 ? c.batch : 1;
  const int64_t half = c.rotary_dim / 2;
  std::ostringstream errors;
  int error_count = 0;
  auto report = [&](const std::string& what) {
    if (error_count++ < 8) errors << what << "\n";
  };

  // Input bytes as they were, viewed through the same offsets as the live buffers.
  const unsigned char* live_base = static_cast<const unsigned char*>(
      c.fused_qkv ? p.qkv.view.data : p.query.view.data);
  const size_t query_bytes = c.fused_qkv ? p.qkv.storage.size() : p.query.storage.size();
  const auto snapshot_of = [&](const TensorView& live, bool is_key) -> const void* {
    const unsigned char* base = static_cast<const unsigned char*>(
        c.fused_qkv ? p.qkv.view.data : (is_key ? p.key.view.data : p.query.view.data));
    const size_t shift = (!c.fused_qkv && is_key) ? query_bytes : 0;
    return p.snapshot.data() + shift + (static_cast<const unsigned char*>(live.data) - base);
  };
  (void)live_base;

  // Elements of the inputs that the op may change in place (the rotary parts).
  std::vector<char> rotary_mask(p.snapshot.size(), 0);

  for (int which = 0; which < (c.num_kv_heads > 0 ? 2 : 1); ++which) {
    const bool is_key = which == 1;
    const TensorView& in = is_key ? *args.key : args.query;
    const TensorView& out = c.out_of_place ? (is_key ? *args.key_out : *args.query_out) : in;
    const void* original = snapshot_of(in, is_key);
    const int64_t heads = is_key ? c.num_kv_heads : c.num_heads;
    const unsigned char* in_buffer_base = static_cast<const unsigned char*>(
        c.fused_qkv ? p.qkv.view.data : (is_key ? p.key.view.data : p.query.view.data));
    const size_t mask_shift = (!c.fused_qkv && is_key) ? query_bytes : 0;
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t s = 0; s < c.tokens; ++s) {
        const int64_t position = int64_t(
            p.positions.get(token_dims == 2 ? b * c.tokens + s : s));
        const int64_t row = position * p.cache.view.strides[0];
        for (int64_t h = 0; h < heads; ++h) {
          const auto offset_in = [&](int64_t e) {
            return element_offset(in, token_dims, b, s, h, e, c.head_size, c.explicit_heads);
          };
          const auto offset_out = [&](int64_t e) {
            return element_offset(out, token_dims, b, s, h, e, c.head_size, c.explicit_heads);
          };
          for (int64_t i = 0; i < half; ++i) {
            const int64_t first = c.is_neox ? i : 2 * i;
            const int64_t second = c.is_neox ? i + half : 2 * i + 1;
            const double cos_v = p.cache.get(row + i);
            const double sin_v = (c.inverse ? -1.0 : 1.0) * p.cache.get(row + half + i);
            const double x1 = read(c.x_dtype, original, offset_in(first));
            const double x2 = read(c.x_dtype, original, offset_in(second));
            const double expected[2] = {x1 * cos_v - x2 * sin_v, x2 * cos_v + x1 * sin_v};
            // Each output's own products: x1 cos and x2 sin for the first, x2 cos and x1 sin
            // for the second (one sum for both under-tolerated the second when x2 cos was
            // small and x1 sin large: a 1-ulp float32 difference failed on the H200).
            const double magnitude[2] = {std::fabs(x1 * cos_v) + std::fabs(x2 * sin_v),
                                         std::fabs(x2 * cos_v) + std::fabs(x1 * sin_v)};
            const int64_t elements[2] = {first, second};
            for (int k = 0; k < 2; ++k) {
              const double got = read(c.x_dtype, out.data, offset_out(elements[k]));
              const double tol = tolerance(c.x_dtype, expected[k], magnitude[k]);
              if (!(std::fabs(got - expected[k]) <= tol)) {
                std::ostringstream what;
                what << (is_key ? "key" : "query") << " token (" << b << "," << s << ") head "
                     << h << " element " << elements[k] << ": got " << got << ", expected "
                     << expected[k] << " (tolerance " << tol << ")";
                report(what.str());
              }
              const size_t byte = mask_shift +
                  size_t(static_cast<const unsigned char*>(in.data) - in_buffer_base) +
                  size_t(offset_in(elements[k]) * element_size(c.x_dtype));
              for (int64_t k2 = 0; k2 < element_size(c.x_dtype); ++k2) rotary_mask[byte + k2] = 1;
            }
          }
          if (c.out_of_place) {
            for (int64_t e = c.rotary_dim; e < c.head_size; ++e) {
              const double want = read(c.x_dtype, original, offset_in(e));
              const double got = read(c.x_dtype, out.data, offset_out(e));
              if (!(got == want || (std::isnan(got) && std::isnan(want))))
                report("pass-through element " + std::to_string(e) + " not copied");
            }
          }
        }
      }
  }

  // Everything else in the input buffers is untouched (pass-through tails, padding, the v part of
  // a fused buffer); out of place, nothing in the inputs changes at all.
  const auto check_untouched = [&](const HostTensor& buffer, size_t shift, const char* name) {
    for (size_t i = 0; i < buffer.storage.size(); ++i) {
      const bool may_change = !c.out_of_place && rotary_mask[shift + i];
      if (!may_change && buffer.storage[i] != p.snapshot[shift + i]) {
        report(std::string(name) + ": byte " + std::to_string(i) +
               " outside the rotary part was modified");
        break;
      }
    }
  };
  if (c.fused_qkv) {
    check_untouched(p.qkv, 0, "qkv");
  } else {
    check_untouched(p.query, 0, "query buffer");
    if (c.num_kv_heads > 0) check_untouched(p.key, query_bytes, "key buffer");
  }
  // Out of place: the output padding stays poisoned (nothing written outside the views).
  if (c.out_of_place) {
    const auto check_padding = [&](const HostTensor& buffer, const char* name) {
      const int64_t row = buffer.view.shape[buffer.view.ndim - 1];
      const int64_t rows = buffer.view.numel() / row;
      for (int64_t r = 0; r < rows; ++r)
        if (!std::isnan(buffer.get(r * row + row - 1)))
          report(std::string(name) + ": padding element of row " + std::to_string(r) +
                 " was written");
    };
    check_padding(p.query_out, "query_out");
    if (c.num_kv_heads > 0) check_padding(p.key_out, "key_out");
  }
  if (error_count > 8) errors << "... " << (error_count - 8) << " more\n";
  return errors.str();
}

}  // namespace ropekit::testing
