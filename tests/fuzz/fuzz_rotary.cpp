// Coverage-guided fuzzer of the C API's rotary calls (libFuzzer; docs/FUZZING.md).
//
// Each input builds one call over three small real buffers (arenas): a consistent problem, then
// hostile edits of any field (ndim, shapes, strides, offsets, dtypes, devices, null data, head
// size, MRoPE sections, position values) and arguments placed anywhere in the arenas, so any two
// may share memory. The call runs on the reference and the cpu backend, each on its own copy of
// the arenas. Asserted (a failure aborts, and so does any ASan or UBSan report):
//   - both backends give the same status and message; a failure has a message and writes nothing;
//   - a call that is certainly invalid (an extent past int64, a negative size or stride, a null
//     pointer, a position out of range, a written tensor sharing memory with an argument, found
//     here by enumerating bytes) fails; a refusal for shared memory is never wrong;
//   - a successful call writes only its written tensors, and the backends agree within one
//     rounding of the dtype.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ropekit/ropekit.h"

namespace {

constexpr int kArenas = 3;
constexpr size_t kArenaBytes = 768;
constexpr int kMaxNdim = 6;  // past the library's 4: it must refuse
using Wide = __int128;

void require(bool condition, const char* what, const std::string& detail = "") {
  if (condition) return;
  std::fprintf(stderr, "fuzz_rotary: %s %s\n", what, detail.c_str());
  std::abort();
}

int64_t element_bytes(DLDataType d) {
  if (d.lanes != 1) return 0;
  if (d.code == kDLFloat && (d.bits == 32 || d.bits == 16)) return d.bits / 8;
  if (d.code == kDLBfloat && d.bits == 16) return 2;
  if (d.code == kDLInt && (d.bits == 32 || d.bits == 64)) return d.bits / 8;
  return 0;
}

// One tensor argument with its own storage for shape and strides.
struct Arg {
  bool present = false;
  int arena = 0;
  DLTensor t{};
  std::array<int64_t, kMaxNdim> shape{}, strides{};
};

// What the fuzzer knows of an argument's memory.
struct Extent {
  bool certainly_invalid = false;  // the library must refuse it, whatever else the call holds
  bool in_arena = false;           // every byte it addresses lies in its arena
  std::vector<std::pair<size_t, size_t>> rows;  // [begin, end) byte ranges, when in_arena
};

// a * b for a, b >= 0, held at 2^100 (far past any int64 extent) so that sums cannot overflow.
Wide capped_mul(Wide a, Wide b) {
  constexpr Wide kCap = Wide(1) << 100;
  if (a == 0 || b == 0) return 0;
  return a > kCap / b ? kCap : std::min(a * b, kCap);
}

Extent extent_of(const Arg& a, const unsigned char* arena) {
  Extent e;
  const DLTensor& t = a.t;
  const int64_t element = element_bytes(t.dtype);
  if (t.ndim < 1 || t.ndim > 4 || element == 0) return e;
  int32_t device_type = 0;
  std::memcpy(&device_type, &t.device.device_type, sizeof(device_type));
  if (device_type != kDLCPU) return e;
  Wide count = 1, last = 0;
  std::array<int64_t, 4> strides{};
  Wide compact = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    if (t.shape[d] < 0 || (t.strides && t.strides[d] < 0)) {
      e.certainly_invalid = true;
      return e;
    }
    if (!t.strides && compact > std::numeric_limits<int64_t>::max()) {
      e.certainly_invalid = true;
      return e;
    }
    strides[d] = t.strides ? t.strides[d] : int64_t(compact);
    compact = capped_mul(compact, t.shape[d]);
    count = capped_mul(count, t.shape[d]);
  }
  if (count == 0) {
    e.in_arena = true;
    return e;
  }
  for (int d = 0; d < t.ndim; ++d) last += capped_mul(t.shape[d] - 1, strides[d]);
  // Past int64 bytes of elements, or past the end of the address space from data.
  const Wide address = Wide(reinterpret_cast<uintptr_t>(t.data)) + Wide(t.byte_offset);
  if ((last + 1) * element > Wide(std::numeric_limits<int64_t>::max()) || t.data == nullptr ||
      address + (last + 1) * element - 1 > Wide(UINTPTR_MAX)) {
    e.certainly_invalid = true;
    return e;
  }
  const Wide shift = static_cast<const unsigned char*>(t.data) - arena;
  const Wide begin = shift + Wide(t.byte_offset), end = begin + (last + 1) * element;
  if (end > Wide(kArenaBytes) || count > 4096) return e;
  e.in_arena = true;
  // Every element, row-major.
  std::array<int64_t, 4> index{};
  for (Wide i = 0; i < count; ++i) {
    int64_t offset = 0;
    for (int d = 0; d < t.ndim; ++d) offset += index[d] * strides[d];
    const size_t start = size_t(begin) + size_t(offset * element);
    e.rows.push_back({start, start + size_t(element)});
    for (int d = t.ndim - 1; d >= 0 && ++index[d] == t.shape[d]; --d) index[d] = 0;
  }
  return e;
}

