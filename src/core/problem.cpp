#include "core/problem.hpp"

#include <limits>
#include <string>

#include "core/checked.hpp"
#include "core/overlap.hpp"
#include "ropekit/error.hpp"

namespace ropekit::detail {
namespace {

// Formatted with std::to_string, not iostreams: in a PyTorch process on the GPU machine, formatting
// an integer through an ostringstream inside libropekit crashed (a segfault in the stream's locale
// facets; seen with torch 2.11 and GCC 13), and these strings are built on every error path.
std::string join_dims(const int64_t* values, int ndim, char open, char close) {
  std::string text(1, open);
  for (int d = 0; d < ndim; ++d) text += (d ? ", " : "") + std::to_string(values[d]);
  return text + close;
}

std::string shape_string(const TensorView& t) { return join_dims(t.shape.data(), t.ndim, '[', ']'); }

std::string strides_string(const TensorView& t) { return join_dims(t.strides.data(), t.ndim, '(', ')'); }

[[noreturn]] void fail(const std::string& name, const std::string& message) {
  throw Error(name + ": " + message);
}

bool is_float_dtype(DType d) {
  return d == DType::float32 || d == DType::float16 || d == DType::bfloat16;
}

// Checks what every tensor argument needs: sane rank, shape and strides, data present and aligned,
// and every element's offset representable.
void check_tensor_basics(const std::string& name, const TensorView& t) {
  if (t.ndim < 1 || t.ndim > kMaxDims)
    fail(name, "expected 1 to " + std::to_string(kMaxDims) + " dimensions, got " +
                   std::to_string(t.ndim));
  int64_t max_offset = 0;
  bool empty = false;
  for (int d = 0; d < t.ndim; ++d) {
    if (t.shape[d] < 0) fail(name, "negative size in shape " + shape_string(t));
    if (t.strides[d] < 0)
      fail(name, "expected non-negative strides, got " + strides_string(t));
    if (t.shape[d] == 0) empty = true;
  }
  if (empty) return;
  for (int d = 0; d < t.ndim; ++d) {
    const std::optional<int64_t> extent = checked_mul(t.shape[d] - 1, t.strides[d]);
    const std::optional<int64_t> offset = extent ? checked_add(max_offset, *extent) : std::nullopt;
    // Also its byte offset (elements are at most 8 bytes) must fit.
    if (!offset || *offset > std::numeric_limits<int64_t>::max() / 8)
      fail(name, "shape " + shape_string(t) + " with strides " + strides_string(t) +
                     " addresses more elements than fit in 64 bits");
    max_offset = *offset;
  }
  if (t.data == nullptr) fail(name, "data pointer is null for a non-empty tensor");
  const auto address = reinterpret_cast<uintptr_t>(t.data);
  const auto last_byte = static_cast<uintptr_t>((max_offset + 1) * element_size(t.dtype) - 1);
  if (last_byte > UINTPTR_MAX - address)
    fail(name, "shape " + shape_string(t) + " with strides " + strides_string(t) +
                   " reaches past the end of the address space from its data pointer");
  if (address % static_cast<uintptr_t>(element_size(t.dtype)) != 0)
    fail(name, "data pointer is not aligned to its element size " +
                   std::to_string(element_size(t.dtype)));
}

void check_same_device(const std::string& name, const TensorView& t, const TensorView& query) {
  if (t.device != query.device || t.device_id != query.device_id)
    fail(name, "expected the device of query (" + to_string(query.device) + ":" +
                   std::to_string(query.device_id) + "), got " + to_string(t.device) + ":" +
                   std::to_string(t.device_id));
}

// query or key (or an output): token dimensions first (as many as positions has), then either one
// flattened num_heads*head_size dimension or [num_heads, head_size].
struct HeadTensorShape {
  int64_t num_heads = 0;
  HeadLayout layout;
};

HeadTensorShape parse_head_tensor(const std::string& name, const TensorView& t,
                                  const TensorView& positions, int64_t head_size) {
  check_tensor_basics(name, t);
  if (!is_float_dtype(t.dtype))
    fail(name, "expected dtype float32, float16 or bfloat16, got " + to_string(t.dtype));
  const int token_dims = positions.ndim;
  if (t.ndim != token_dims + 1 && t.ndim != token_dims + 2)
    fail(name, "with positions of " + std::to_string(token_dims) + " dimension(s) expected " +
                   std::to_string(token_dims + 1) + " or " + std::to_string(token_dims + 2) +
                   " dimensions, got shape " + shape_string(t));
  for (int d = 0; d < token_dims; ++d)
    if (t.shape[d] != positions.shape[d])
      fail(name, "token dimensions must match positions " + shape_string(positions) +
                     ", got shape " + shape_string(t));
  const int last = t.ndim - 1;
  if (t.shape[last] > 1 && t.strides[last] != 1)
    fail(name, "expected a contiguous last dimension (stride 1), got strides " +
                   strides_string(t));
  HeadTensorShape result;
  if (t.ndim == token_dims + 2) {
    if (t.shape[last] != head_size)
      fail(name, "expected last dimension head_size = " + std::to_string(head_size) + ", got " +
                     std::to_string(t.shape[last]) + " (shape " + shape_string(t) + ")");
    result.num_heads = t.shape[last - 1];
    result.layout.head_stride = t.strides[last - 1];
  } else {
    if (t.shape[last] % head_size != 0)
      fail(name, "expected last dimension num_heads * head_size, a multiple of head_size = " +
                     std::to_string(head_size) + ", got " + std::to_string(t.shape[last]));
    result.num_heads = t.shape[last] / head_size;
    result.layout.head_stride = head_size;
  }
  if (result.num_heads < 1) fail(name, "expected at least one head, got shape " + shape_string(t));
  result.layout.data = t.data;
  if (token_dims == 1) {
    result.layout.batch_stride = 0;
    result.layout.seq_stride = t.strides[0];
  } else {
    result.layout.batch_stride = t.strides[0];
    result.layout.seq_stride = t.strides[1];
  }
  return result;
}

void check_output_matches(const std::string& name, const TensorView& out, const TensorView& in,
                          const std::string& in_name) {
  if (out.dtype != in.dtype)
    fail(name, "expected dtype " + to_string(in.dtype) + " of " + in_name + ", got " +
                   to_string(out.dtype));
  bool same_shape = out.ndim == in.ndim;
  for (int d = 0; same_shape && d < in.ndim; ++d) same_shape = out.shape[d] == in.shape[d];
  if (!same_shape)
    fail(name, "expected the shape of " + in_name + " " + shape_string(in) + ", got " +
                   shape_string(out));
}

// Multimodal RoPE positions [3, T]: the token dimension alone, as a [T] view of the t stream, is
// what the query/key shapes are checked against.
TensorView mrope_token_view(const TensorView& positions) {
  if (positions.ndim != 2 || positions.shape[0] != 3)
    fail("positions", "with mrope_section expected shape [3, T] (temporal, height, width), got " +
                          shape_string(positions));
  TensorView tokens = positions;
  tokens.ndim = 1;
  tokens.shape[0] = positions.shape[1];
  tokens.strides[0] = positions.strides[1];
  return tokens;
}

void check_mrope_section(const RotaryArgs& args, int64_t rotary_dim) {
  const std::array<int64_t, 3>& s = *args.mrope_section;
  const std::optional<int64_t> first_two = checked_add(s[0], s[1]);
  const std::optional<int64_t> sum = first_two ? checked_add(*first_two, s[2]) : std::nullopt;
  if (s[0] < 0 || s[1] < 0 || s[2] < 0 || sum != rotary_dim / 2)
    fail("mrope_section", "expected 3 non-negative sizes summing to rotary_dim / 2 = " +
                              std::to_string(rotary_dim / 2) + ", got [" + std::to_string(s[0]) +
                              ", " + std::to_string(s[1]) + ", " + std::to_string(s[2]) + "]");
  if (!args.is_neox)
    fail("mrope_section", "multimodal RoPE rotates NeoX pairs: expected is_neox = true, got false");
}

// Every element a call rotates is counted in int64 (the cpu backend splits work by it).
void check_element_counts(const Problem& p) {
  const auto count = [&](const std::string& name, int64_t heads) {
    const std::optional<int64_t> per_token = checked_mul(heads, p.head_size);
    const std::optional<int64_t> total =
        per_token ? checked_mul(p.num_tokens(), *per_token) : std::nullopt;
    if (!total)
      fail(name, "expected at most " + std::to_string(std::numeric_limits<int64_t>::max()) +
                     " elements, got " + std::to_string(p.num_tokens()) + " tokens x " +
                     std::to_string(heads) + " heads x head_size " + std::to_string(p.head_size) +
                     ", which overflows int64");
    return *total;
  };
  const int64_t query_elements = count("query", p.num_heads);
  if (!p.has_key) return;
  const int64_t key_elements = count("key", p.num_kv_heads);
  if (!checked_add(query_elements, key_elements))
    fail("key", "expected query and key elements to sum to at most " +
                    std::to_string(std::numeric_limits<int64_t>::max()) + ", got " +
                    std::to_string(query_elements) + " + " + std::to_string(key_elements));
}

// The CUDA kernels index heads, elements of a head and MRoPE bounds in 32 bits (RotaryParams);
// larger values would be narrowed at launch, so they are refused here, before any device work.
void check_cuda_index_limits(const Problem& p) {
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const auto limit = [&](const std::string& name, const std::string& what, int64_t value,
                         int64_t most) {
    if (value > most)
      fail(name, "expected " + what + " at most " + std::to_string(most) +
                     " on cuda (the kernels index it in 32 bits), got " + std::to_string(value));
  };
  limit("query", "num_heads", p.num_heads, kMax);
  limit("key", "num_heads + num_kv_heads", p.num_heads + p.num_kv_heads, kMax);
  limit("head_size", "head_size", p.head_size, kMax);
  // rotary_dim <= head_size; interleaved MRoPE passes bounds of 3 * section <= 3 * rotary_dim / 2.
  if (p.mrope_interleaved) limit("cos_sin_cache", "rotary_dim", p.rotary_dim, kMax / 3 * 2);
}

// Exactly the input's elements in the same order: each is read, then written, by one thread.
// Strides of dimensions of size 1 address nothing and may differ.
bool same_elements(const HeadLayout& out, const HeadLayout& in, const Problem& p, int64_t heads) {
  return out.data == in.data && (p.batch == 1 || out.batch_stride == in.batch_stride) &&
         (p.seq == 1 || out.seq_stride == in.seq_stride) &&
         (heads == 1 || out.head_stride == in.head_stride);
}

struct NamedView {
  const char* name;
  const TensorView* view;
};

[[noreturn]] void fail_shared(const NamedView& a, const NamedView& b, Overlap found,
                              const std::string& why) {
  if (found == Overlap::unknown)
    fail(b.name, std::string("cannot prove it shares no memory with ") + a.name +
                     " (strides too irregular to check); " + why);
  fail(b.name, std::string("shares memory with ") + a.name + "; " + why);
}

// Every tensor the call writes must not alias itself, the other written tensor, or anything the
// call reads (a write could change a later read: positions, the cache, the other inputs). The
// one allowed alias is an output that is exactly its input (in place).
void check_no_shared_memory(const RotaryArgs& args, const Problem& p) {
  std::array<NamedView, 2> written{};
  std::array<const TensorView*, 2> own_input{};
  int num_written = 0;
  const auto add_written = [&](const char* name, const TensorView& view, const TensorView& input) {
    own_input[num_written] = &input;
    written[num_written++] = {name, &view};
  };
  add_written(args.query_out ? "query_out" : "query", args.query_out ? *args.query_out : args.query,
              args.query);
  if (args.key)
    add_written(args.key_out ? "key_out" : "key", args.key_out ? *args.key_out : *args.key,
                *args.key);
  std::array<NamedView, 4> read{};
  int num_read = 0;
  read[num_read++] = {"positions", &args.positions};
  read[num_read++] = {"cos_sin_cache", &args.cos_sin_cache};
  if (args.query_out) read[num_read++] = {"query", &args.query};
  if (args.key_out) read[num_read++] = {"key", &*args.key};

  const std::array<bool, 2> exactly_in_place = {
      same_elements(p.query_out, p.query_in, p, p.num_heads),
      same_elements(p.key_out, p.key_in, p, p.num_kv_heads)};
  std::array<Footprint, 2> written_bytes;
  std::array<Footprint, 4> read_bytes;
  for (int r = 0; r < num_read; ++r) read_bytes[r] = footprint_of(*read[r].view);
  for (int w = 0; w < num_written; ++w) {
    const Footprint& out = written_bytes[w] = footprint_of(*written[w].view);
    const Overlap self = internal_overlap(out);
    if (self != Overlap::none) {
      const std::string found =
          self == Overlap::some ? "elements overlap" : "cannot prove elements do not overlap";
      fail(written[w].name, found + " in memory (shape " + shape_string(*written[w].view) +
                                ", strides " + strides_string(*written[w].view) +
                                "): a tensor that is written must not alias itself");
    }
    if (w == 1) {
      const Overlap found = overlap(written_bytes[0], out);
      if (found != Overlap::none)
        fail_shared(written[0], written[1], found, "each would be rotated more than once");
    }
    for (int r = 0; r < num_read; ++r) {
      if (read[r].view == own_input[w] && exactly_in_place[w]) continue;
      const Overlap found = overlap(out, read_bytes[r]);
      if (found != Overlap::none)
        fail_shared(written[w], read[r], found,
                    "a tensor the call reads must not share memory with one it writes (only an "
                    "output that is exactly its input, in place, may)");
    }
  }
}

// The rotary part starting at `offset` within each head is a head of head_size - offset elements
// starting there, with the same strides: in place, the elements before it are never touched.
void apply_rope_dim_offset(int64_t offset, Problem& p) {
  if (!p.in_place)
    fail("rope_dim_offset", "expected in-place rotation (no query_out / key_out) with an offset "
                            "of " + std::to_string(offset) +
                                ": outputs would miss the elements before it");
  const int64_t bytes = offset * element_size(p.x_dtype);
  for (HeadLayout* layout : {&p.query_in, &p.query_out, &p.key_in, &p.key_out})
    if (layout->data != nullptr && p.num_tokens() > 0)
      layout->data = static_cast<char*>(layout->data) + bytes;
  p.head_size -= offset;
}

}  // namespace

Problem make_problem(const RotaryArgs& args) {
  Problem p;
  check_tensor_basics("positions", args.positions);
  if (args.positions.dtype != DType::int32 && args.positions.dtype != DType::int64)
    fail("positions", "expected dtype int32 or int64, got " + to_string(args.positions.dtype));
  if (args.mrope_interleaved && !args.mrope_section)
    fail("mrope_interleaved", "set without mrope_section");
  const TensorView positions =
      args.mrope_section ? mrope_token_view(args.positions) : args.positions;
  if (positions.ndim != 1 && positions.ndim != 2)
    fail("positions", "expected shape [T] or [B, S], got " + shape_string(positions));

  if (args.head_size <= 0)
    fail("head_size", "expected a positive value, got " + std::to_string(args.head_size));

  const TensorView& cache = args.cos_sin_cache;
  check_tensor_basics("cos_sin_cache", cache);
  if (!is_float_dtype(cache.dtype))
    fail("cos_sin_cache", "expected dtype float32, float16 or bfloat16, got " +
                              to_string(cache.dtype));
  if (cache.ndim != 2)
    fail("cos_sin_cache", "expected shape [max_position, rotary_dim], got " + shape_string(cache));
  const int64_t rotary_dim = cache.shape[1];
  if (rotary_dim < 2 || rotary_dim % 2 != 0 || rotary_dim > args.head_size)
    fail("cos_sin_cache", "expected rotary_dim (its second dimension) even and in [2, head_size = " +
                              std::to_string(args.head_size) + "], got " +
                              std::to_string(rotary_dim));
  if (cache.strides[1] != 1)
    fail("cos_sin_cache", "expected a contiguous last dimension (stride 1), got strides " +
                              strides_string(cache));
  if (args.rope_dim_offset < 0 || args.rope_dim_offset > args.head_size - rotary_dim)
    fail("rope_dim_offset", "expected a value in [0, head_size - rotary_dim = " +
                                std::to_string(args.head_size - rotary_dim) + "], got " +
                                std::to_string(args.rope_dim_offset));
  if (cache.shape[0] < 1)
    fail("cos_sin_cache", "expected at least one row (max_position >= 1), got shape " +
                              shape_string(cache));

  if (args.mrope_section) check_mrope_section(args, rotary_dim);

  const HeadTensorShape query = parse_head_tensor("query", args.query, positions, args.head_size);
  check_same_device("positions", positions, args.query);
  check_same_device("cos_sin_cache", cache, args.query);

  p.batch = positions.ndim == 2 ? positions.shape[0] : 1;
  p.seq = positions.ndim == 2 ? positions.shape[1] : positions.shape[0];
  // Strides of 0 let a small buffer declare any shape; a wrapped token count would run nothing.
  if (!checked_mul(p.batch, p.seq))
    fail("positions", "expected at most " + std::to_string(std::numeric_limits<int64_t>::max()) +
                          " tokens (batch x seq), got shape " + shape_string(positions) +
                          " whose product overflows int64");
  p.num_heads = query.num_heads;
  p.head_size = args.head_size;
  p.rotary_dim = rotary_dim;
  p.is_neox = args.is_neox;
  p.inverse = args.inverse;
  p.x_dtype = args.query.dtype;
  p.cache_dtype = cache.dtype;
  p.positions_dtype = positions.dtype;
  p.device = args.query.device;
  p.device_id = args.query.device_id;
  p.stream = args.stream;
  p.positions = positions.data;
  p.positions_batch_stride = positions.ndim == 2 ? positions.strides[0] : 0;
  p.positions_seq_stride = positions.strides[positions.ndim - 1];
  if (args.mrope_section) {
    p.mrope = true;
    p.mrope_section = *args.mrope_section;
    p.mrope_interleaved = args.mrope_interleaved;
    p.positions_stream_stride = args.positions.strides[0];
  }
  p.cache = cache.data;
  p.cache_row_stride = cache.strides[0];
  p.max_position = cache.shape[0];
  p.query_in = query.layout;
  p.query_out = query.layout;

  if (args.key) {
    const HeadTensorShape key = parse_head_tensor("key", *args.key, positions, args.head_size);
    check_same_device("key", *args.key, args.query);
    if (args.key->dtype != args.query.dtype)
      fail("key", "expected the dtype of query (" + to_string(args.query.dtype) + "), got " +
                      to_string(args.key->dtype));
    if (query.num_heads % key.num_heads != 0)
      fail("key", "expected num_kv_heads dividing num_heads = " +
                      std::to_string(query.num_heads) + ", got " + std::to_string(key.num_heads));
    p.has_key = true;
    p.num_kv_heads = key.num_heads;
    p.key_in = key.layout;
    p.key_out = key.layout;
  } else if (args.key_out) {
    fail("key_out", "given without a key");
  }

  if (args.query_out) {
    const HeadTensorShape out =
        parse_head_tensor("query_out", *args.query_out, positions, args.head_size);
    check_output_matches("query_out", *args.query_out, args.query, "query");
    check_same_device("query_out", *args.query_out, args.query);
    p.query_out = out.layout;
  }
  if (args.key_out) {
    const HeadTensorShape out = parse_head_tensor("key_out", *args.key_out, positions, args.head_size);
    check_output_matches("key_out", *args.key_out, *args.key, "key");
    check_same_device("key_out", *args.key_out, args.query);
    p.key_out = out.layout;
  }
  if (p.has_key && (args.query_out.has_value() != args.key_out.has_value()))
    fail(args.query_out ? "key_out" : "query_out",
         "give both query_out and key_out, or neither (in place)");
  check_element_counts(p);
  if (p.device == Device::cuda) check_cuda_index_limits(p);
  check_no_shared_memory(args, p);
  // Outputs given as exactly their inputs run in place (no pass-through copy onto itself).
  p.in_place = same_elements(p.query_out, p.query_in, p, p.num_heads) &&
               same_elements(p.key_out, p.key_in, p, p.num_kv_heads);
  if (args.rope_dim_offset > 0) apply_rope_dim_offset(args.rope_dim_offset, p);

  // Collapse (batch, seq) into one token dimension when every tensor allows it.
  const auto collapses = [&](int64_t batch_stride, int64_t seq_stride) {
    return checked_mul(p.seq, seq_stride) == batch_stride;
  };
  if (p.batch > 1 && collapses(p.positions_batch_stride, p.positions_seq_stride) &&
      collapses(p.query_in.batch_stride, p.query_in.seq_stride) &&
      collapses(p.query_out.batch_stride, p.query_out.seq_stride) &&
      (!p.has_key || (collapses(p.key_in.batch_stride, p.key_in.seq_stride) &&
                      collapses(p.key_out.batch_stride, p.key_out.seq_stride)))) {
    p.seq *= p.batch;
    p.batch = 1;
  }
  if (p.batch == 1) {
    p.positions_batch_stride = 0;
    p.query_in.batch_stride = p.query_out.batch_stride = 0;
    p.key_in.batch_stride = p.key_out.batch_stride = 0;
  }
  return p;
}

int64_t load_position(const Problem& p, int64_t b, int64_t s, int stream) {
  const int64_t offset =
      b * p.positions_batch_stride + s * p.positions_seq_stride + stream * p.positions_stream_stride;
  if (p.positions_dtype == DType::int32) return static_cast<const int32_t*>(p.positions)[offset];
  return static_cast<const int64_t*>(p.positions)[offset];
}

void check_positions_in_range(const Problem& p) {
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t s = 0; s < p.seq; ++s)
      for (int stream = 0; stream < (p.mrope ? 3 : 1); ++stream) {
        const int64_t position = load_position(p, b, s, stream);
        if (position < 0 || position >= p.max_position) {
          const int64_t token = b * p.seq + s;
          throw Error("positions: expected values in [0, max_position = " +
                      std::to_string(p.max_position) + "), got " + std::to_string(position) +
                      " at token " + std::to_string(token) +
                      (p.mrope ? " stream " + std::to_string(stream) : std::string()));
        }
      }
}

}  // namespace ropekit::detail
