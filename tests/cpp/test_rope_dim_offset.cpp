// rope_dim_offset on the host backends: the rotary part starts that many elements into each head
// (vLLM's argument), the elements around it keep their bits; bad offsets are refused by name.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "rope_dim_offset_case.hpp"
#include "ropekit/error.hpp"

namespace ropekit::testing {
namespace {

TEST(RopeDimOffset, HostBackendsRotateOnlyThePartAtTheOffset) {
  std::mt19937_64 rng(std::random_device{}());
  for (Backend backend : {Backend::reference, Backend::cpu})
    for (int64_t offset : {int64_t(0), int64_t(1), int64_t(8), int64_t(24)})
      for (bool is_neox : {true, false})
        for (bool inverse : {false, true}) {
          OffsetCase c(rng, offset, is_neox, inverse);
          std::vector<float> query = c.query, key = c.key;
          RotaryArgs args = c.args(c.positions.data(), query.data(), key.data(), c.cache.data(),
                                   Device::cpu);
          args.backend = backend;
          rotary_embedding(args);
          SCOPED_TRACE(to_string(backend) + " offset " + std::to_string(offset) +
                       (is_neox ? " neox" : " gptj") + (inverse ? " inverse" : ""));
          expect_offset_result(query, c.expected(c.query, c.num_heads), c.rotated(c.num_heads),
                               "query");
          expect_offset_result(key, c.expected(c.key, c.num_kv_heads), c.rotated(c.num_kv_heads),
                               "key");
        }
}

void expect_refused(RotaryArgs args, const std::string& detail) {
  try {
    rotary_embedding(args);
    FAIL() << "accepted; expected an error with " << detail;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("rope_dim_offset: ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(detail), std::string::npos) << e.what();
  }
}

TEST(RopeDimOffset, OffsetsOutOfRangeOrOutOfPlaceAreRefused) {
  std::mt19937_64 rng(std::random_device{}());
  OffsetCase c(rng, 8, true, false);
  std::vector<float> query = c.query, key = c.key, query_out = c.query, key_out = c.key;
  RotaryArgs args = c.args(c.positions.data(), query.data(), key.data(), c.cache.data(),
                           Device::cpu);
  args.rope_dim_offset = -1;
  expect_refused(args, "[0, head_size - rotary_dim = 24], got -1");
  args.rope_dim_offset = 25;
  expect_refused(args, "got 25");
  args.rope_dim_offset = 8;
  args.query_out = make_contiguous_view(query_out.data(), DType::float32,
                                        {c.tokens, c.num_heads * c.head_size});
  args.key_out = make_contiguous_view(key_out.data(), DType::float32,
                                      {c.tokens, c.num_kv_heads * c.head_size});
  expect_refused(args, "expected in-place rotation");
  EXPECT_EQ(query, c.query);
  EXPECT_EQ(key, c.key);
  EXPECT_EQ(query_out, c.query);
  EXPECT_EQ(key_out, c.key);
}

}  // namespace
}  // namespace ropekit::testing