// For failure reports: what the call was given.
std::string describe(const char* name, const Arg& a) {
  if (!a.present) return "";
  // Appended piece by piece: GCC 12 at -O3 warns falsely on `" " + std::to_string(...)`.
  std::string text = name;
  const auto add = [&](const char* label, long long value) {
    text.append(label).append(std::to_string(value));
  };
  add("{arena ", a.arena);
  if (!a.t.data) text.append(" null");
  add(" offset ", static_cast<long long>(a.t.byte_offset));
  add(" dtype ", a.t.dtype.code);
  add("/", a.t.dtype.bits);
  add(" ndim ", a.t.ndim);
  text.append(" shape");
  for (int d = 0; d < a.t.ndim && d < kMaxNdim; ++d) add(" ", a.t.shape[d]);
  text.append(a.t.strides ? " strides" : " strides NULL");
  for (int d = 0; a.t.strides && d < a.t.ndim && d < kMaxNdim; ++d) add(" ", a.t.strides[d]);
  return text.append("} ");
}

bool bytes_meet(const Arg& a, const Extent& ea, const Arg& b, const Extent& eb) {
  if (a.arena != b.arena) return false;
  std::set<size_t> bytes;
  for (auto [begin, end] : ea.rows)
    for (size_t i = begin; i < end; ++i) bytes.insert(i);
  for (auto [begin, end] : eb.rows)
    for (size_t i = begin; i < end; ++i)
      if (bytes.count(i)) return true;
  return false;
}

bool self_overlaps(const Extent& e) {
  std::set<size_t> bytes;
  size_t total = 0;
  for (auto [begin, end] : e.rows)
    for (size_t i = begin; i < end; ++i, ++total) bytes.insert(i);
  return bytes.size() != total;
}

int64_t special_value(FuzzedDataProvider& in) {
  return in.PickValueInArray<int64_t>({0, 1, 2, 3, 4, 7, 8, -1, -2, INT32_MAX,
                                       int64_t(INT32_MAX) + 1, int64_t(1) << 32,
                                       (int64_t(1) << 32) + 1, int64_t(1) << 62, INT64_MAX,
                                       INT64_MIN, in.ConsumeIntegral<int64_t>()});
}

DLDataType pick_float(FuzzedDataProvider& in) {
  return in.PickValueInArray<DLDataType>(
      {{kDLFloat, 32, 1}, {kDLFloat, 16, 1}, {kDLBfloat, 16, 1}});
}

// A tensor of `dims` in arena `arena`: compact, padded or arbitrary strides, at some offset.
void place(FuzzedDataProvider& in, Arg& a, const std::vector<int64_t>& dims, DLDataType dtype,
           std::array<unsigned char*, kArenas>& arenas) {
  a.present = true;
  a.arena = in.ConsumeIntegralInRange(0, kArenas - 1);
  a.t.data = arenas[a.arena];
  a.t.device = {kDLCPU, 0};
  a.t.dtype = dtype;
  a.t.ndim = int32_t(dims.size());
  const int64_t element = element_bytes(dtype);
  a.t.byte_offset = uint64_t(in.ConsumeIntegralInRange<int64_t>(0, 48)) * uint64_t(element);
  int64_t stride = 1;
  const int layout =
      in.ConsumeIntegralInRange(0, 3);  // 0: NULL strides, 1: compact, 2: padded, 3: any
  for (int d = a.t.ndim - 1; d >= 0; --d) {
    a.shape[d] = dims[d];
    if (layout == 3 && d != a.t.ndim - 1)
      a.strides[d] = in.ConsumeIntegralInRange<int64_t>(0, 40);
    else
      a.strides[d] = stride;
    stride = stride * dims[d] + (layout == 2 ? in.ConsumeIntegralInRange<int64_t>(0, 6) : 0);
  }
  a.t.shape = a.shape.data();
  a.t.strides = layout == 0 ? nullptr : a.strides.data();
}

