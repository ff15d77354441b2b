// `ropekit cache --config config.json`: the RoPE parameters ropekit derives from an HF config,
// a summary of the cos/sin cache it builds (with its error against float64 at probe positions),
// and optionally the cache itself as .npy or raw .bin.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/numeric.hpp"
#include "cli_names.hpp"
#include "ropekit/config.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::cli {
namespace {

struct CacheOptions {
  std::string config_path;
  int64_t max_position = 0;  // 0: the config's max_position_embeddings
  int64_t sequence_length = 0;
  std::string dtype_name = "float32";
  std::string output_path;
};

DType dtype_of(const std::string& name) {
  if (name == "float64" || name == "fp64") return DType::float64;
  const auto& names = floating_dtype_names();
  const auto it = names.find(name);
  if (it == names.end())
    throw Error("--dtype: expected float32, float16, bfloat16 or float64, got '" + name + "'");
  return it->second;
}

double cache_value(const std::vector<unsigned char>& bytes, DType dtype, int64_t index) {
  const unsigned char* base = bytes.data();
  switch (dtype) {
    case DType::float64: return reinterpret_cast<const double*>(base)[index];
    case DType::float32: return reinterpret_cast<const float*>(base)[index];
    case DType::float16: return detail::f16_to_float(reinterpret_cast<const detail::f16_t*>(base)[index]);
    case DType::bfloat16: return detail::bf16_to_float(reinterpret_cast<const detail::bf16_t*>(base)[index]);
    default: return NAN;
  }
}

std::string optional_text(const std::optional<double>& value) {
  return value ? std::to_string(*value) : std::string("(not set)");
}

void print_parameters(const RopeConfig& c, const RopeFrequencies& f) {
  std::printf("model_type            %s\n", c.model_type.empty() ? "(not set)" : c.model_type.c_str());
  std::printf("rope_type             %s\n", to_string(c.type).c_str());
  std::printf("rope_theta            %.17g\n", c.rope_theta);
  std::printf("head_size             %lld\n", static_cast<long long>(c.head_size));
  std::printf("rotary_dim            %lld\n", static_cast<long long>(c.rotary_dim));
  std::printf("pairing               %s\n", c.is_neox ? "neox (x[i], x[i + rotary_dim/2])" : "gptj (x[2i], x[2i+1])");
  std::printf("max_position_emb.     %lld\n", static_cast<long long>(c.max_position_embeddings));
  if (c.original_max_position_embeddings)
    std::printf("original_max_pos.     %lld\n", static_cast<long long>(*c.original_max_position_embeddings));
  if (c.type != RopeType::default_rope) std::printf("factor                %s\n", optional_text(c.factor).c_str());
  if (c.type == RopeType::yarn)
    std::printf("yarn                  beta_fast %g, beta_slow %g, mscale %s, mscale_all_dim %s, truncate %s\n",
                c.beta_fast, c.beta_slow, optional_text(c.mscale).c_str(),
                optional_text(c.mscale_all_dim).c_str(), c.truncate ? "true" : "false");
  if (c.type == RopeType::llama3)
    std::printf("llama3                low_freq_factor %g, high_freq_factor %g\n", c.low_freq_factor,
                c.high_freq_factor);
  if (c.type == RopeType::longrope)
    std::printf("longrope              %zu short / %zu long factors; cache = L0 short rows + long rows\n",
                c.short_factor.size(), c.long_factor.size());
  if (c.mrope_section)
    std::printf("mrope_section         [%lld, %lld, %lld] %s\n", static_cast<long long>((*c.mrope_section)[0]),
                static_cast<long long>((*c.mrope_section)[1]), static_cast<long long>((*c.mrope_section)[2]),
                c.mrope_interleaved ? "interleaved" : "contiguous");
  std::printf("attention_factor      %.17g\n", f.attention_factor);
  const auto [smallest, largest] = std::minmax_element(f.inv_freq.begin(), f.inv_freq.end());
  std::printf("inv_freq              %zu values: [0] %.17g, [%zu] %.17g, min %.6g, max %.6g\n",
              f.inv_freq.size(), f.inv_freq.front(), f.inv_freq.size() - 1, f.inv_freq.back(),
              *smallest, *largest);
}

// Largest |cache - cos/sin(p * inv_freq) * attention| over one row, the truth in float64.
double row_error(const std::vector<unsigned char>& bytes, DType dtype, int64_t row,
                 int64_t position, const RopeFrequencies& f) {
  const int64_t half = static_cast<int64_t>(f.inv_freq.size());
  double worst = 0;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * f.inv_freq[i];
    worst = std::max(worst, std::fabs(cache_value(bytes, dtype, row * 2 * half + i) -
                                      std::cos(angle) * f.attention_factor));
    worst = std::max(worst, std::fabs(cache_value(bytes, dtype, row * 2 * half + half + i) -
                                      std::sin(angle) * f.attention_factor));
  }
  return worst;
}

