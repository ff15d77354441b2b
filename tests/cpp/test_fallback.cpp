// The fallback: forcing the cpu backend (ROPEKIT_BACKEND=cpu), automatic selection and the
// reference backend give the same answer within the dtype's tolerance.
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness.hpp"

namespace ropekit::testing {
namespace {

class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnvironment() { ::unsetenv(name_); }

 private:
  const char* name_;
};

// Runs one fresh copy of the same random problem through rotary_embedding with `backend` and
// returns the rotated bytes (query and key buffers).
std::vector<unsigned char> run_copy(const Case& c, uint64_t seed, Backend backend) {
  Problem problem = make_problem(c, seed);
  rotary_embedding(problem.args(backend));
  EXPECT_TRUE(check_result(problem).empty()) << to_string(backend) << " " << c.describe();
  std::vector<unsigned char> bytes = problem.query.storage;
  bytes.insert(bytes.end(), problem.key.storage.begin(), problem.key.storage.end());
  return bytes;
}

TEST(Fallback, ForcedCpuEqualsAutoAndMatchesReference) {
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 50; ++i) {
    Case c = random_case(rng);
    c.fused_qkv = false;
    const uint64_t seed = rng();
    const std::vector<unsigned char> automatic = run_copy(c, seed, Backend::automatic);
    std::vector<unsigned char> forced;
    {
      ScopedEnvironment env("ROPEKIT_BACKEND", "cpu");
      Problem probe = make_problem(c, seed);
      EXPECT_EQ(resolve_backend(probe.args(Backend::automatic)), Backend::cpu);
      forced = run_copy(c, seed, Backend::automatic);
    }
    {
      ScopedEnvironment env("ROPEKIT_BACKEND", "reference");
      Problem probe = make_problem(c, seed);
      EXPECT_EQ(resolve_backend(probe.args(Backend::automatic)), Backend::reference);
      run_copy(c, seed, Backend::automatic);  // checked against the oracle inside
    }
    // Auto on host data is the cpu backend: the same code, so the same bits.
    EXPECT_EQ(forced, automatic) << c.describe();
  }
}

TEST(Fallback, AutoPicksCpuForHostData) {
  Problem problem = make_problem(Case{}, 1);
  EXPECT_EQ(resolve_backend(problem.args(Backend::automatic)), Backend::cpu);
}

}  // namespace
}  // namespace ropekit::testing
