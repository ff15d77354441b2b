#include "bench_traffic.hpp"

#include <algorithm>

#include "element_access.hpp"

namespace ropekit::cli {
namespace {

constexpr int64_t kSector = 32;

int64_t sector_bytes(int64_t first_byte, int64_t length) {
  if (length <= 0) return 0;
  return (((first_byte + length - 1) / kSector) - first_byte / kSector + 1) * kSector;
}

// Sectors of the rotary parts of every head of `operand`, for every token.
int64_t rotary_sector_bytes(const ProblemBuffers& problem, const HeadOperand& operand) {
  if (!operand.present()) return 0;
  const ProblemSpec& spec = problem.spec();
  const int64_t size = element_size(spec.x_dtype);
  int64_t total = 0;
  for (int64_t b = 0; b < std::max<int64_t>(spec.batch, 1); ++b)
    for (int64_t s = 0; s < spec.tokens; ++s)
      for (int64_t h = 0; h < operand.heads; ++h)
        total += sector_bytes(operand.element(b, s, h, 0) * size, spec.rotary_dim * size);
  return total;
}

}  // namespace

int64_t bytes_moved(const ProblemBuffers& problem) {
  const ProblemSpec& spec = problem.spec();
  int64_t total = rotary_sector_bytes(problem, problem.query()) +
                  rotary_sector_bytes(problem, problem.query_out()) +
                  rotary_sector_bytes(problem, problem.key()) +
                  rotary_sector_bytes(problem, problem.key_out());
  const Buffer& positions = problem.positions();
  const int64_t row_bytes = spec.rotary_dim * element_size(spec.cache_dtype);
  for (int64_t t = 0; t < spec.total_tokens(); ++t) {
    const auto position = int64_t(load_element(positions.dtype, positions.initial.data(), t));
    total += sector_bytes(position * row_bytes, row_bytes);
  }
  total += sector_bytes(0, int64_t(positions.initial.size()));
  return total;
}

}  // namespace ropekit::cli
