// `ropekit bench`: time per call, bandwidth, fraction of a memcpy and error against the float64
// checker for real model shapes on every available backend.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>

#include "bench_report.hpp"
#include "cli_names.hpp"
#include "commands.hpp"
#include "common/model_shapes.hpp"
#include "common/oracle_check.hpp"
#include "device_ops.hpp"
#include "progress.hpp"
#include "ropekit/config.hpp"

namespace ropekit::cli {
namespace {

// The float64 reference loops are slow (about 45 ms per call for llama3-8b at T=4096 on the
// 2-core dev machine, 4x that at T=16384): time them with a few calls only, without the
// estimating call, to keep the default run well under two minutes.
constexpr int kReferenceMaxRepetitions = 3;
// Automatic repetitions: enough calls for about this long per measurement, within the bounds.
constexpr double kSecondsPerMeasurement = 0.25;
constexpr int kMinRepetitions = 3;
constexpr int kMaxRepetitions = 200;

struct BenchOptions {
  std::vector<std::string> shapes;
  std::vector<std::string> configs;  // HF config.json paths: their models' shapes
  std::vector<int64_t> tokens{1, 16, 256, 4096, 16384};
  std::string dtype_name = "bfloat16";
  std::string cache_dtype_name;  // empty: the same as dtype
  DType dtype = DType::bfloat16;
  DType cache_dtype = DType::bfloat16;
  std::vector<std::string> backends;
  int repetitions = 0;  // 0: automatic
  // Llama 3.1's max_position_embeddings: the cache a serving engine actually holds (64 MiB in
  // float32 at rotary_dim 128), larger than CPU and GPU last-level caches, so random positions
  // read their rows from DRAM as in batched decoding over long contexts.
  int64_t max_position = 131072;
  uint64_t seed = 0;
  bool fused_qkv = false;
  bool csv = false;
  bool json = false;
  bool quiet = false;
};

// A shape to run: a row of shapes::kModelShapes, or one read from a config.json (named after the
// file, which the constexpr table cannot hold).
struct BenchShape {
  std::string name;
  shapes::ModelShape dims;  // dims.name is unused
};

// The table's row `name`; throws ropekit::Error naming --shape for an unknown name.
BenchShape table_shape(std::string_view name) {
  if (const shapes::ModelShape* shape = shapes::find_model_shape(name))
    return {std::string(shape->name), *shape};
  std::string known;
  for (const shapes::ModelShape& shape : shapes::kModelShapes)
    known += (known.empty() ? "" : ", ") + std::string(shape.name);
  throw Error("--shape: expected one of " + known + " or all, got '" + std::string(name) + "'");
}

// num_attention_heads (n_head in GPT-J / GPT-2 style configs) and num_key_value_heads (default:
// as many as query heads) of the language model: text_config when the top level lacks them, as
// in Qwen2.5-VL and Gemma 3.
std::pair<int64_t, int64_t> heads_of(const nlohmann::json& document) {
  const auto has_heads = [](const nlohmann::json& j) {
    return j.contains("num_attention_heads") || j.contains("n_head");
  };
  const nlohmann::json* model = &document;
  if (!has_heads(document) && document.contains("text_config") &&
      document["text_config"].is_object())
    model = &document["text_config"];
  const auto count = [&](const char* field) -> int64_t {
    const auto& value = (*model)[field];
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
      throw Error(std::string(field) + ": expected a positive integer, got " + value.dump());
    return value.get<int64_t>();
  };
  if (!has_heads(*model))
    throw Error("num_attention_heads: missing (needed for the shape of the benchmark)");
  const int64_t heads =
      count(model->contains("num_attention_heads") ? "num_attention_heads" : "n_head");
  const int64_t kv_heads = model->contains("num_key_value_heads") &&
                                   !(*model)["num_key_value_heads"].is_null()
                               ? count("num_key_value_heads")
                               : heads;
  if (heads % kv_heads != 0)
    throw Error("num_key_value_heads: expected a divisor of num_attention_heads = " +
                std::to_string(heads) + ", got " + std::to_string(kv_heads));
  return {heads, kv_heads};
}

// Head size, rotary dim and pairing as ropekit derives them (RopeConfig), heads from
// num_attention_heads and num_key_value_heads; named after the file. Throws ropekit::Error naming
// --config and the file.
BenchShape shape_from_hf_config(const std::string& path) {
  try {
    // Read once: the rope fields and the head counts come from the same text.
    std::ifstream file(path);
    if (!file) throw Error("cannot open the file");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    const RopeConfig rope = parse_hf_config(text);
    const auto [heads, kv_heads] = heads_of(nlohmann::json::parse(text));
    BenchShape shape;
    shape.name = std::filesystem::path(path).stem().string();
    shape.dims.num_heads = heads;
    shape.dims.num_kv_heads = kv_heads;
    shape.dims.head_size = rope.head_size;
    shape.dims.rotary_dim = rope.rotary_dim;
    shape.dims.is_neox = rope.is_neox;
    return shape;
  } catch (const nlohmann::json::exception& error) {
    throw Error("--config " + path + ": " + error.what());
  } catch (const Error& error) {
    throw Error("--config " + path + ": " + error.what());
  }
}

// The shapes to run: --shape names (the default set when neither --shape nor --config is given),
// then one shape per --config file.
std::vector<BenchShape> expand_shapes(const BenchOptions& options) {
  std::vector<std::string> names = options.shapes;
  if (names.empty() && options.configs.empty())
    names.assign(std::begin(shapes::kDefaultBenchShapes), std::end(shapes::kDefaultBenchShapes));
  std::vector<BenchShape> expanded;
  for (const std::string& name : names) {
    if (name == "all") {
      for (const shapes::ModelShape& shape : shapes::kModelShapes)
        expanded.push_back({std::string(shape.name), shape});
    } else {
      expanded.push_back(table_shape(name));
    }
  }
  for (const std::string& path : options.configs) expanded.push_back(shape_from_hf_config(path));
  return expanded;
}

// Repetitions for a measurement whose single call took about `estimate` seconds.
int automatic_repetitions(double estimate) {
  return int(std::clamp(kSecondsPerMeasurement / std::max(estimate, 1e-7),
                        double(kMinRepetitions), double(kMaxRepetitions)));
}

class BenchRun {
 public:
  BenchRun(const BenchOptions& options, BackendDevices& devices, std::vector<Backend> backends)
      : options_(options), devices_(devices), backends_(std::move(backends)) {}

