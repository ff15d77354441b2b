// Multimodal RoPE (positions [3, T]) in the reference and cpu backends against an oracle written here from
// ROPE_SPEC §4, on fresh random data with poisoned outputs; plus its validation errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "harness.hpp"
#include "mrope_harness.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::testing {
namespace {

// Every host backend that implements multimodal RoPE, against the oracle.
void run_and_check(const MropeCase& c, uint64_t seed) {
  for (Backend backend : {Backend::reference, Backend::cpu}) {
    SCOPED_TRACE(to_string(backend));
    std::mt19937_64 rng(seed);
    MropeRun r = make_run(c, rng);
    ASSERT_NO_THROW(rotary_embedding(args_of(c, r, backend)));
    check_run(c, r);
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
}

TEST(Mrope, PositionOutOfRangeInAnyStreamIsRejected) {
  for (Backend backend : {Backend::reference, Backend::cpu}) {
    SCOPED_TRACE(to_string(backend));
    MropeCase c;
    std::mt19937_64 rng(11);
    MropeRun r = make_run(c, rng);
    r.positions.set(2 * c.tokens + 3, double(c.max_position));  // width stream, token 3
    try {
      rotary_embedding(args_of(c, r, backend));
      ADD_FAILURE() << "accepted an out-of-range width position";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("token 3 stream 2"), std::string::npos)
          << error.what();
    }
    for (int64_t i = 0; i < r.query.view.numel(); ++i) ASSERT_EQ(r.query.get(i), r.query_in[i]);
  }
}

}  // namespace
}  // namespace ropekit::testing