// One hostile edit of a field of `a`.
void mutate(FuzzedDataProvider& in, Arg& a, std::array<unsigned char*, kArenas>& arenas) {
  switch (in.ConsumeIntegralInRange(0, 8)) {
    case 0:
      a.t.ndim = in.ConsumeIntegralInRange(-1, kMaxNdim);
      break;
    case 1:
      a.shape[in.ConsumeIntegralInRange(0, kMaxNdim - 1)] = special_value(in);
      break;
    case 2:
      a.t.strides = a.strides.data();
      a.strides[in.ConsumeIntegralInRange(0, kMaxNdim - 1)] = special_value(in);
      break;
    case 3:
      a.t.byte_offset = uint64_t(special_value(in));
      break;
    case 4:
      a.t.dtype = {in.ConsumeIntegral<uint8_t>(), in.ConsumeIntegral<uint8_t>(),
                   in.ConsumeIntegral<uint16_t>()};
      break;
    case 5: {
      const int32_t type = in.PickValueInArray<int32_t>({kDLCUDA, kDLCUDAHost, 99, -1, 0});
      std::memcpy(&a.t.device.device_type, &type, sizeof(type));
      break;
    }
    case 6:
      a.t.device.device_id = in.ConsumeIntegralInRange(-1, 2);
      break;
    case 7:
      a.t.data = nullptr;
      break;
    default:  // misaligned by one byte
      a.t.data = arenas[a.arena] + 1;
      break;
  }
}