  std::vector<BenchRow> run() {
    const std::vector<BenchShape> bench_shapes = expand_shapes(options_);
    Progress progress(int(bench_shapes.size() * options_.tokens.size() * backends_.size()),
                      !options_.quiet);
    std::vector<BenchRow> rows;
    for (const BenchShape& shape : bench_shapes)
      for (int64_t tokens : options_.tokens) {
        // Every backend gets the same bytes: the problem restored after each.
        check::Problem problem = check::make_problem(make_case(shape.dims, tokens),
                                                     options_.seed + uint64_t(rows.size()));
        std::map<std::string, double> copy_seconds;  // per device, for this row's bytes
        for (Backend backend : backends_) {
          progress.step(shape.name + " T=" + std::to_string(tokens) + " " + to_string(backend));
          rows.push_back(measure(shape, problem, backend, copy_seconds));
          problem.restore();
        }
      }
    return rows;
  }

 private:
  check::Case make_case(const shapes::ModelShape& shape, int64_t tokens) const {
    check::Case c;
    c.tokens = tokens;
    c.num_heads = shape.num_heads;
    c.num_kv_heads = shape.num_kv_heads;
    c.head_size = shape.head_size;
    c.rotary_dim = shape.rotary_dim;
    c.is_neox = shape.is_neox;
    c.x_dtype = options_.dtype;
    c.cache_dtype = options_.cache_dtype;
    c.positions_dtype = DType::int64;
    c.max_position = options_.max_position;
    c.fused_qkv = options_.fused_qkv;
    c.rope_cache = true;  // timing repeats the call in place
    return c;
  }

  BenchRow measure(const BenchShape& shape, check::Problem& problem, Backend backend,
                   std::map<std::string, double>& copy_seconds) {
    const check::Case& c = problem.c;
    DeviceOps& ops = devices_.for_backend(backend);
    BenchRow row;
    row.shape = shape.name;
    row.tokens = c.tokens;
    row.dtype = to_string(c.x_dtype);
    row.cache_dtype = to_string(c.cache_dtype);
    row.backend = to_string(backend);
    row.device = ops.name();

    // One checked call first, then the timed ones on the same (rotated) data.
    DeviceProblem device(ops, problem);
    const RotaryArgs args = device.args(backend);
    rotary_embedding(args);
    device.download();
    const check::CheckReport report = check::check_against_oracle(problem);
    row.max_abs_error = report.max_abs_error;
    row.max_error_ratio = report.max_error_ratio;
    if (!report.passed()) row.note = "MISMATCH: " + std::to_string(report.mismatches) + " elements";
    row.bytes = bytes_moved(problem);

    const std::function<void()> call = [&args] { rotary_embedding(args); };
    if (backend == Backend::reference) {
      row.repetitions = options_.repetitions == 0
                            ? kReferenceMaxRepetitions
                            : std::min(options_.repetitions, kReferenceMaxRepetitions);
    } else {
      row.repetitions = options_.repetitions != 0
                            ? options_.repetitions
                            : automatic_repetitions(ops.seconds_per_call(call, 1));
    }
    row.seconds = ops.seconds_per_call(call, row.repetitions);

    // A copy of bytes/2 reads and writes `bytes`: the same traffic as the rotary call.
    auto found = copy_seconds.find(ops.name());
    if (found == copy_seconds.end())
      found = copy_seconds.emplace(ops.name(), seconds_per_copy(ops, size_t(row.bytes / 2))).first;
    row.copy_seconds = found->second;
    return row;
  }

