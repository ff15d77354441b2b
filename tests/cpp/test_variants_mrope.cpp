// Multimodal RoPE (positions [3, T]) in the reference backend against an oracle written here from
// ROPE_SPEC §4, on fresh random data with poisoned outputs; plus its validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "harness.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::testing {
namespace {

// The stream (0 t, 1 h, 2 w) of frequency i, restated from the spec rather than shared with the
// library, so that a wrong rule in one place cannot hide in both.
int oracle_stream(int64_t i, const std::array<int64_t, 3>& section, bool interleaved) {
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

struct MropeCase {
  int64_t tokens = 9;
  int64_t num_heads = 4;
  int64_t num_kv_heads = 2;  // 0: no key
  int64_t head_size = 128;
  int64_t rotary_dim = 128;
  std::array<int64_t, 3> section{16, 24, 24};
  bool interleaved = false;
  DType x_dtype = DType::float32;
  DType cache_dtype = DType::float32;
  DType positions_dtype = DType::int64;
  bool inverse = false;
  bool out_of_place = false;
  int64_t max_position = 2048;
};

struct MropeRun {
  HostTensor positions, cache, query, key, query_out, key_out;
  std::vector<double> query_in, key_in;  // the inputs before the run
};

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
        const int64_t at[2] = {base + i, base + i + half};
        for (int k = 0; k < 2; ++k) {
          const double got = out.get(at[k]);
          const double tol = tolerance(c.x_dtype, want[k], std::fabs(a * cos_v) + std::fabs(b * sin_v));
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

void run_and_check(const MropeCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MropeRun r = make_run(c, rng);
  ASSERT_NO_THROW(rotary_embedding(args_of(c, r, Backend::reference)));
  check_tensor(c, r, c.out_of_place ? r.query_out : r.query, r.query_in, c.num_heads, "query");
  if (c.num_kv_heads > 0)
    check_tensor(c, r, c.out_of_place ? r.key_out : r.key, r.key_in, c.num_kv_heads, "key");
  if (c.out_of_place) {  // inputs untouched
    for (int64_t i = 0; i < r.query.view.numel(); ++i) ASSERT_EQ(r.query.get(i), r.query_in[i]);
  }
}

TEST(Mrope, ContiguousAndInterleavedSectionsOfRealModels) {
  std::random_device entropy;
  // Qwen2-VL [16, 24, 24] contiguous, Qwen3-VL [24, 20, 20] interleaved, Qwen3.6 partial rotary
  // 64 of 256 with [11, 11, 10] interleaved; and a lopsided section to stress both rules.
  const struct { int64_t head, rotary; std::array<int64_t, 3> section; bool interleaved; } models[] = {
      {128, 128, {16, 24, 24}, false}, {128, 128, {24, 20, 20}, true},
      {256, 64, {11, 11, 10}, true},   {64, 64, {2, 28, 2}, false},
      {64, 64, {2, 28, 2}, true},      {64, 64, {0, 0, 32}, false}};
  for (const auto& m : models)
    for (bool interleaved_override : {false, true}) {
      MropeCase c;
      c.head_size = m.head;
      c.rotary_dim = m.rotary;
      c.section = m.section;
      c.interleaved = interleaved_override ? !m.interleaved : m.interleaved;
      SCOPED_TRACE(std::to_string(m.section[0]) + "/" + std::to_string(m.section[1]) + "/" +
                   std::to_string(m.section[2]) + (c.interleaved ? " interleaved" : " contiguous"));
      run_and_check(c, entropy());
    }
}

TEST(Mrope, EveryDtypeInverseAndOutOfPlace) {
  std::random_device entropy;
  for (DType x : {DType::float32, DType::float16, DType::bfloat16})
    for (DType cache : {DType::float32, DType::bfloat16})
      for (bool inverse : {false, true}) {
        MropeCase c;
        c.x_dtype = x;
        c.cache_dtype = cache;
        c.inverse = inverse;
        c.out_of_place = inverse;
        c.positions_dtype = inverse ? DType::int32 : DType::int64;
        c.interleaved = x == DType::float16;
        c.num_kv_heads = cache == DType::float32 ? 2 : 0;
        SCOPED_TRACE(to_string(x) + " cache " + to_string(cache) + (inverse ? " inverse" : ""));
        run_and_check(c, entropy());
      }
}

TEST(Mrope, TextTokensWithEqualStreamsAreTextRope) {
  std::mt19937_64 rng(std::random_device{}());
  MropeCase c;
  c.interleaved = true;
  c.section = {24, 20, 20};
  MropeRun r = make_run(c, rng);
  for (int64_t t = 0; t < c.tokens; ++t)  // h and w copy t
    for (int stream = 1; stream < 3; ++stream) r.positions.set(stream * c.tokens + t, r.positions.get(t));
  HostTensor plain_query = make_host_tensor(c.x_dtype, {c.tokens, c.num_heads, c.head_size});
  HostTensor plain_key = make_host_tensor(c.x_dtype, {c.tokens, c.num_kv_heads, c.head_size});
  for (int64_t i = 0; i < plain_query.view.numel(); ++i) plain_query.set(i, r.query_in[i]);
  for (int64_t i = 0; i < plain_key.view.numel(); ++i) plain_key.set(i, r.key_in[i]);

  ASSERT_NO_THROW(rotary_embedding(args_of(c, r, Backend::reference)));
  RotaryArgs plain;
  TensorView text_positions = r.positions.view;  // row 0 of [3, T]
  text_positions.ndim = 1;
  text_positions.shape[0] = c.tokens;
  text_positions.strides[0] = 1;
  plain.positions = text_positions;
  plain.query = plain_query.view;
  plain.key = plain_key.view;
  plain.head_size = c.head_size;
  plain.cos_sin_cache = r.cache.view;
  plain.backend = Backend::reference;
  rotary_embedding(plain);
  for (int64_t i = 0; i < plain_query.view.numel(); ++i) ASSERT_EQ(r.query.get(i), plain_query.get(i));
  for (int64_t i = 0; i < plain_key.view.numel(); ++i) ASSERT_EQ(r.key.get(i), plain_key.get(i));
}

void expect_rejected(const MropeCase& c, const std::function<void(RotaryArgs&)>& spoil,
                     const char* fragment, Backend backend = Backend::reference) {
  std::mt19937_64 rng(7);
  MropeRun r = make_run(c, rng);
  RotaryArgs a = args_of(c, r, backend);
  spoil(a);
  try {
    rotary_embedding(a);
    ADD_FAILURE() << "accepted; expected an error containing " << fragment;
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
  for (int64_t i = 0; i < r.query.view.numel(); ++i) ASSERT_EQ(r.query.get(i), r.query_in[i]);
}

TEST(Mrope, ValidationErrors) {
  MropeCase c;
  expect_rejected(c, [](RotaryArgs& a) { a.mrope_section = std::array<int64_t, 3>{16, 24, 16}; },
                  "rotary_dim / 2 = 64");
  expect_rejected(c, [](RotaryArgs& a) { a.mrope_section = std::array<int64_t, 3>{-8, 40, 32}; },
                  "non-negative");
  expect_rejected(c, [](RotaryArgs& a) { a.is_neox = false; }, "NeoX");
  expect_rejected(c, [](RotaryArgs& a) { a.positions.shape[0] = 2; }, "[3, T]");
  expect_rejected(c, [](RotaryArgs& a) {
    a.mrope_section.reset();
    a.mrope_interleaved = true;
  }, "mrope_interleaved");
  expect_rejected(c, [](RotaryArgs&) {}, "mrope not supported by this backend yet", Backend::cpu);
}

TEST(Mrope, PositionOutOfRangeInAnyStreamIsRejected) {
  MropeCase c;
  std::mt19937_64 rng(11);
  MropeRun r = make_run(c, rng);
  r.positions.set(2 * c.tokens + 3, double(c.max_position));  // width stream, token 3
  try {
    rotary_embedding(args_of(c, r, Backend::reference));
    ADD_FAILURE() << "accepted an out-of-range width position";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("token 3 stream 2"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace ropekit::testing
