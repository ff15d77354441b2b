#include "bench_report.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ropekit/version.hpp"

namespace ropekit::cli {
namespace {

constexpr int64_t kSector = 32;

int64_t sector_bytes(int64_t first_byte, int64_t length) {
  if (length <= 0) return 0;
  return (((first_byte + length - 1) / kSector) - first_byte / kSector + 1) * kSector;
}

// Byte offset of `view`'s first element from the start of the problem buffer holding it.
int64_t offset_in_buffer(const check::Problem& problem, const TensorView& view) {
  const auto* at = static_cast<const unsigned char*>(view.data);
  for (const check::HostTensor* buffer : problem.buffers())
    if (at >= buffer->storage.data() && at < buffer->storage.data() + buffer->storage.size())
      return at - buffer->storage.data();
  throw Error("bytes_moved: a view outside the problem's buffers");
}

// Sectors of the rotary part of every head of `heads` (query, key or an output), every token.
int64_t rotary_sector_bytes(const check::Problem& problem, const TensorView& heads) {
  const check::Case& c = problem.c;
  const int64_t size = element_size(heads.dtype);
  const int64_t start = offset_in_buffer(problem, heads);
  const int token_dims = c.batch > 0 ? 2 : 1;
  // Head stride: the explicit heads dimension, or head_size within a flattened row.
  const int64_t head_stride = c.explicit_heads ? heads.strides[token_dims] : c.head_size;
  const int64_t head_count = c.explicit_heads ? heads.shape[token_dims]
                                              : heads.shape[token_dims] / c.head_size;
  int64_t total = 0;
  for (int64_t b = 0; b < std::max<int64_t>(c.batch, 1); ++b)
    for (int64_t s = 0; s < c.tokens; ++s) {
      const int64_t token = token_dims == 2 ? b * heads.strides[0] + s * heads.strides[1]
                                            : s * heads.strides[0];
      for (int64_t h = 0; h < head_count; ++h)
        total += sector_bytes(start + (token + h * head_stride) * size, c.rotary_dim * size);
    }
  return total;
}

std::string format(const char* pattern, double value) {
  if (!std::isfinite(value)) return "-";
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

// Cells of one row, in the order of the column titles below; empty strings where not measured.
std::vector<std::string> cells(const BenchRow& row, bool for_csv) {
  const bool timed = std::isfinite(row.seconds);
  const auto measured = [&](bool valid, const char* pattern, double value) {
    return valid ? format(pattern, value) : std::string(for_csv ? "" : "-");
  };
  return {row.shape,
          std::to_string(row.tokens),
          row.dtype,
          row.cache_dtype,
          row.backend,
          measured(timed, "%.2f", row.seconds * 1e6),
          measured(timed, "%.1f", row.gigabytes_per_second()),
          format("%.1f", row.copy_gigabytes_per_second()),
          measured(timed, "%.2f", row.fraction_of_copy()),
          format("%.2e", row.max_abs_error),
          format("%.3f", row.max_error_ratio),
          row.note};
}

const std::vector<std::string>& titles() {
  static const std::vector<std::string> names{
      "shape", "tokens", "dtype", "cache", "backend", "us/call", "GB/s", "memcpy GB/s",
      "of memcpy", "max abs err", "err/tol", "note"};
  return names;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Numbers in docs carry their date: ISO 8601, UTC.
std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

nlohmann::json number_or_null(bool valid, double value) {
  if (!valid || !std::isfinite(value)) return nullptr;
  return value;
}

}  // namespace

int64_t bytes_moved(const check::Problem& problem) {
  const check::Case& c = problem.c;
  const RotaryArgs args = problem.args(Backend::automatic);
  // In place, the inputs are also the outputs: read once and written once.
  int64_t total = rotary_sector_bytes(problem, args.query) +
                  rotary_sector_bytes(problem, args.query_out ? *args.query_out : args.query);
  if (args.key)
    total += rotary_sector_bytes(problem, *args.key) +
             rotary_sector_bytes(problem, args.key_out ? *args.key_out : *args.key);
  const int64_t row_bytes = c.rotary_dim * element_size(c.cache_dtype);
  const int64_t row_stride_bytes = problem.cache.view.strides[0] * element_size(c.cache_dtype);
  for (int64_t t = 0; t < c.total_tokens(); ++t)
    total += sector_bytes(int64_t(problem.positions.get(t)) * row_stride_bytes, row_bytes);
  total += sector_bytes(0, c.total_tokens() * element_size(c.positions_dtype));
  return total;
}

void print_table(std::ostream& out, const BenchSetup& setup, const std::vector<BenchRow>& rows) {
  out << "ropekit " << kVersion << " bench, " << utc_now() << ", seed " << setup.seed
      << ": " << setup.layout << ", in place, int64 positions drawn uniformly from [0, "
      << setup.max_position << ")\n";
  for (const std::string& line : setup.backend_devices) out << "  " << line << "\n";
  out << "  GB/s counts the 32-byte sectors of the rotary parts of q and k (read + written), of the\n"
         "  cos/sin rows and of the positions; of memcpy = time of a device copy moving the same\n"
         "  bytes / time per call; err/tol = max |error vs float64| / tolerance (one ulp of the\n"
         "  dtype + float32 arithmetic), <= 1 is within tolerance\n\n";
  std::vector<std::vector<std::string>> table{titles()};
  for (const BenchRow& row : rows) table.push_back(cells(row, false));
  std::vector<size_t> widths(titles().size(), 0);
  for (const auto& line : table)
    for (size_t c = 0; c < line.size(); ++c) widths[c] = std::max(widths[c], line[c].size());
  // Text columns (shape, dtype, cache, backend, note) align left, numbers right.
  const auto left_aligned = [](size_t column) {
    return column == 0 || column == 2 || column == 3 || column == 4 || column == 11;
  };
  for (const auto& line : table) {
    std::string text;
    for (size_t c = 0; c < line.size(); ++c) {
      const std::string padding(widths[c] - line[c].size(), ' ');
      text += (c ? "  " : "") + (left_aligned(c) ? line[c] + padding : padding + line[c]);
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << "\n";
  }
}

void print_csv(std::ostream& out, const std::vector<BenchRow>& rows) {
  out << "shape,tokens,dtype,cache_dtype,backend,device,repetitions,us_per_call,gb_per_s,"
         "memcpy_gb_per_s,fraction_of_memcpy,max_abs_error,error_over_tolerance,note\n";
  for (const BenchRow& row : rows) {
    const std::vector<std::string> c = cells(row, true);
    out << csv_field(row.shape) << "," << row.tokens << "," << row.dtype << "," << row.cache_dtype
        << "," << row.backend << "," << csv_field(row.device) << "," << row.repetitions << ","
        << c[5] << "," << c[6] << "," << c[7] << "," << c[8] << "," << c[9] << "," << c[10] << ","
        << csv_field(row.note) << "\n";
  }
}

void print_json(std::ostream& out, const BenchSetup& setup, const std::vector<BenchRow>& rows) {
  nlohmann::json results = nlohmann::json::array();
  for (const BenchRow& row : rows) {
    const bool timed = std::isfinite(row.seconds);
    results.push_back({
        {"shape", row.shape},
        {"tokens", row.tokens},
        {"dtype", row.dtype},
        {"cache_dtype", row.cache_dtype},
        {"backend", row.backend},
        {"device", row.device},
        {"repetitions", row.repetitions},
        {"seconds_per_call", number_or_null(timed, row.seconds)},
        {"bytes", row.bytes},
        {"gb_per_s", number_or_null(timed, row.gigabytes_per_second())},
        {"memcpy_seconds", number_or_null(true, row.copy_seconds)},
        {"memcpy_gb_per_s", number_or_null(true, row.copy_gigabytes_per_second())},
        {"fraction_of_memcpy", number_or_null(timed, row.fraction_of_copy())},
        {"max_abs_error", number_or_null(true, row.max_abs_error)},
        {"error_over_tolerance", number_or_null(true, row.max_error_ratio)},
        {"note", row.note},
    });
  }
  const nlohmann::json document{{"ropekit_version", kVersion},
                                 {"date", utc_now()},
                                 {"seed", setup.seed},
                                 {"max_position", setup.max_position},
                                 {"layout", setup.layout},
                                 {"backends", setup.backend_devices},
                                 {"results", results}};
  out << document.dump(2) << "\n";
}

}  // namespace ropekit::cli
