// Unit tests of the traffic model behind the GB/s `ropekit bench` reports. (The float64 checker
// and the random cases that bench and verify share with the C++ tests are tested in
// tests/cpp/test_oracle_check.cpp.)
#include <gtest/gtest.h>

#include <string_view>

#include "bench_report.hpp"
#include "common/host_problem.hpp"
#include "common/model_shapes.hpp"

namespace ropekit::cli {
namespace {

TEST(BytesMoved, CountsSectorsOfRotaryPartsCacheRowsAndPositions) {
  check::Case c;
  c.tokens = 1;
  c.x_dtype = c.cache_dtype = DType::bfloat16;
  c.max_position = 1000;
  const auto use_shape = [&c](std::string_view name) {
    const shapes::ModelShape* shape = shapes::find_model_shape(name);
    ASSERT_NE(shape, nullptr) << name;
    c.num_heads = shape->num_heads;
    c.num_kv_heads = shape->num_kv_heads;
    c.head_size = shape->head_size;
    c.rotary_dim = shape->rotary_dim;
  };
  // llama3-8b: each head's 128 bf16 = 256 bytes = 8 sectors, read and written; 32 + 8 heads;
  // one 256-byte cache row; 8 bytes of positions occupy one sector.
  use_shape("llama3-8b");
  EXPECT_EQ(bytes_moved(check::make_problem(c, check::fresh_seed())), 2 * 40 * 256 + 256 + 32);
  // neox-20b: 24 rotary bf16 = 48 bytes at the start of 192-byte heads: 2 sectors; the 48-byte
  // cache row at position p starts at 48p, 0 or 16 bytes into a sector: 2 sectors either way;
  // 64 + 64 heads.
  use_shape("neox-20b");
  EXPECT_EQ(bytes_moved(check::make_problem(c, check::fresh_seed())), 2 * 128 * 64 + 64 + 32);
  // Out of place: the outputs' rotary parts are written instead of the inputs' (same count).
  c.out_of_place = true;
  EXPECT_EQ(bytes_moved(check::make_problem(c, check::fresh_seed())), 2 * 128 * 64 + 64 + 32);
}

}  // namespace
}  // namespace ropekit::cli
