// `ropekit verify`: a random sweep of every available backend against the float64 checker the C++
// tests use (common/oracle_check.hpp), plus a handful of bad inputs that must be rejected without
// writing anything.
#include <functional>
#include <iostream>
#include <map>
#include <random>

#include "cli_names.hpp"
#include "commands.hpp"
#include "common/oracle_check.hpp"
#include "common/rotary_case.hpp"
#include "device_ops.hpp"
#include "progress.hpp"

namespace ropekit::cli {
namespace {

constexpr int kReportedFailures = 10;

// One bad input: `spoil` breaks a valid problem (before it is copied to the device) or its
// arguments; the error must name `argument` and leave every buffer as it was.
struct BadInput {
  std::string description;
  std::string argument;  // the name the error message must start with
  // An out-of-range position value: only host backends check values (device code cannot throw
  // before writing).
  bool bad_position_value;
  std::function<void(check::Problem&)> spoil_problem;
  std::function<void(RotaryArgs&)> spoil_args;
};

std::vector<BadInput> bad_inputs() {
  const auto no_change = [](check::Problem&) {};
  return {
      {"float32 positions", "positions", false, no_change,
       [](RotaryArgs& a) { a.positions.dtype = DType::float32; }},
      {"head_size 0", "head_size", false, no_change, [](RotaryArgs& a) { a.head_size = 0; }},
      {"odd rotary_dim", "cos_sin_cache", false, no_change,
       [](RotaryArgs& a) { a.cos_sin_cache.shape[1] -= 1; }},
      {"query last dimension not contiguous", "query", false, no_change,
       [](RotaryArgs& a) { a.query.strides[a.query.ndim - 1] = 2; }},
      {"query tokens differ from positions", "query", false, no_change,
       [](RotaryArgs& a) { a.query.shape[0] -= 1; }},
      {"3 kv heads for 4 query heads", "key", false, no_change,
       [](RotaryArgs& a) { a.key->shape[a.key->ndim - 1] = 3 * a.head_size; }},
      {"key dtype differs from query", "key", false, no_change,
       [](RotaryArgs& a) { a.key->dtype = DType::float16; }},
      {"query_out without key_out", "key_out", false, no_change,
       [](RotaryArgs& a) { a.key_out.reset(); }},
      // Only the last token's position is out of range: a backend that checks while it writes
      // would already have rotated the others.
      {"position == max_position", "positions", true,
       [](check::Problem& p) {
         p.positions.set(p.positions.view.numel() - 1, double(p.c.max_position));
       },
       [](RotaryArgs&) {}},
  };
}

check::Case valid_case() {
  check::Case c;
  c.tokens = 9;
  c.num_heads = 4;
  c.num_kv_heads = 4;
  c.head_size = 64;
  c.rotary_dim = 32;
  c.x_dtype = DType::bfloat16;
  c.cache_dtype = DType::float32;
  c.max_position = 128;
  c.out_of_place = true;
  return c;
}

// "" when `bad` is rejected with the right argument name and nothing is written.
std::string check_rejected(Backend backend, DeviceOps& ops, const BadInput& bad, uint64_t seed) {
  check::Problem problem = check::make_problem(valid_case(), seed);
  bad.spoil_problem(problem);
  std::vector<std::vector<unsigned char>> before;
  for (const check::HostTensor* buffer : problem.buffers()) before.push_back(buffer->storage);
  DeviceProblem device(ops, problem);
  RotaryArgs args = device.args(backend);
  bad.spoil_args(args);
  std::string failure;
  try {
    rotary_embedding(args);
    failure = "accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(bad.argument + ":", 0) != 0)
      failure = "error does not start with '" + bad.argument + ":': " + message;
  }
  device.download();
  const std::vector<check::HostTensor*> after = problem.buffers();
  for (size_t i = 0; i < after.size(); ++i)
    if (after[i]->storage != before[i])
      failure += std::string(failure.empty() ? "" : "; ") + "buffer " + std::to_string(i) +
                 " was modified";
  return failure;
}

struct VerifyOptions {
  int64_t cases = 500;
  uint64_t seed = 0;
  std::vector<std::string> backends;
  bool quiet = false;
};

struct Tally {
  int64_t passed = 0;
  int64_t failed = 0;
  int64_t validation_passed = 0;
  int64_t validation_failed = 0;
  double max_error_ratio = 0;
};

class VerifyRun {
 public:
  VerifyRun(const VerifyOptions& options, BackendDevices& devices, std::vector<Backend> backends)
      : options_(options), devices_(devices), backends_(std::move(backends)) {}

