#include "mrope_harness.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "ropekit/cache.hpp"

namespace ropekit::testing {
namespace {

// Checks every element of one tensor against the float64 rotation of its input.
void check_tensor(const MropeCase& c, const MropeRun& r, const HostTensor& out,
                  const std::vector<double>& in, int64_t heads, const char* name) {
  const int64_t half = c.rotary_dim / 2;
  int failures = 0;
  for (int64_t t = 0; t < c.tokens; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t base = (t * heads + h) * c.head_size;
      for (int64_t i = 0; i < half; ++i) {
        const int stream = oracle_stream(i, c.section, c.interleaved);
        const int64_t position = static_cast<int64_t>(r.positions.get(stream * c.tokens + t));
        const double cos_v = r.cache.get(position * c.rotary_dim + i);
        const double sin_v = (c.inverse ? -1 : 1) * r.cache.get(position * c.rotary_dim + half + i);
        const double a = in[base + i], b = in[base + i + half];
        const double want[2] = {a * cos_v - b * sin_v, b * cos_v + a * sin_v};
        // Each output's own products (as in common/oracle_check.cpp).
        const double magnitude[2] = {std::fabs(a * cos_v) + std::fabs(b * sin_v),
                                     std::fabs(b * cos_v) + std::fabs(a * sin_v)};
        const int64_t at[2] = {base + i, base + i + half};
        for (int k = 0; k < 2; ++k) {
          const double got = out.get(at[k]);
          const double tol = tolerance(c.x_dtype, want[k], magnitude[k]);
          if (!(std::fabs(got - want[k]) <= tol) && failures++ < 5)
            ADD_FAILURE() << name << " token " << t << " head " << h << " element " << at[k] - base
                          << " (stream " << stream << "): got " << got << ", want " << want[k];
        }
      }
      for (int64_t e = c.rotary_dim; e < c.head_size; ++e)
        if (out.get(base + e) != in[base + e] && failures++ < 5)
          ADD_FAILURE() << name << " pass-through element " << e << " changed";
    }
}

}  // namespace

int oracle_stream(int64_t i, const std::array<int64_t, 3>& section, bool interleaved) {
  return check::mrope_stream(i, section, interleaved);
}

MropeRun make_run(const MropeCase& c, std::mt19937_64& rng) {
  MropeRun r;
  r.positions = make_host_tensor(c.positions_dtype, {3, c.tokens});
  std::uniform_int_distribution<int64_t> position(0, c.max_position - 1);
  for (int64_t i = 0; i < 3 * c.tokens; ++i) r.positions.set(i, double(position(rng)));

  // A genuine cos/sin cache (values of any magnitude would do for the op; real ones read better).
  HostTensor cache = make_host_tensor(c.cache_dtype, {c.max_position, c.rotary_dim});
  build_cos_sin_cache(default_inv_freq(1e6, c.rotary_dim), 1.0, cache.view);
  r.cache = std::move(cache);

  std::uniform_real_distribution<double> value(-2.0, 2.0);
  auto fill = [&](HostTensor& t, std::vector<double>& copy) {
    for (int64_t i = 0; i < t.view.numel(); ++i) {
      t.set(i, value(rng));
      copy.push_back(t.get(i));
    }
  };
  r.query = make_host_tensor(c.x_dtype, {c.tokens, c.num_heads, c.head_size});
  fill(r.query, r.query_in);
  if (c.num_kv_heads > 0) {
    r.key = make_host_tensor(c.x_dtype, {c.tokens, c.num_kv_heads, c.head_size});
    fill(r.key, r.key_in);
  }
  if (c.out_of_place) {
    r.query_out = make_host_tensor(c.x_dtype, {c.tokens, c.num_heads, c.head_size});
    if (c.num_kv_heads > 0)
      r.key_out = make_host_tensor(c.x_dtype, {c.tokens, c.num_kv_heads, c.head_size});
  }
  return r;
}

RotaryArgs args_of(const MropeCase& c, MropeRun& r, Backend backend) {
  RotaryArgs a;
  a.positions = r.positions.view;
  a.query = r.query.view;
  if (c.num_kv_heads > 0) a.key = r.key.view;
  a.head_size = c.head_size;
  a.cos_sin_cache = r.cache.view;
  a.is_neox = true;
  a.inverse = c.inverse;
  a.backend = backend;
  a.mrope_section = c.section;
  a.mrope_interleaved = c.interleaved;
  if (c.out_of_place) {
    a.query_out = r.query_out.view;
    if (c.num_kv_heads > 0) a.key_out = r.key_out.view;
  }
  return a;
}

void check_run(const MropeCase& c, const MropeRun& r) {
  check_tensor(c, r, c.out_of_place ? r.query_out : r.query, r.query_in, c.num_heads, "query");
  if (c.num_kv_heads > 0)
    check_tensor(c, r, c.out_of_place ? r.key_out : r.key, r.key_in, c.num_kv_heads, "key");
  if (c.out_of_place)  // inputs untouched
    for (int64_t i = 0; i < r.query.view.numel(); ++i) ASSERT_EQ(r.query.get(i), r.query_in[i]);
}

}  // namespace ropekit::testing
