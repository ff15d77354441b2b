#include "problem_buffers.hpp"

#include <cmath>
#include <random>
#include <sstream>

#include "element_access.hpp"

namespace ropekit::cli {
namespace {

// Uniform doubles in [low, high) from 24 random bits: plenty for test data and several times
// faster than std::uniform_real_distribution on the hundreds of MB a large bench case needs.
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

void fill_uniform(Buffer& buffer, UniformSource& source, double low, double high) {
  for (int64_t i = 0; i < buffer.elements(); ++i)
    store_element(buffer.dtype, buffer.initial.data(), i, source.next(low, high));
}

void fill_nan(Buffer& buffer) {
  for (int64_t i = 0; i < buffer.elements(); ++i)
    store_element(buffer.dtype, buffer.initial.data(), i, NAN);
}

}  // namespace

std::string ProblemSpec::describe() const {
  std::ostringstream out;
  out << (batch > 0 ? "B=" + std::to_string(batch) + " S=" : "T=") << tokens << " heads "
      << num_heads << "/" << num_kv_heads << " hs " << head_size << " rotary " << rotary_dim
      << (is_neox ? " neox" : " gptj") << " x " << to_string(x_dtype) << " cache "
      << to_string(cache_dtype) << " positions " << to_string(positions_dtype) << " maxpos "
      << max_position << (fused_qkv ? " fused-qkv" : "")
      << (explicit_heads ? " [..,heads,hs]" : "") << (out_of_place ? " out-of-place" : "")
      << (inverse ? " inverse" : "");
  if (token_padding || head_padding || batch_gap)
    out << " padding token/head/batch " << token_padding << "/" << head_padding << "/" << batch_gap;
  return out.str();
}

std::vector<unsigned char> make_rope_cache_bytes(int64_t max_position, int64_t rotary_dim,
                                                 DType dtype) {
  std::vector<unsigned char> bytes(size_t(max_position * rotary_dim * element_size(dtype)));
  TensorView view = make_contiguous_view(bytes.data(), dtype, {max_position, rotary_dim});
  build_cos_sin_cache(default_inv_freq(10000.0, rotary_dim), 1.0, view);
  return bytes;
}

ProblemBuffers::ProblemBuffers(DeviceOps& ops, const ProblemSpec& spec, uint64_t seed,
                               const std::vector<unsigned char>* cache_bytes)
    : ops_(ops), spec_(spec) {
  UniformSource source(seed);
  const int64_t T = spec.total_tokens();
  const int64_t rows = spec.batch > 0 ? spec.batch * (spec.tokens + spec.batch_gap) : spec.tokens;

  positions_ = add_buffer("positions", spec.positions_dtype, T);
  for (int64_t i = 0; i < T; ++i)
    store_element(spec.positions_dtype, buffers_[positions_].initial.data(), i,
                  double(source.bits() % uint64_t(spec.max_position)));

  cache_ = add_buffer("cos_sin_cache", spec.cache_dtype, spec.max_position * spec.rotary_dim);
  if (cache_bytes == nullptr) {
    fill_uniform(buffers_[cache_], source, -1.0, 1.0);
  } else if (cache_bytes->size() == buffers_[cache_].initial.size()) {
    buffers_[cache_].initial = *cache_bytes;
  } else {
    throw Error("cos_sin_cache: expected " + std::to_string(buffers_[cache_].initial.size()) +
                " bytes of initial data, got " + std::to_string(cache_bytes->size()));
  }

  const int64_t hs = spec.head_size;
  const int64_t nh = spec.num_heads;
  const int64_t nkv = spec.num_kv_heads;
  if (spec.fused_qkv) {
    const int64_t row = (nh + 2 * nkv) * hs + spec.token_padding;
    const int qkv = add_buffer("qkv", spec.x_dtype, rows * row);
    fill_uniform(buffers_[qkv], source, -2.0, 2.0);
    query_ = row_operand(qkv, row, 0, nh, hs);
    if (nkv > 0) key_ = row_operand(qkv, row, nh * hs, nkv, hs);
  } else {
    // Heads [.., heads, head_size] may be strided; a flattened [.., heads * head_size] cannot.
    const int64_t head_stride = hs + (spec.explicit_heads ? spec.head_padding : 0);
    const int64_t query_row = nh * head_stride + spec.token_padding;
    const int query = add_buffer("query", spec.x_dtype, rows * query_row);
    fill_uniform(buffers_[query], source, -2.0, 2.0);
    query_ = row_operand(query, query_row, 0, nh, head_stride);
    if (nkv > 0) {
      const int64_t key_row = nkv * head_stride + spec.token_padding;
      const int key = add_buffer("key", spec.x_dtype, rows * key_row);
      fill_uniform(buffers_[key], source, -2.0, 2.0);
      key_ = row_operand(key, key_row, 0, nkv, head_stride);
    }
  }
  if (spec.out_of_place) {
    // One element of padding per row: outputs are strided too, and the padding must stay NaN.
    const int64_t out_rows = spec.batch > 0 ? spec.batch * spec.tokens : spec.tokens;
    const int query_out = add_buffer("query_out", spec.x_dtype, out_rows * (nh * hs + 1));
    fill_nan(buffers_[query_out]);
    query_out_ = row_operand(query_out, nh * hs + 1, 0, nh, hs);
    query_out_.batch_stride = spec.tokens * (nh * hs + 1);
    if (nkv > 0) {
      const int key_out = add_buffer("key_out", spec.x_dtype, out_rows * (nkv * hs + 1));
      fill_nan(buffers_[key_out]);
      key_out_ = row_operand(key_out, nkv * hs + 1, 0, nkv, hs);
      key_out_.batch_stride = spec.tokens * (nkv * hs + 1);
    }
  }
  restore();
}

ProblemBuffers::~ProblemBuffers() {
  for (Buffer& buffer : buffers_) ops_.release(buffer.device_data);
}

int ProblemBuffers::add_buffer(const std::string& name, DType dtype, int64_t elements) {
  Buffer buffer;
  buffer.name = name;
  buffer.dtype = dtype;
  buffer.initial.resize(size_t(elements * element_size(dtype)));
  buffer.device_data = ops_.allocate(buffer.initial.size());
  buffers_.push_back(std::move(buffer));
  return int(buffers_.size()) - 1;
}

HeadOperand ProblemBuffers::row_operand(int buffer, int64_t row_elements, int64_t offset,
                                        int64_t heads, int64_t head_stride) const {
  HeadOperand operand;
  operand.buffer = buffer;
  operand.offset = offset;
  operand.seq_stride = row_elements;
  operand.batch_stride = (spec_.tokens + spec_.batch_gap) * row_elements;
  operand.head_stride = head_stride;
  operand.heads = heads;
  return operand;
}

TensorView ProblemBuffers::head_view(const HeadOperand& operand) const {
  const Buffer& buffer = buffers_[operand.buffer];
  TensorView view;
  view.dtype = buffer.dtype;
  view.device = ops_.device();
  view.data = static_cast<unsigned char*>(buffer.device_data) +
              operand.offset * element_size(buffer.dtype);
  int d = 0;
  if (spec_.batch > 0) {
    view.shape[d] = spec_.batch;
    view.strides[d++] = operand.batch_stride;
  }
  view.shape[d] = spec_.tokens;
  view.strides[d++] = operand.seq_stride;
  if (spec_.explicit_heads) {
    view.shape[d] = operand.heads;
    view.strides[d++] = operand.head_stride;
    view.shape[d] = spec_.head_size;
    view.strides[d++] = 1;
  } else {
    view.shape[d] = operand.heads * spec_.head_size;
    view.strides[d++] = 1;
  }
  view.ndim = d;
  return view;
}

RotaryArgs ProblemBuffers::args(Backend backend) const {
  RotaryArgs args;
  const Buffer& positions = buffers_[positions_];
  args.positions =
      spec_.batch > 0
          ? make_contiguous_view(positions.device_data, positions.dtype,
                                 {spec_.batch, spec_.tokens}, ops_.device())
          : make_contiguous_view(positions.device_data, positions.dtype, {spec_.tokens},
                                 ops_.device());
  args.cos_sin_cache = make_contiguous_view(buffers_[cache_].device_data, spec_.cache_dtype,
                                            {spec_.max_position, spec_.rotary_dim}, ops_.device());
  args.query = head_view(query_);
  if (key_.present()) args.key = head_view(key_);
  if (spec_.out_of_place) {
    args.query_out = head_view(query_out_);
    if (key_.present()) args.key_out = head_view(key_out_);
  }
  args.head_size = spec_.head_size;
  args.is_neox = spec_.is_neox;
  args.inverse = spec_.inverse;
  args.backend = backend;
  args.stream = ops_.stream();
  return args;
}

void ProblemBuffers::restore() {
  for (Buffer& buffer : buffers_)
    ops_.copy_to_device(buffer.device_data, buffer.initial.data(), buffer.initial.size());
}

std::vector<std::vector<unsigned char>> ProblemBuffers::download() const {
  std::vector<std::vector<unsigned char>> result;
  for (const Buffer& buffer : buffers_) {
    result.emplace_back(buffer.initial.size());
    ops_.copy_to_host(result.back().data(), buffer.device_data, buffer.initial.size());
  }
  return result;
}

}  // namespace ropekit::cli
