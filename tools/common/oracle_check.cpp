#include "oracle_check.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace ropekit::check {
namespace {

constexpr int kReportedMismatches = 8;

class Checker {
 public:
  explicit Checker(const Problem& problem)
      : p_(problem), c_(problem.c), args_(problem.args(Backend::automatic)),
        rotary_mask_(problem.snapshot.size(), 0) {}

  CheckReport run() {
    check_rotation(false);
    if (c_.num_kv_heads > 0) check_rotation(true);
    if (c_.fused_qkv) {
      check_untouched_inputs(p_.qkv, 0, "qkv");
    } else {
      check_untouched_inputs(p_.query, 0, "query buffer");
      if (c_.num_kv_heads > 0) check_untouched_inputs(p_.key, p_.query.storage.size(), "key buffer");
    }
    check_unchanged(p_.positions, p_.positions_snapshot, "positions");
    check_unchanged(p_.cache, p_.cache_snapshot, "cos_sin_cache");
    if (c_.out_of_place) {
      check_padding_poisoned(p_.query_out, "query_out");
      if (c_.num_kv_heads > 0) check_padding_poisoned(p_.key_out, "key_out");
    }
    if (report_.mismatches > kReportedMismatches)
      lines_ << "... " << (report_.mismatches - kReportedMismatches) << " more\n";
    report_.first_mismatches = lines_.str();
    return report_;
  }

 private:
  void mismatch(const std::string& what) {
    if (report_.mismatches++ < kReportedMismatches) lines_ << what << "\n";
  }

  // The input buffer holding query or key, and where its bytes start in the snapshot.
  const HostTensor& input_buffer(bool is_key) const {
    return c_.fused_qkv ? p_.qkv : (is_key ? p_.key : p_.query);
  }
  size_t snapshot_shift(bool is_key) const {
    return !c_.fused_qkv && is_key ? p_.query.storage.size() : 0;
  }

  // Offset (elements from v.data) of element e of head h of token (b, s).
  int64_t element_offset(const TensorView& v, int64_t b, int64_t s, int64_t h, int64_t e) const {
    const int token_dims = c_.batch > 0 ? 2 : 1;
    const int64_t token = token_dims == 2 ? b * v.strides[0] + s * v.strides[1] : s * v.strides[0];
    if (c_.explicit_heads) return token + h * v.strides[token_dims] + e;
    return token + h * c_.head_size + e;
  }

