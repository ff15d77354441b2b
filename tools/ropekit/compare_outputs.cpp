#include "compare_outputs.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "element_access.hpp"

namespace ropekit::cli {
namespace {

constexpr int kReportedMismatches = 5;

struct Checker {
  Checker(const ProblemBuffers& problem_in,
          const std::vector<std::vector<unsigned char>>& expected_in,
          const std::vector<std::vector<unsigned char>>& got_in)
      : problem(problem_in), expected(expected_in), got(got_in), rotated(problem_in.buffers().size()) {}

  const ProblemBuffers& problem;
  const std::vector<std::vector<unsigned char>>& expected;
  const std::vector<std::vector<unsigned char>>& got;
  Comparison result;
  std::vector<std::vector<char>> rotated;  // per buffer, per element: compared with a tolerance
  std::ostringstream report;

  void mismatch(const std::string& what) {
    if (result.mismatches++ < kReportedMismatches) report << "  " << what << "\n";
  }

  void check_rotated(const char* name, const HeadOperand& in, const HeadOperand& out) {
    const ProblemSpec& spec = problem.spec();
    const Buffer& positions = problem.positions();
    const Buffer& cache = problem.cache();
    const Buffer& input = problem.buffers()[in.buffer];
    const int64_t half = spec.rotary_dim / 2;
    std::vector<char>& mask = rotated[out.buffer];
    for (int64_t b = 0; b < std::max<int64_t>(spec.batch, 1); ++b)
      for (int64_t s = 0; s < spec.tokens; ++s) {
        const auto position = int64_t(
            load_element(positions.dtype, positions.initial.data(), b * spec.tokens + s));
        const int64_t row = position * spec.rotary_dim;
        for (int64_t h = 0; h < in.heads; ++h)
          for (int64_t i = 0; i < half; ++i) {
            const int64_t first = spec.is_neox ? i : 2 * i;
            const int64_t second = spec.is_neox ? i + half : 2 * i + 1;
            const double cos_value = load_element(cache.dtype, cache.initial.data(), row + i);
            const double sin_value = (spec.inverse ? -1.0 : 1.0) *
                load_element(cache.dtype, cache.initial.data(), row + half + i);
            const double a = load_element(input.dtype, input.initial.data(),
                                          in.element(b, s, h, first));
            const double c = load_element(input.dtype, input.initial.data(),
                                          in.element(b, s, h, second));
            const int64_t elements[2] = {first, second};
            const double magnitudes[2] = {std::fabs(a * cos_value) + std::fabs(c * sin_value),
                                          std::fabs(c * cos_value) + std::fabs(a * sin_value)};
            for (int k = 0; k < 2; ++k) {
              const int64_t offset = out.element(b, s, h, elements[k]);
              mask[offset] = 1;
              const double want = load_element(input.dtype, expected[out.buffer].data(), offset);
              const double have = load_element(input.dtype, got[out.buffer].data(), offset);
              const double error = std::fabs(have - want);
              const double allowed = tolerance(input.dtype, want, magnitudes[k]);
              ++result.rotated_elements;
              if (std::isnan(error)) {
                result.max_error_ratio = INFINITY;
              } else {
                result.max_abs_error = std::max(result.max_abs_error, error);
                result.max_error_ratio = std::max(result.max_error_ratio, error / allowed);
              }
              if (!(error <= allowed)) {
                std::ostringstream what;
                what << name << " token (" << b << "," << s << ") head " << h << " element "
                     << elements[k] << ": got " << have << ", reference " << want
                     << " (tolerance " << allowed << ")";
                mismatch(what.str());
              }
            }
          }
      }
  }

  void check_untouched_bytes() {
    const std::vector<Buffer>& buffers = problem.buffers();
    for (size_t index = 0; index < buffers.size(); ++index) {
      const int64_t size = element_size(buffers[index].dtype);
      for (int64_t i = 0; i < buffers[index].elements(); ++i) {
        if (!rotated[index].empty() && rotated[index][i]) continue;
        if (std::memcmp(expected[index].data() + i * size, got[index].data() + i * size,
                        size_t(size)) != 0)
          mismatch(buffers[index].name + " element " + std::to_string(i) +
                   " outside the rotated part differs from the reference");
      }
    }
  }
};

}  // namespace

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

Comparison compare_with_reference(const ProblemBuffers& problem,
                                  const std::vector<std::vector<unsigned char>>& expected,
                                  const std::vector<std::vector<unsigned char>>& got) {
  Checker checker(problem, expected, got);
  for (const HeadOperand* out : {&problem.query_out(), &problem.key_out()})
    if (out->present())
      checker.rotated[out->buffer].assign(size_t(problem.buffers()[out->buffer].elements()), 0);
  checker.check_rotated("query", problem.query(), problem.query_out());
  if (problem.key().present()) checker.check_rotated("key", problem.key(), problem.key_out());
  checker.check_untouched_bytes();
  if (checker.result.mismatches > kReportedMismatches)
    checker.report << "  ... " << (checker.result.mismatches - kReportedMismatches)
                   << " more mismatches\n";
  checker.result.first_mismatches = checker.report.str();
  return checker.result;
}

}  // namespace ropekit::cli