void print_cache_summary(const std::vector<unsigned char>& bytes, DType dtype, int64_t rows,
                         int64_t rotary_dim, const RopeConfig& c, const CacheOptions& o) {
  std::printf("cache                 [%lld, %lld] %s, %.1f MiB%s\n", static_cast<long long>(rows),
              static_cast<long long>(rotary_dim), to_string(dtype).c_str(),
              static_cast<double>(bytes.size()) / (1 << 20),
              c.type == RopeType::longrope ? " (short rows, then long rows)" : "");
  std::printf("max |error| vs float64 cos/sin(p * inv_freq), per probe position:\n");
  const int64_t positions = c.type == RopeType::longrope ? rows - *c.original_max_position_embeddings : rows;
  std::set<int64_t> probes;
  for (int64_t p : {int64_t{0}, int64_t{1}, int64_t{4095}, int64_t{4096}, int64_t{8191},
                    int64_t{131071}, positions - 1})
    if (p < positions) probes.insert(p);
  for (int64_t p : probes) {
    if (c.type == RopeType::longrope) {
      const int64_t short_rows = *c.original_max_position_embeddings;
      if (p < short_rows)
        std::printf("  p = %-8lld short %.3e\n", static_cast<long long>(p),
                    row_error(bytes, dtype, p, p, rope_frequencies(c, short_rows)));
      std::printf("  p = %-8lld long  %.3e\n", static_cast<long long>(p),
                  row_error(bytes, dtype, short_rows + p, p, rope_frequencies(c, short_rows + 1)));
    } else {
      std::printf("  p = %-8lld %.3e\n", static_cast<long long>(p),
                  row_error(bytes, dtype, p, p, rope_frequencies(c, o.sequence_length)));
    }
  }
}

// NumPy's .npy v1.0: magic, header length, a Python dict literal padded to 64 bytes, raw data.
void write_npy(const std::string& path, const std::vector<unsigned char>& bytes, DType dtype,
               int64_t rows, int64_t columns) {
  const char* descr = dtype == DType::float64 ? "<f8" : dtype == DType::float32 ? "<f4"
                      : dtype == DType::float16 ? "<f2" : nullptr;
  if (descr == nullptr) throw Error("--output: .npy has no " + to_string(dtype) + " type");
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(columns) + "), }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream file(path, std::ios::binary);
  if (!file) throw Error("--output: cannot open '" + path + "' for writing");
  const unsigned char preamble[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  file.write(reinterpret_cast<const char*>(preamble), 8);
  const uint16_t length = static_cast<uint16_t>(header.size());
  const unsigned char length_bytes[2] = {static_cast<unsigned char>(length & 0xff),
                                         static_cast<unsigned char>(length >> 8)};
  file.write(reinterpret_cast<const char*>(length_bytes), 2);
  file << header;
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw Error("--output: writing '" + path + "' failed");
}

void write_raw(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream file(path, std::ios::binary);
  if (!file) throw Error("--output: cannot open '" + path + "' for writing");
  file.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw Error("--output: writing '" + path + "' failed");
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void run_cache(const CacheOptions& o) {
  const DType dtype = dtype_of(o.dtype_name);
  if (!o.output_path.empty() && !ends_with(o.output_path, ".npy") && !ends_with(o.output_path, ".bin"))
    throw Error("--output: expected a file name ending in .npy or .bin, got '" + o.output_path + "'");
  if (ends_with(o.output_path, ".npy") && dtype == DType::bfloat16)
    throw Error("--output: .npy has no bfloat16 type; write a .bin (raw little-endian bf16) instead");
  const RopeConfig config = load_hf_config(o.config_path);
  const RopeFrequencies frequencies = rope_frequencies(config, o.sequence_length);
  print_parameters(config, frequencies);

  int64_t max_position = o.max_position;
  if (max_position == 0) max_position = config.max_position_embeddings;
  if (max_position <= 0)
    throw Error("--max-position: the config has no max_position_embeddings; give --max-position");
  const int64_t rows = config.type == RopeType::longrope ? longrope_cache_rows(config, max_position)
                                                         : max_position;
  std::vector<unsigned char> bytes(static_cast<size_t>(rows * config.rotary_dim * element_size(dtype)));
  const TensorView view = make_contiguous_view(bytes.data(), dtype, {rows, config.rotary_dim});
  if (config.type == RopeType::longrope) build_longrope_cos_sin_cache(config, view);
  else build_cos_sin_cache(config, view, o.sequence_length);
  print_cache_summary(bytes, dtype, rows, config.rotary_dim, config, o);

  if (o.output_path.empty()) return;
  if (ends_with(o.output_path, ".npy")) write_npy(o.output_path, bytes, dtype, rows, config.rotary_dim);
  else write_raw(o.output_path, bytes);
  std::printf("wrote                 %s\n", o.output_path.c_str());
}

}  // namespace

void add_cache_command(CLI::App& app) {
  auto options = std::make_shared<CacheOptions>();
  CLI::App* cache = app.add_subcommand(
      "cache", "Derive RoPE parameters from a Hugging Face config.json and build its cos/sin cache");
  cache->add_option("--config", options->config_path, "config.json of the model")
      ->required()
      ->check(CLI::ExistingFile);
  cache->add_option("--max-position", options->max_position,
                    "cache rows (default: the config's max_position_embeddings)")
      ->check(CLI::PositiveNumber);
  cache->add_option("--sequence-length", options->sequence_length,
                    "dynamic NTK: the sequence length to scale for (default: load-time values)")
      ->check(CLI::NonNegativeNumber);
  cache->add_option("--dtype", options->dtype_name,
                    "cache dtype: float32 (default), float16, bfloat16 or float64")
      ->capture_default_str();
  cache->add_option("--output", options->output_path, "write the cache to a .npy or raw .bin file");
  cache->callback([options] { run_cache(*options); });
}

}  // namespace ropekit::cli