  void check_rotation(bool is_key) {
    const TensorView& in = is_key ? *args_.key : args_.query;
    const TensorView& out = c_.out_of_place ? (is_key ? *args_.key_out : *args_.query_out) : in;
    const int64_t heads = is_key ? c_.num_kv_heads : c_.num_heads;
    const int64_t half = c_.rotary_dim / 2;
    const size_t in_byte = snapshot_shift(is_key) +
        size_t(static_cast<const unsigned char*>(in.data) - input_buffer(is_key).storage.data());
    const unsigned char* original = p_.snapshot.data() + in_byte;  // `in` as it was
    const int64_t size = element_size(c_.x_dtype);
    const int64_t cache_row_stride = p_.cache.view.strides[0];
    for (int64_t b = 0; b < std::max<int64_t>(c_.batch, 1); ++b)
      for (int64_t s = 0; s < c_.tokens; ++s) {
        // The cache row of frequency i: multimodal RoPE picks one of three position streams.
        const auto row_of = [&](int64_t i) {
          const int64_t at = c_.mrope()
              ? mrope_stream(i, c_.mrope_section, c_.mrope_interleaved) * c_.tokens + s
              : b * c_.tokens + s;
          return int64_t(read_element(c_.positions_dtype, p_.positions_snapshot.data(), at)) *
                 cache_row_stride;
        };
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < half; ++i) {
            const int64_t row = row_of(i);
            const int64_t first = c_.is_neox ? i : 2 * i;
            const int64_t second = c_.is_neox ? i + half : 2 * i + 1;
            const double cos_v = read_element(c_.cache_dtype, p_.cache_snapshot.data(), row + i);
            const double sin_v = (c_.inverse ? -1.0 : 1.0) *
                read_element(c_.cache_dtype, p_.cache_snapshot.data(), row + half + i);
            const double x1 = read_element(c_.x_dtype, original, element_offset(in, b, s, h, first));
            const double x2 = read_element(c_.x_dtype, original, element_offset(in, b, s, h, second));
            const double expected[2] = {x1 * cos_v - x2 * sin_v, x2 * cos_v + x1 * sin_v};
            // Each output's own products: one sum for both under-tolerates the second when
            // x2 cos is small and x1 sin large.
            const double magnitude[2] = {std::fabs(x1 * cos_v) + std::fabs(x2 * sin_v),
                                         std::fabs(x2 * cos_v) + std::fabs(x1 * sin_v)};
            const int64_t elements[2] = {first, second};
            for (int k = 0; k < 2; ++k) {
              const double got = read_element(c_.x_dtype, out.data,
                                              element_offset(out, b, s, h, elements[k]));
              record(is_key, b, s, h, elements[k], got, expected[k],
                     tolerance(c_.x_dtype, expected[k], magnitude[k]));
              // In place, these bytes may change; nothing else in the input may.
              const size_t byte = in_byte + size_t(element_offset(in, b, s, h, elements[k]) * size);
              std::fill_n(rotary_mask_.begin() + std::ptrdiff_t(byte), size, 1);
            }
          }
          if (c_.out_of_place) {
            for (int64_t e = c_.rotary_dim; e < c_.head_size; ++e) {
              const double want = read_element(c_.x_dtype, original, element_offset(in, b, s, h, e));
              const double got = read_element(c_.x_dtype, out.data, element_offset(out, b, s, h, e));
              if (!(got == want || (std::isnan(got) && std::isnan(want))))
                mismatch(std::string(is_key ? "key" : "query") + " pass-through element " +
                         std::to_string(e) + " not copied");
            }
          }
        }
      }
  }

  void record(bool is_key, int64_t b, int64_t s, int64_t h, int64_t element, double got,
              double expected, double allowed) {
    const double error = std::fabs(got - expected);
    ++report_.rotated_elements;
    if (std::isnan(error)) {
      report_.max_error_ratio = INFINITY;
    } else {
      report_.max_abs_error = std::max(report_.max_abs_error, error);
      report_.max_error_ratio = std::max(report_.max_error_ratio, error / allowed);
    }
    if (!(error <= allowed)) {
      std::ostringstream what;
      what << (is_key ? "key" : "query") << " token (" << b << "," << s << ") head " << h
           << " element " << element << ": got " << got << ", expected " << expected
           << " (tolerance " << allowed << ")";
      mismatch(what.str());
    }
  }

  // Out of place nothing in the inputs changes; in place only the rotary parts may.
  void check_untouched_inputs(const HostTensor& buffer, size_t shift, const char* name) {
    for (size_t i = 0; i < buffer.storage.size(); ++i) {
      const bool may_change = !c_.out_of_place && rotary_mask_[shift + i];
      if (!may_change && buffer.storage[i] != p_.snapshot[shift + i]) {
        mismatch(std::string(name) + ": byte " + std::to_string(i) +
                 " outside the rotary part was modified");
        return;
      }
    }
  }

  void check_unchanged(const HostTensor& buffer, const std::vector<unsigned char>& before,
                       const char* name) {
    if (buffer.storage != before) mismatch(std::string(name) + " was modified");
  }

  // The last element of each output row is padding: nothing may be written outside the views.
  void check_padding_poisoned(const HostTensor& buffer, const char* name) {
    const int64_t row = buffer.view.shape[buffer.view.ndim - 1];
    const int64_t rows = buffer.view.numel() / row;
    for (int64_t r = 0; r < rows; ++r)
      if (!std::isnan(buffer.get(r * row + row - 1))) {
        mismatch(std::string(name) + ": padding element of row " + std::to_string(r) +
                 " was written");
        return;
      }
  }

  const Problem& p_;
  const Case& c_;
  const RotaryArgs args_;
  std::vector<char> rotary_mask_;  // per snapshot byte: part of a rotated element
  CheckReport report_;
  std::ostringstream lines_;
};

}  // namespace

CheckReport check_against_oracle(const Problem& problem) { return Checker(problem).run(); }

int mrope_stream(int64_t i, const std::array<int64_t, 3>& section, bool interleaved) {
  if (!interleaved) {
    int64_t end = 0;
    for (int stream = 0; stream < 3; ++stream) {
      end += section[stream];
      if (i < end) return stream;
    }
    return 2;
  }
  const int candidate = static_cast<int>(i % 3);
  return candidate != 0 && i < 3 * section[candidate] ? candidate : 0;
}

std::string check_result(const Problem& problem) {
  return check_against_oracle(problem).first_mismatches;
}

double tolerance(DType dtype, double expected, double product_magnitude) {
  int mantissa_bits = 23;
  double smallest = std::ldexp(1.0, -149);  // float32 subnormal step
  if (dtype == DType::float16) {
    mantissa_bits = 10;
    smallest = std::ldexp(1.0, -24);
  } else if (dtype == DType::bfloat16) {
    mantissa_bits = 7;
    smallest = std::ldexp(1.0, -133);
  }
  const double magnitude = std::fabs(expected);
  const double ulp = magnitude > 0 ? std::ldexp(1.0, std::ilogb(magnitude) - mantissa_bits) : 0;
  return std::max(ulp, smallest) + 8.0 * std::ldexp(1.0, -24) * product_magnitude;
}

}  // namespace ropekit::check