  // Returns true when every case and every validation check passed.
  bool run() {
    Progress progress(int(options_.cases), !options_.quiet);
    std::mt19937_64 rng(options_.seed);
    for (int64_t index = 0; index < options_.cases; ++index) {
      const check::Case c = check::random_case(rng, index);
      const uint64_t data_seed = rng();
      progress.step("case " + std::to_string(index) + ": " + c.describe());
      run_case(index, c, data_seed);
    }
    for (Backend backend : backends_) check_bad_inputs(backend);
    return print_summary();
  }

 private:
  void run_case(int64_t index, const check::Case& c, uint64_t data_seed) {
    for (Backend backend : backends_) {
      Tally& tally = tallies_[backend];
      const std::string label = to_string(backend) + " case " + std::to_string(index) + " (" +
                                c.describe() + ")";
      try {
        check::Problem problem = check::make_problem(c, data_seed);
        {
          DeviceProblem device(devices_.for_backend(backend), problem);
          rotary_embedding(device.args(backend));
          device.download();
        }
        const check::CheckReport report = check::check_against_oracle(problem);
        tally.max_error_ratio = std::max(tally.max_error_ratio, report.max_error_ratio);
        if (report.passed()) {
          ++tally.passed;
        } else {
          ++tally.failed;
          report_failure(label + ": " + std::to_string(report.mismatches) + " mismatches\n" +
                         report.first_mismatches);
        }
      } catch (const std::exception& e) {
        ++tally.failed;
        report_failure(label + ": threw " + e.what());
      }
    }
  }

  void check_bad_inputs(Backend backend) {
    Tally& tally = tallies_[backend];
    uint64_t seed = options_.seed;
    for (const BadInput& bad : bad_inputs()) {
      if (bad.bad_position_value && backend == Backend::cuda) continue;
      const std::string failure =
          check_rejected(backend, devices_.for_backend(backend), bad, seed++);
      if (failure.empty()) {
        ++tally.validation_passed;
      } else {
        ++tally.validation_failed;
        report_failure(to_string(backend) + " bad input '" + bad.description + "': " + failure);
      }
    }
  }

  void report_failure(const std::string& what) {
    if (reported_++ < kReportedFailures) std::cout << "FAIL " << what << "\n";
  }

  bool print_summary() {
    if (reported_ > kReportedFailures)
      std::cout << "... " << (reported_ - kReportedFailures) << " more failures\n";
    std::cout << "ropekit verify: " << options_.cases << " random cases against the float64"
              << " checker, seed " << options_.seed << "\n";
    std::cout << "backend     cases passed  cases failed  bad inputs rejected  bad inputs missed"
                 "  max err/tol\n";
    bool all_passed = true;
    for (Backend backend : backends_) {
      const Tally& t = tallies_[backend];
      char line[160];
      std::snprintf(line, sizeof line, "%-10s  %12lld  %12lld  %19lld  %17lld  %11.3f\n",
                    to_string(backend).c_str(), (long long)t.passed, (long long)t.failed,
                    (long long)t.validation_passed, (long long)t.validation_failed,
                    t.max_error_ratio);
      std::cout << line;
      all_passed = all_passed && t.failed == 0 && t.validation_failed == 0;
    }
    std::cout << (all_passed ? "PASS" : "FAIL (rerun with --seed " + std::to_string(options_.seed) +
                                            ")")
              << "\n";
    return all_passed;
  }

  const VerifyOptions& options_;
  BackendDevices& devices_;
  std::vector<Backend> backends_;
  std::map<Backend, Tally> tallies_;
  int reported_ = 0;
};

}  // namespace

void add_verify_command(CLI::App& app) {
  auto options = std::make_shared<VerifyOptions>();
  options->seed = std::random_device{}();
  CLI::App* verify = app.add_subcommand(
      "verify", "Check every available backend against a float64 computation of the rotation on "
                "random problems, and that bad inputs are rejected; exits 1 on any failure");
  verify->add_option("--cases", options->cases, "Random cases (default: 500)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  verify->add_option("--seed", options->seed, "Seed of the sweep (default: random, printed)");
  std::vector<std::string> backend_list;
  for (const auto& entry : backend_names()) backend_list.push_back(entry.first);
  verify->add_option("--backend", options->backends,
                     "Backend(s) to check: reference, cpu, cuda (default: every available one "
                     "but the reference)")
      ->delimiter(',')
      ->check(CLI::IsMember(backend_list));
  verify->add_flag("--quiet", options->quiet, "No progress lines on stderr");
  verify->callback([options] {
    BackendDevices devices;
    const std::vector<Backend> backends = devices.select(options->backends, false);
    if (backends.empty()) throw Error("--backend: no backend to check");
    std::cout.flush();
    if (!VerifyRun(*options, devices, backends).run()) throw CLI::RuntimeError(1);
  });
}

}  // namespace ropekit::cli