// Half-precision formats to float, for comparing the backends.
float from_bits(const unsigned char* p, DLDataType d) {
  if (d.bits == 32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  if (d.code == kDLBfloat) {
    const uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  const int exponent = (h >> 10) & 31, mantissa = h & 1023;
  const float sign = (h & 0x8000) ? -1.f : 1.f;
  if (exponent == 31) return mantissa ? NAN : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(float(mantissa), -24);
  return sign * std::ldexp(float(mantissa + 1024), exponent - 25);
}

// One rounding of the dtype, relative, plus the float32 arithmetic of the cpu backend on values
// whose products stay below 8 (the arenas hold values in [2^-7, 2)).
bool close(float a, float b, DLDataType d) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  const float relative = d.bits == 32 ? 0x1p-22f : d.code == kDLBfloat ? 0x1p-7f : 0x1p-10f;
  return std::fabs(a - b) <= 1e-5f + relative * std::fabs(b);
}

// What the inputs became, printed at exit: a fuzzer that only ever builds refused calls tests
// little of the backends.
struct Outcomes {
  long skipped = 0, accepted = 0, refused = 0, refused_shared = 0, refused_position = 0;
  ~Outcomes() {
    std::fprintf(
        stderr,
        "fuzz_rotary outcomes: %ld accepted, %ld refused (%ld for shared memory, %ld for a "
        "position), %ld not called (memory outside the arenas)\n",
        accepted, refused, refused_shared, refused_position, skipped);
  }
} outcomes;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::array<std::vector<unsigned char>, kArenas> original;
  std::array<unsigned char*, kArenas> placeholder{};
  // The arenas' addresses are fixed before any tensor is placed; the calls run on copies.
  std::array<std::vector<unsigned char>, kArenas> run_a, run_b;
  for (int i = 0; i < kArenas; ++i) {
    run_a[i].resize(kArenaBytes);
    placeholder[i] = run_a[i].data();
  }

  // A consistent problem first.
  const bool batched = in.ConsumeBool();
  const int64_t batch = batched ? in.ConsumeIntegralInRange<int64_t>(0, 2) : 1;
  const int64_t seq = in.ConsumeIntegralInRange<int64_t>(0, 4);
  const int64_t head_size = 2 * in.ConsumeIntegralInRange<int64_t>(1, 6);
  const int64_t rotary_dim = 2 * in.ConsumeIntegralInRange<int64_t>(1, head_size / 2);
  const int64_t num_kv_heads = in.ConsumeIntegralInRange<int64_t>(1, 2);
  const int64_t num_heads = num_kv_heads * in.ConsumeIntegralInRange<int64_t>(1, 2);
  const int64_t max_position = in.ConsumeIntegralInRange<int64_t>(1, 6);
  const bool mrope = !batched && in.ConsumeIntegralInRange(0, 3) == 0;
  const DLDataType x_dtype = pick_float(in), cache_dtype = pick_float(in);
  const DLDataType positions_dtype =
      in.ConsumeBool() ? DLDataType{kDLInt, 64, 1} : DLDataType{kDLInt, 32, 1};
  std::vector<int64_t> tokens =
      batched ? std::vector<int64_t>{batch, seq} : std::vector<int64_t>{seq};
  const auto head_dims = [&](int64_t heads) {
    std::vector<int64_t> dims = tokens;
    if (in.ConsumeBool()) {
      dims.push_back(heads);
      dims.push_back(head_size);
    } else {
      dims.push_back(heads * head_size);
    }
    return dims;
  };

  Arg positions, query, key, query_out, key_out, cache;
  place(in, positions, mrope ? std::vector<int64_t>{3, seq} : tokens, positions_dtype, placeholder);
  place(in, query, head_dims(num_heads), x_dtype, placeholder);
  const bool with_key = in.ConsumeIntegralInRange(0, 4) != 0;
  if (with_key) place(in, key, head_dims(num_kv_heads), x_dtype, placeholder);
  place(in, cache, {max_position, rotary_dim}, cache_dtype, placeholder);
  if (in.ConsumeBool()) {
    // Out of place: usually an output of the input's shape; sometimes exactly the input.
    query_out = query;
    if (in.ConsumeIntegralInRange(0, 3) != 0)
      place(in, query_out, head_dims(num_heads), x_dtype, placeholder);
    query_out.t.shape = query_out.shape.data();
    if (query_out.t.strides) query_out.t.strides = query_out.strides.data();
    if (with_key) {
      key_out = key;
      if (in.ConsumeIntegralInRange(0, 3) != 0)
        place(in, key_out, head_dims(num_kv_heads), x_dtype, placeholder);
      key_out.t.shape = key_out.shape.data();
      if (key_out.t.strides) key_out.t.strides = key_out.strides.data();
    }
  }
  std::array<int64_t, 3> section = {0, 0, 0};
  if (mrope) {
    section[0] = in.ConsumeIntegralInRange<int64_t>(0, rotary_dim / 2);
    section[1] = in.ConsumeIntegralInRange<int64_t>(0, rotary_dim / 2 - section[0]);
    section[2] = rotary_dim / 2 - section[0] - section[1];
  }
  const bool interleaved = mrope && in.ConsumeBool();
  int64_t call_head_size = head_size;
  int is_neox = mrope ? 1 : in.ConsumeBool(), inverse = in.ConsumeBool();

  // Then hostile edits.
  Arg* all[] = {&positions, &query, &key, &cache, &query_out, &key_out};
  for (int edits = in.ConsumeIntegralInRange(0, 3); edits > 0; --edits) {
    const int which = in.ConsumeIntegralInRange(0, 7);
    if (which < 6) {
      if (all[which]->present) mutate(in, *all[which], placeholder);
    } else if (which == 6) {
      call_head_size = special_value(in);
    } else {
      section[size_t(in.ConsumeIntegralInRange(0, 2))] = special_value(in);
    }
  }
  if (in.ConsumeIntegralInRange(0, 15) == 0) is_neox = in.ConsumeIntegralInRange(-1, 2);

  // The fuzzer's own verdict on memory: a call that addresses memory outside its arena while the
  // library could take it as valid is not made (the caller's buffers would be wrong).
  std::array<Extent, 6> extents;
  bool certainly_invalid = false;
  for (int i = 0; i < 6; ++i) {
    if (!all[i]->present) continue;
    extents[size_t(i)] = extent_of(*all[i], placeholder[size_t(all[i]->arena)]);
    const Extent& e = extents[size_t(i)];
    certainly_invalid |= e.certainly_invalid;
    if (!e.in_arena && !e.certainly_invalid && element_bytes(all[i]->t.dtype) != 0 &&
        all[i]->t.ndim >= 1 && all[i]->t.ndim <= 4 && all[i]->t.data != nullptr) {
      ++outcomes.skipped;
      return 0;
    }
  }

  // Arena contents: every 16-bit word's high byte in [0x3C, 0x3F], so float32, float16 and
  // bfloat16 reads all give values in [2^-7, 2). Then the position values.
  uint32_t state = in.ConsumeIntegral<uint32_t>() | 1;
  for (int i = 0; i < kArenas; ++i)
    for (size_t b = 0; b < kArenaBytes; ++b) {
      state ^= state << 13, state ^= state >> 17, state ^= state << 5;
      run_a[size_t(i)][b] = b % 2 ? static_cast<unsigned char>(0x3C + (state & 3))
                                  : static_cast<unsigned char>(state >> 8);
    }
  bool position_out_of_range = false;
  const Extent& pe = extents[0];
  const int64_t position_bytes = element_bytes(positions.t.dtype);
  if (pe.in_arena && (position_bytes == 4 || position_bytes == 8) &&
      positions.t.dtype.code == kDLInt)
    for (auto [begin, end] : pe.rows) {
      int64_t value = in.ConsumeIntegralInRange<int64_t>(0, max_position - 1);
      if (in.ConsumeIntegralInRange(0, 15) == 0) value = special_value(in);
      if (position_bytes == 4) {
        const auto narrow = static_cast<int32_t>(value);
        std::memcpy(&run_a[size_t(positions.arena)][begin], &narrow, 4);
      } else {
        std::memcpy(&run_a[size_t(positions.arena)][begin], &value, 8);
      }
    }
  // Read back: positions may share bytes with what was written after them.
  if (pe.in_arena && (position_bytes == 4 || position_bytes == 8) && cache.present &&
      cache.t.ndim >= 1 && cache.t.shape != nullptr)
    for (auto [begin, end] : pe.rows) {
      int64_t value = 0;
      if (position_bytes == 4) {
        int32_t narrow;
        std::memcpy(&narrow, &run_a[size_t(positions.arena)][begin], 4);
        value = narrow;
      } else {
        std::memcpy(&value, &run_a[size_t(positions.arena)][begin], 8);
      }
      position_out_of_range |= value < 0 || value >= cache.t.shape[0];
    }
  for (int i = 0; i < kArenas; ++i) original[size_t(i)] = run_a[size_t(i)];

  // Shared memory, by enumerating bytes (only when every tensor is small and in its arena).
  const bool enumerable = [&] {
    for (int i = 0; i < 6; ++i)
      if (all[i]->present && !extents[size_t(i)].in_arena) return false;
    return true;
  }();
  bool shares_memory = false;
  if (enumerable) {
    // An output that is exactly its input: the same bytes, element by element in the same order.
    const auto exactly = [&](int out, int input) {
      return all[out]->arena == all[input]->arena &&
             extents[size_t(out)].rows == extents[size_t(input)].rows;
    };
    const int written[2] = {query_out.present ? 4 : 1, key_out.present ? 5 : 2};
    for (int w = 0; w < 2; ++w) {
      const int wi = written[w];
      if (!all[wi]->present) continue;
      shares_memory |= self_overlaps(extents[size_t(wi)]);
      std::vector<int> reads = {0, 3};
      if (query_out.present) reads.push_back(1);
      if (key_out.present) reads.push_back(2);
      if (w == 1) reads.push_back(written[0]);
      for (int r : reads) {
        if (!all[r]->present) continue;
        if (r == w + 1 && wi == w + 4 && exactly(wi, r)) continue;
        shares_memory |= bytes_meet(*all[wi], extents[size_t(wi)], *all[r], extents[size_t(r)]);
      }
    }
  }

  const std::string call_text =
      describe("positions", positions) + describe("query", query) + describe("key", key) +
      describe("cache", cache) + describe("query_out", query_out) + describe("key_out", key_out) +
      "head_size " + std::to_string(call_head_size) + (mrope ? " mrope" : "");

  // The two calls, each on its own copy of the arenas (tensors are moved by their arena).
  const auto call = [&](std::array<std::vector<unsigned char>, kArenas>& arenas, int backend,
                        std::string* message) {
    std::array<DLTensor, 6> tensors{};
    for (int i = 0; i < 6; ++i) {
      tensors[size_t(i)] = all[i]->t;
      const auto* at = static_cast<unsigned char*>(all[i]->t.data);
      const unsigned char* base = placeholder[size_t(all[i]->arena)];
      if (at != nullptr)
        tensors[size_t(i)].data = arenas[size_t(all[i]->arena)].data() + (at - base);
    }
    ropekit_rotary_args args{};
    args.positions = &tensors[0];
    args.query = &tensors[1];
    args.key = key.present ? &tensors[2] : nullptr;
    args.cos_sin_cache = &tensors[3];
    args.query_out = query_out.present ? &tensors[4] : nullptr;
    args.key_out = key_out.present ? &tensors[5] : nullptr;
    args.head_size = call_head_size;
    args.is_neox = is_neox;
    args.inverse = inverse;
    args.backend = backend;
    const int status = mrope ? ropekit_rotary_embedding_mrope(&args, section.data(), interleaved)
                             : ropekit_rotary_embedding_ex(&args);
    *message = status ? ropekit_last_error() : "";
    return status;
  };
  run_b = run_a;
  std::string message_a, message_b;
  const int status_a = call(run_a, ROPEKIT_BACKEND_REFERENCE, &message_a);
  const int status_b = call(run_b, ROPEKIT_BACKEND_CPU, &message_b);

  require(status_a == status_b,
          "the backends disagree on the status:", message_a + " | " + message_b);
  // The same refusal; numbers may differ where they are addresses of the two copies.
  const auto argument = [](const std::string& m) { return m.substr(0, m.find(": ")); };
  require(argument(message_a) == argument(message_b),
          "the backends' messages differ:", message_a + " | " + message_b);
  if (status_a != 0) {
    require(message_a.find(": ") != std::string::npos,
            "a failure without a named argument:", message_a);
    require(run_a == original && run_b == original, "a refused call wrote:", message_a);
    const bool says_shared = message_a.find("shares memory") != std::string::npos ||
                             message_a.find("overlap") != std::string::npos;
    require(!(says_shared && enumerable && !shares_memory),
            "refused for shared memory that is not:", message_a + " " + call_text);
    ++outcomes.refused;
    outcomes.refused_shared += says_shared;
    outcomes.refused_position += message_a.rfind("positions: expected values in", 0) == 0;
    return 0;
  }
  ++outcomes.accepted;
  require(!certainly_invalid, "an invalid call succeeded:", call_text);
  require(!position_out_of_range, "a position out of range was accepted:", call_text);
  require(!shares_memory, "a call whose written tensors share memory was accepted:", call_text);
  // Bytes outside the written tensors unchanged; written elements agree within one rounding.
  std::array<std::vector<bool>, kArenas> is_written;
  for (auto& w : is_written) w.assign(kArenaBytes, false);
  for (int wi : {query_out.present ? 4 : 1, key_out.present ? 5 : 2}) {
    if (!all[wi]->present) continue;
    for (auto [begin, end] : extents[size_t(wi)].rows) {
      for (size_t b = begin; b < end; ++b) is_written[size_t(all[wi]->arena)][b] = true;
      const float a = from_bits(&run_a[size_t(all[wi]->arena)][begin], all[wi]->t.dtype);
      const float b = from_bits(&run_b[size_t(all[wi]->arena)][begin], all[wi]->t.dtype);
      require(close(b, a, all[wi]->t.dtype),
              "the backends' results differ:", std::to_string(a) + " vs " + std::to_string(b));
    }
  }
  for (int i = 0; i < kArenas; ++i)
    for (size_t b = 0; b < kArenaBytes; ++b)
      if (!is_written[size_t(i)][b])
        require(run_a[size_t(i)][b] == original[size_t(i)][b] &&
                    run_b[size_t(i)][b] == original[size_t(i)][b],
                "a byte outside the written tensors changed");
  return 0;
}
