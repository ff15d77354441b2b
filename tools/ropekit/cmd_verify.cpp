// `ropekit verify`: a random sweep of every available backend against the reference backend
// (float64 math), plus a handful of bad inputs that must be rejected without writing anything.
#include <iostream>
#include <map>
#include <random>

#include "backend_devices.hpp"
#include "commands.hpp"
#include "compare_outputs.hpp"
#include "dtype_names.hpp"
#include "problem_buffers.hpp"
#include "progress.hpp"
#include "verify_cases.hpp"
#include "verify_validation.hpp"

namespace ropekit::cli {
namespace {

constexpr int kReportedFailures = 10;

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
      const ProblemSpec spec = random_case(rng, index);
      const uint64_t data_seed = rng();
      progress.step("case " + std::to_string(index) + ": " + spec.describe());
      run_case(index, spec, data_seed);
    }
    for (Backend backend : backends_)
      for (const ValidationResult& result :
           check_validation(backend, devices_.for_backend(backend), options_.seed)) {
        Tally& tally = tallies_[backend];
        if (result.failure.empty()) {
          ++tally.validation_passed;
        } else {
          ++tally.validation_failed;
          report_failure(to_string(backend) + " bad input '" + result.check + "': " +
                         result.failure);
        }
      }
    return print_summary();
  }

 private:
  void run_case(int64_t index, const ProblemSpec& spec, uint64_t data_seed) {
    ProblemBuffers oracle(devices_.host(), spec, data_seed);
    rotary_embedding(oracle.args(Backend::reference));
    const auto expected = oracle.download();
    for (Backend backend : backends_) {
      Tally& tally = tallies_[backend];
      const std::string label = to_string(backend) + " case " + std::to_string(index) + " (" +
                                spec.describe() + ")";
      try {
        ProblemBuffers problem(devices_.for_backend(backend), spec, data_seed);
        rotary_embedding(problem.args(backend));
        const Comparison comparison = compare_with_reference(problem, expected, problem.download());
        tally.max_error_ratio = std::max(tally.max_error_ratio, comparison.max_error_ratio);
        if (comparison.passed()) {
          ++tally.passed;
        } else {
          ++tally.failed;
          report_failure(label + ": " + std::to_string(comparison.mismatches) +
                         " mismatches\n" + comparison.first_mismatches);
        }
      } catch (const std::exception& e) {
        ++tally.failed;
        report_failure(label + ": threw " + e.what());
      }
    }
  }

  void report_failure(const std::string& what) {
    if (reported_++ < kReportedFailures) std::cout << "FAIL " << what << "\n";
  }

  bool print_summary() {
    if (reported_ > kReportedFailures)
      std::cout << "... " << (reported_ - kReportedFailures) << " more failures\n";
    std::cout << "ropekit verify: " << options_.cases << " random cases against the reference"
              << " backend, seed " << options_.seed << "\n";
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
      "verify", "Check every available backend against the reference backend (float64 math) on "
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
