#include "host_problem.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "core/numeric.hpp"
#include "ropekit/cache.hpp"

namespace ropekit::check {
namespace {

using detail::bf16_t;
using detail::f16_t;

// Uniform doubles in [low, high) from 24 random bits: plenty for test data and several times
// faster than std::uniform_real_distribution on the hundreds of MB a large benchmark case needs.
class UniformSource {
 public:
  explicit UniformSource(uint64_t seed) : engine_(seed) {}
  double next(double low, double high) {
    return low + (high - low) * double(engine_() >> 40) * 0x1p-24;
  }
  uint64_t bits() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

int64_t element_count(const HostTensor& t) {
  return int64_t(t.storage.size()) / element_size(t.view.dtype);
}

void fill_poison(HostTensor& t) {
  if (t.view.dtype == DType::int32 || t.view.dtype == DType::int64) {
    std::memset(t.storage.data(), 0xff, t.storage.size());
  } else {
    for (int64_t i = 0; i < element_count(t); ++i) t.set(i, NAN);
  }
}

void fill_uniform(HostTensor& t, UniformSource& source, double low, double high) {
  for (int64_t i = 0; i < element_count(t); ++i) t.set(i, source.next(low, high));
}

// A buffer of rows: token dims [T] or [B, S + batch_gap], each row `row_elements` long.
HostTensor make_row_buffer(const Case& c, DType dtype, int64_t row_elements) {
  if (c.batch > 0) return make_host_tensor(dtype, {c.batch, c.tokens + c.batch_gap, row_elements});
  return make_host_tensor(dtype, {c.tokens, row_elements});
}

// The view of `heads` heads starting at element `offset` of each row of `buffer`.
TensorView head_view(const Case& c, const HostTensor& buffer, int64_t offset, int64_t heads,
                     int64_t head_stride) {
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
  if (c.explicit_heads) {
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

// Outputs get their own layout: one element of padding per token (it must stay poisoned), no
// gap between batches.
Case output_layout(const Case& c) {
  Case out = c;
  out.token_padding = 1;
  out.batch_gap = 0;
  return out;
}

}  // namespace

double read_element(DType dtype, const void* base, int64_t offset) {
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

double HostTensor::get(int64_t offset) const { return read_element(view.dtype, view.data, offset); }

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

Problem make_problem(const Case& c, uint64_t seed) {
  UniformSource source(seed);
  Problem p;
  p.c = c;
  p.positions = c.mrope()     ? make_host_tensor(c.positions_dtype, {3, c.tokens})
                : c.batch > 0 ? make_host_tensor(c.positions_dtype, {c.batch, c.tokens})
                              : make_host_tensor(c.positions_dtype, {c.tokens});
  for (int64_t i = 0; i < p.positions.view.numel(); ++i)
    p.positions.set(i, double(source.bits() % uint64_t(c.max_position)));
  p.positions_snapshot = p.positions.storage;

  p.cache = make_host_tensor(c.cache_dtype, {c.max_position, c.rotary_dim + c.cache_row_padding});
  p.cache.view.shape[1] = c.rotary_dim;  // a view of the first rotary_dim columns of each row
  if (c.rope_cache)
    build_cos_sin_cache(default_inv_freq(10000.0, c.rotary_dim), 1.0, p.cache.view);
  else
    fill_uniform(p.cache, source, -1.0, 1.0);
  p.cache_snapshot = p.cache.storage;

  const int64_t head_stride = c.head_size + c.head_padding;
  if (c.fused_qkv) {
    const int64_t row = (c.num_heads + 2 * c.num_kv_heads) * c.head_size + c.token_padding;
    p.qkv = make_row_buffer(c, c.x_dtype, row);
    fill_uniform(p.qkv, source, -2.0, 2.0);
    p.query_view = head_view(c, p.qkv, 0, c.num_heads, c.head_size);
    p.key_view = head_view(c, p.qkv, c.num_heads * c.head_size, c.num_kv_heads, c.head_size);
    p.snapshot = p.qkv.storage;
  } else {
    p.query = make_row_buffer(c, c.x_dtype, c.num_heads * head_stride + c.token_padding);
    fill_uniform(p.query, source, -2.0, 2.0);
    p.query_view = head_view(c, p.query, 0, c.num_heads, head_stride);
    p.snapshot = p.query.storage;
    if (c.num_kv_heads > 0) {
      p.key = make_row_buffer(c, c.x_dtype, c.num_kv_heads * head_stride + c.token_padding);
      fill_uniform(p.key, source, -2.0, 2.0);
      p.key_view = head_view(c, p.key, 0, c.num_kv_heads, head_stride);
      p.snapshot.insert(p.snapshot.end(), p.key.storage.begin(), p.key.storage.end());
    }
  }
  if (c.out_of_place) {
    const Case out = output_layout(c);
    p.query_out = make_row_buffer(out, c.x_dtype, c.num_heads * c.head_size + out.token_padding);
    if (c.num_kv_heads > 0)
      p.key_out = make_row_buffer(out, c.x_dtype, c.num_kv_heads * c.head_size + out.token_padding);
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
  if (c.mrope()) {
    a.mrope_section = c.mrope_section;
    a.mrope_interleaved = c.mrope_interleaved;
  }
  if (c.out_of_place) {
    const Case out = output_layout(c);
    a.query_out = head_view(out, query_out, 0, c.num_heads, c.head_size);
    if (c.num_kv_heads > 0) a.key_out = head_view(out, key_out, 0, c.num_kv_heads, c.head_size);
  }
  return a;
}

void Problem::restore() {
  // Copies into the existing storage: the views keep pointing at it.
  const auto copy_from = [](const std::vector<unsigned char>& source, size_t offset,
                            HostTensor& target) {
    std::copy_n(source.begin() + std::ptrdiff_t(offset), target.storage.size(),
                target.storage.begin());
  };
  copy_from(positions_snapshot, 0, positions);
  copy_from(cache_snapshot, 0, cache);
  if (c.fused_qkv) {
    copy_from(snapshot, 0, qkv);
  } else {
    copy_from(snapshot, 0, query);
    if (c.num_kv_heads > 0) copy_from(snapshot, query.storage.size(), key);
  }
  for (HostTensor* output : {&query_out, &key_out})
    if (!output->storage.empty()) fill_poison(*output);
}

std::vector<HostTensor*> Problem::buffers() {
  std::vector<HostTensor*> all;
  for (HostTensor* t : {&positions, &cache, &qkv, &query, &key, &query_out, &key_out})
    if (!t->storage.empty()) all.push_back(t);
  return all;
}

std::vector<const HostTensor*> Problem::buffers() const {
  std::vector<const HostTensor*> all;
  for (const HostTensor* t : {&positions, &cache, &qkv, &query, &key, &query_out, &key_out})
    if (!t->storage.empty()) all.push_back(t);
  return all;
}

}  // namespace ropekit::check
