// Hostile calls through the C API: enum values outside DLPack's, and shapes, strides and offsets
// whose arithmetic overflows. Every buffer is small and real while the declared shapes are huge:
// validation must refuse before touching memory, with a non-zero status, a message naming the
// argument, and every byte left as it was.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ropekit/ropekit.h"

namespace {

constexpr int64_t kTwoTo32 = int64_t(1) << 32;
constexpr int64_t kInt32Max = INT32_MAX;

// A DLTensor over a caller's buffer; strides empty: NULL (compact).
struct Tensor {
  std::vector<int64_t> shape, strides;
  DLTensor t{};

  Tensor(void* data, DLDataType dtype, std::vector<int64_t> shape_, std::vector<int64_t> strides_,
         DLDeviceType device = kDLCPU)
      : shape(std::move(shape_)), strides(std::move(strides_)) {
    t.data = data;
    t.device = {device, 0};
    t.ndim = int32_t(shape.size());
    t.dtype = dtype;
    t.shape = shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
  }
};

// Stores any integer in device_type, as a C caller can, without making one of the enum here.
void set_device_type(DLTensor& t, int32_t type) {
  static_assert(sizeof(t.device.device_type) == sizeof(type));
  std::memcpy(&t.device.device_type, &type, sizeof(type));
}

constexpr DLDataType kF32{kDLFloat, 32, 1};
constexpr DLDataType kI64{kDLInt, 64, 1};

// A valid call: 2 tokens, 2 query and 2 key heads of 4, rotary_dim 4, over poisoned buffers.
class HostileInputs : public ::testing::Test {
 protected:
  std::vector<int64_t> positions_data{0, 1};
  std::vector<float> query_data = std::vector<float>(16), key_data = std::vector<float>(16),
                     cache_data = std::vector<float>(8);
  Tensor positions{positions_data.data(), kI64, {2}, {}};
  Tensor query{query_data.data(), kF32, {2, 8}, {}};
  Tensor key{key_data.data(), kF32, {2, 8}, {}};
  Tensor cache{cache_data.data(), kF32, {2, 4}, {}};
  ropekit_rotary_args args{};

  void SetUp() override {
    // A byte pattern that any write would change.
    std::memset(query_data.data(), 0xA5, query_data.size() * sizeof(float));
    std::memset(key_data.data(), 0x5A, key_data.size() * sizeof(float));
    for (size_t i = 0; i < cache_data.size(); ++i) cache_data[i] = 0.25f * float(i + 1);
    args.positions = &positions.t;
    args.query = &query.t;
    args.key = &key.t;
    args.cos_sin_cache = &cache.t;
    args.head_size = 4;
    args.is_neox = 1;
    args.backend = ROPEKIT_BACKEND_AUTO;
  }

  std::vector<unsigned char> bytes() const {
    std::vector<unsigned char> all;
    const auto add = [&](const auto& v) {
      const auto* b = reinterpret_cast<const unsigned char*>(v.data());
      all.insert(all.end(), b, b + v.size() * sizeof(v[0]));
    };
    add(positions_data);
    add(query_data);
    add(key_data);
    add(cache_data);
    return all;
  }