  double seconds_per_copy(DeviceOps& ops, size_t bytes) const {
    const int repetitions = options_.repetitions != 0
                                ? options_.repetitions
                                : automatic_repetitions(ops.seconds_per_copy(bytes, 1));
    return ops.seconds_per_copy(bytes, repetitions);
  }

  const BenchOptions& options_;
  BackendDevices& devices_;
  std::vector<Backend> backends_;
};

void run_bench(const BenchOptions& options_in) {
  BenchOptions options = options_in;
  options.dtype = floating_dtype_names().at(options.dtype_name);
  options.cache_dtype = options.cache_dtype_name.empty()
                            ? options.dtype
                            : floating_dtype_names().at(options.cache_dtype_name);
  BackendDevices devices;
  const std::vector<Backend> backends = devices.select(options.backends, true);
  if (backends.empty()) throw Error("--backend: no backend is available");

  const std::vector<BenchRow> rows = BenchRun(options, devices, backends).run();
  BenchSetup setup;
  setup.max_position = options.max_position;
  setup.seed = options.seed;
  setup.layout = options.fused_qkv ? "q, k views of a fused qkv buffer" : "separate q, k";
  for (Backend backend : backends)
    setup.backend_devices.push_back(to_string(backend) + " on " +
                                    devices.for_backend(backend).name());
  if (options.json)
    print_json(std::cout, setup, rows);
  else if (options.csv)
    print_csv(std::cout, rows);
  else
    print_table(std::cout, setup, rows);
  for (const BenchRow& row : rows)
    if (row.note.rfind("MISMATCH", 0) == 0)
      throw Error(row.backend + " differs from the float64 checker on " + row.shape +
                  " T=" + std::to_string(row.tokens) + " (" + row.note + ")");
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  options->seed = std::random_device{}();
  CLI::App* bench = app.add_subcommand(
      "bench", "Time every backend on real model shapes: time per call, GB/s, fraction of a "
               "memcpy, max error against a float64 computation of the rotation");

  std::vector<std::string> shape_names{"all"};
  for (const shapes::ModelShape& shape : shapes::kModelShapes)
    shape_names.emplace_back(shape.name);
  std::string default_shapes;
  for (std::string_view name : shapes::kDefaultBenchShapes)
    default_shapes += (default_shapes.empty() ? "" : ", ") + std::string(name);
  bench->add_option("--shape", options->shapes,
                    "Model shape(s), repeatable or comma-separated, or 'all' (default: " +
                        default_shapes + "; MRoPE models run as text)")
      ->delimiter(',')
      ->check(CLI::IsMember(shape_names));
  bench->add_option("--config", options->configs,
                    "Hugging Face config.json of a model (repeatable): benchmark its shape (heads, "
                    "head size, rotary dim, pairing as ropekit derives them; the cache holds plain "
                    "RoPE values, which do not change the timing; mrope models run as text)")
      ->check(CLI::ExistingFile);
  bench->add_option("--tokens", options->tokens,
                    "Token counts T (default: 1,16,256,4096,16384)")
      ->delimiter(',')
      ->check(CLI::Range(int64_t(1), int64_t(1) << 22));
  std::vector<std::string> dtype_list;
  for (const auto& entry : floating_dtype_names()) dtype_list.push_back(entry.first);
  bench->add_option("--dtype", options->dtype_name,
                    "Query/key dtype: float32, float16 or bfloat16 (default: bfloat16)")
      ->check(CLI::IsMember(dtype_list));
  bench->add_option("--cache-dtype", options->cache_dtype_name,
                    "cos/sin cache dtype (default: the --dtype)")
      ->check(CLI::IsMember(dtype_list));
  std::vector<std::string> backend_list;
  for (const auto& entry : backend_names()) backend_list.push_back(entry.first);
  bench->add_option("--backend", options->backends,
                    "Backend(s): reference, cpu, cuda (default: every available one)")
      ->delimiter(',')
      ->check(CLI::IsMember(backend_list));
  bench->add_option("--repetitions", options->repetitions,
                    "Timed calls per measurement, median reported (default: about 0.25 s worth, "
                    "3 to 200; the reference at most 3)")
      ->check(CLI::Range(1, 100000));
  bench->add_option("--max-position", options->max_position,
                    "Rows of the cos/sin cache; positions are drawn uniformly below it "
                    "(default: 131072, Llama 3.1's context length)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  bench->add_option("--seed", options->seed, "Seed of the random data (default: random)");
  bench->add_flag("--fused-qkv", options->fused_qkv,
                  "q and k as strided views of one [T, (nh + 2 nkv) * hs] qkv buffer, as in vLLM "
                  "(default: separate contiguous q and k)");
  CLI::Option* csv = bench->add_flag("--csv", options->csv, "Print CSV instead of a table");
  CLI::Option* json = bench->add_flag("--json", options->json, "Print JSON instead of a table");
  csv->excludes(json);
  bench->add_flag("--quiet", options->quiet, "No progress lines on stderr");
  bench->callback([options] { run_bench(*options); });
}

}  // namespace ropekit::cli