  // The call fails with a message that starts with `argument` and holds `detail`; no byte moved.
  void expect_refused(const std::string& argument, const std::string& detail,
                      const int64_t* mrope_section = nullptr, int mrope_interleaved = 0) {
    const std::vector<unsigned char> before = bytes();
    const int status = mrope_section
                           ? ropekit_rotary_embedding_mrope(&args, mrope_section, mrope_interleaved)
                           : ropekit_rotary_embedding_ex(&args);
    const std::string message = ropekit_last_error();
    EXPECT_EQ(status, ROPEKIT_ERROR_INVALID_ARGUMENT) << message;
    EXPECT_EQ(message.rfind(argument + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
    EXPECT_TRUE(bytes() == before) << "a refused call wrote: " << message;
  }
};

TEST_F(HostileInputs, TheBaselineCallIsValid) {
  const std::vector<unsigned char> before = bytes();
  ASSERT_EQ(ropekit_rotary_embedding_ex(&args), ROPEKIT_OK) << ropekit_last_error();
  EXPECT_FALSE(bytes() == before);
}

TEST_F(HostileInputs, DeviceTypesOutsideDLPackAreRefusedByName) {
  for (Tensor* tensor : {&positions, &query, &key, &cache}) {
    const std::string name = tensor == &positions ? "positions"
                             : tensor == &query   ? "query"
                             : tensor == &key     ? "key"
                                                  : "cos_sin_cache";
    for (int32_t type : {99, -1, 0}) {
      set_device_type(tensor->t, type);
      expect_refused(name, "got device type " + std::to_string(type));
    }
    set_device_type(tensor->t, kDLCPU);
  }
}

TEST_F(HostileInputs, UnknownDtypeCodesAreRefusedByName) {
  query.t.dtype = {200, 32, 1};
  expect_refused("query", "got code 200, bits 32, lanes 1");
  query.t.dtype = kF32;
  positions.t.dtype = {255, 64, 1};
  expect_refused("positions", "got code 255, bits 64, lanes 1");
}

// batch x seq = 2^64 wrapped to 0 tokens, and the call returned 0 having rotated nothing.
TEST_F(HostileInputs, TokenCountOverflowIsRefused) {
  positions = Tensor(positions_data.data(), kI64, {kTwoTo32, kTwoTo32}, {0, 0});
  query = Tensor(query_data.data(), kF32, {kTwoTo32, kTwoTo32, 8}, {0, 0, 1});
  key = Tensor(key_data.data(), kF32, {kTwoTo32, kTwoTo32, 8}, {0, 0, 1});
  expect_refused("positions", "tokens (batch x seq)");
  args.key = nullptr;
  expect_refused("positions", "tokens (batch x seq)");
}

// Tokens x heads x head_size past int64 while every tensor's extent is small (strides of 0).
TEST_F(HostileInputs, ElementCountOverflowIsRefused) {
  const int64_t tokens = int64_t(1) << 40, heads = int64_t(1) << 24;
  positions = Tensor(positions_data.data(), kI64, {tokens}, {0});
  query = Tensor(query_data.data(), kF32, {tokens, heads, 4}, {0, 0, 1});
  key = Tensor(key_data.data(), kF32, {tokens, 1, 4}, {0, 0, 1});
  expect_refused("query", "which overflows int64");
}

// Without strides the compact strides are the products of the sizes: past 2^63 elements they
// cannot be formed.
TEST_F(HostileInputs, CompactShapesPastInt64AreRefused) {
  query = Tensor(query_data.data(), kF32, {kTwoTo32, kTwoTo32, 8}, {});
  expect_refused("query", "overflow int64");
  positions = Tensor(positions_data.data(), kI64, {kTwoTo32, kTwoTo32}, {});
  expect_refused("positions", "overflow int64");
}

// Explicit strides are used as given, never multiplied into compact ones, and their extent is
// checked.
TEST_F(HostileInputs, HugeStridesAreRefused) {
  for (int64_t stride : {int64_t(1) << 62, INT64_MAX}) {
    query = Tensor(query_data.data(), kF32, {2, 8}, {stride, 1});
    expect_refused("query", "addresses more elements than fit in 64 bits");
  }
  query = Tensor(query_data.data(), kF32, {2, 8}, {8, 1});
  key = Tensor(key_data.data(), kF32, {2, 2, 4}, {INT64_MAX / 2, INT64_MAX / 2, 1});
  expect_refused("key", "addresses more elements than fit in 64 bits");
}

TEST_F(HostileInputs, ByteOffsetPastTheAddressSpaceIsRefused) {
  query.t.byte_offset = UINT64_MAX - 3;
  expect_refused("query", "byte_offset");
}

TEST_F(HostileInputs, MropeSectionsWhoseSumOverflowsAreRefused) {
  positions_data.assign(6, 0);
  positions = Tensor(positions_data.data(), kI64, {3, 2}, {});
  const int64_t section[3] = {INT64_MAX, INT64_MAX, 2};
  expect_refused("mrope_section", "summing to rotary_dim / 2", section);
}

// The CUDA kernels index heads and head elements in 32 bits: larger values are refused by
// validation, before the backend is chosen, so this needs no GPU.
class HostileCudaInputs : public HostileInputs {
 protected:
  void SetUp() override {
    HostileInputs::SetUp();
    for (Tensor* tensor : {&positions, &query, &key, &cache}) tensor->t.device = {kDLCUDA, 0};
  }
};

TEST_F(HostileCudaInputs, HeadSizePastInt32IsRefused) {
  args.key = nullptr;
  args.head_size = kInt32Max + 1;
  query = Tensor(query_data.data(), kF32, {2, kInt32Max + 1}, {0, 1}, kDLCUDA);
  expect_refused("head_size", "got " + std::to_string(kInt32Max + 1));
}

TEST_F(HostileCudaInputs, HeadCountsPastInt32AreRefused) {
  query = Tensor(query_data.data(), kF32, {2, kInt32Max + 1, 4}, {0, 0, 1}, kDLCUDA);
  key = Tensor(key_data.data(), kF32, {2, 1, 4}, {0, 0, 1}, kDLCUDA);
  expect_refused("query", "num_heads at most " + std::to_string(kInt32Max));
  // Each fits, their sum (the heads one launch covers) does not.
  query = Tensor(query_data.data(), kF32, {2, kInt32Max, 4}, {0, 0, 1}, kDLCUDA);
  expect_refused("key", "num_heads + num_kv_heads at most " + std::to_string(kInt32Max));
}

TEST_F(HostileCudaInputs, InterleavedMropeBoundsPastInt32AreRefused) {
  const int64_t rotary_dim = kInt32Max / 3 * 2 + 2;
  positions_data.assign(6, 0);
  positions = Tensor(positions_data.data(), kI64, {3, 2}, {}, kDLCUDA);
  cache = Tensor(cache_data.data(), kF32, {1, rotary_dim}, {0, 1}, kDLCUDA);
  query = Tensor(query_data.data(), kF32, {2, rotary_dim}, {0, 1}, kDLCUDA);
  args.key = nullptr;
  args.head_size = rotary_dim;
  const int64_t section[3] = {rotary_dim / 2 - 2, 1, 1};
  expect_refused("cos_sin_cache", "rotary_dim at most", section, 1);
}

}  // namespace
