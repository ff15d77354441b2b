// Hostile calls through the C API, the same on every device: enum values outside DLPack's, shapes,
// strides and offsets whose arithmetic overflows, and arguments that share memory. Every buffer is
// small and real while the declared shapes may be huge: validation must refuse before touching
// memory, with a non-zero status, a message naming the argument(s), and every byte left as it was.
// A test program includes this once and instantiates HostileInputs with its Memory.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ropekit/ropekit.h"

namespace ropekit::testing {

// Where the buffers of a hostile call live (host memory, or a GPU's).
class Memory {
 public:
  virtual ~Memory() = default;
  virtual DLDeviceType device() const = 0;
  // Empty when this memory can be used here, else why not (the tests skip, saying so).
  virtual std::string unavailable() const = 0;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* data) = 0;
  virtual void upload(void* destination, const void* source, size_t bytes) = 0;
  virtual void download(void* destination, const void* source, size_t bytes) = 0;
  virtual void synchronize() = 0;  // waits for the call's work, failing on its errors
};

// A buffer of `Memory`: contents edited in `host`, uploaded before each call.
class Buffer {
 public:
  Buffer(Memory& memory, size_t bytes) : memory_(memory), host(bytes) {
    data_ = memory_.allocate(bytes ? bytes : 1);
  }
  ~Buffer() { memory_.release(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  template <typename T>
  T* at(size_t index) const {
    return static_cast<T*>(data_) + index;
  }
  template <typename T>
  void set(size_t index, T value) {
    std::memcpy(host.data() + index * sizeof(T), &value, sizeof(T));
  }
  void upload() { memory_.upload(data_, host.data(), host.size()); }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> bytes(host.size());
    memory_.download(bytes.data(), data_, bytes.size());
    return bytes;
  }

 private:
  Memory& memory_;
  void* data_ = nullptr;

 public:
  std::vector<unsigned char> host;
};

// A DLTensor over a buffer; strides empty: NULL (compact).
struct Tensor {
  std::vector<int64_t> shape, strides;
  DLTensor t{};

  Tensor(void* data, DLDataType dtype, std::vector<int64_t> shape_, std::vector<int64_t> strides_,
         DLDeviceType device)
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
inline void set_device_type(DLTensor& t, int32_t type) {
  static_assert(sizeof(t.device.device_type) == sizeof(type));
  std::memcpy(&t.device.device_type, &type, sizeof(type));
}

inline constexpr int64_t kTwoTo32 = int64_t(1) << 32;
inline constexpr int64_t kInt32Max = INT32_MAX;
inline constexpr DLDataType kF32{kDLFloat, 32, 1};
inline constexpr DLDataType kI64{kDLInt, 64, 1};
inline constexpr DLDataType kI32{kDLInt, 32, 1};

// A valid call: 2 tokens, 2 query and 2 key heads of 4, rotary_dim 4, over poisoned buffers.
class HostileInputs : public ::testing::TestWithParam<Memory*> {
 private:
  std::vector<std::unique_ptr<Buffer>> buffers_;  // first: the buffers below register here

 protected:
  Memory& memory = *GetParam();
  const DLDeviceType device = memory.device();
  Buffer& positions_data = buffer(2 * sizeof(int64_t));
  Buffer& query_data = buffer(16 * sizeof(float));
  Buffer& key_data = buffer(16 * sizeof(float));
  Buffer& cache_data = buffer(8 * sizeof(float));
  Tensor positions = tensor(positions_data.at<int64_t>(0), kI64, {2}, {});
  Tensor query = tensor(query_data.at<float>(0), kF32, {2, 8}, {});
  Tensor key = tensor(key_data.at<float>(0), kF32, {2, 8}, {});
  Tensor cache = tensor(cache_data.at<float>(0), kF32, {2, 4}, {});
  ropekit_rotary_args args{};

  void SetUp() override {
    if (const std::string reason = memory.unavailable(); !reason.empty()) GTEST_SKIP() << reason;
    positions_data.set<int64_t>(0, 0);
    positions_data.set<int64_t>(1, 1);
    // A byte pattern that any write would change.
    std::memset(query_data.host.data(), 0xA5, query_data.host.size());
    std::memset(key_data.host.data(), 0x5A, key_data.host.size());
    for (size_t i = 0; i < 8; ++i) cache_data.set<float>(i, 0.25f * float(i + 1));
    args.positions = &positions.t;
    args.query = &query.t;
    args.key = &key.t;
    args.cos_sin_cache = &cache.t;
    args.head_size = 4;
    args.is_neox = 1;
    args.backend = ROPEKIT_BACKEND_AUTO;
  }

  // A buffer that every check of "no byte moved" covers.
  Buffer& buffer(size_t bytes) {
    buffers_.push_back(std::make_unique<Buffer>(memory, bytes));
    return *buffers_.back();
  }

  Tensor tensor(void* data, DLDataType dtype, std::vector<int64_t> shape,
                std::vector<int64_t> strides) const {
    return Tensor(data, dtype, std::move(shape), std::move(strides), device);
  }

  std::vector<unsigned char> bytes() const {
    std::vector<unsigned char> all;
    for (const auto& b : buffers_) {
      const std::vector<unsigned char> one = b->download();
      all.insert(all.end(), one.begin(), one.end());
    }
    return all;
  }

  int call(const int64_t* mrope_section = nullptr, int mrope_interleaved = 0) {
    const int status = mrope_section
                           ? ropekit_rotary_embedding_mrope(&args, mrope_section, mrope_interleaved)
                           : ropekit_rotary_embedding_ex(&args);
    memory.synchronize();
    return status;
  }

  // The call fails with a message that starts with `argument` and holds `detail`; no byte moved.
  void expect_refused(const std::string& argument, const std::string& detail,
                      const int64_t* mrope_section = nullptr, int mrope_interleaved = 0) {
    for (auto& b : buffers_) b->upload();
    const std::vector<unsigned char> before = bytes();
    const int status = call(mrope_section, mrope_interleaved);
    const std::string message = ropekit_last_error();
    EXPECT_EQ(status, ROPEKIT_ERROR_INVALID_ARGUMENT) << message;
    EXPECT_EQ(message.rfind(argument + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
    EXPECT_TRUE(bytes() == before) << "a refused call wrote: " << message;
  }

  // The buffers' bytes as the next call will find them.
  std::vector<unsigned char> bytes_after_upload() {
    for (auto& b : buffers_) b->upload();
    return bytes();
  }

  // The call succeeds; the buffers' bytes after it.
  std::vector<unsigned char> expect_accepted() {
    for (auto& b : buffers_) b->upload();
    const int status = call();
    EXPECT_EQ(status, ROPEKIT_OK) << ropekit_last_error();
    return bytes();
  }
};

TEST_P(HostileInputs, TheBaselineCallIsValid) {
  const std::vector<unsigned char> poisoned = bytes_after_upload();
  EXPECT_FALSE(expect_accepted() == poisoned);
}

TEST_P(HostileInputs, DeviceTypesOutsideDLPackAreRefusedByName) {
  for (Tensor* t : {&positions, &query, &key, &cache}) {
    const std::string name = t == &positions ? "positions"
                             : t == &query   ? "query"
                             : t == &key     ? "key"
                                             : "cos_sin_cache";
    for (int32_t type : {99, -1, 0}) {
      set_device_type(t->t, type);
      expect_refused(name, "got device type " + std::to_string(type));
    }
    set_device_type(t->t, device);
  }
}

TEST_P(HostileInputs, UnknownDtypeCodesAreRefusedByName) {
  query.t.dtype = {200, 32, 1};
  expect_refused("query", "got code 200, bits 32, lanes 1");
  query.t.dtype = kF32;
  positions.t.dtype = {255, 64, 1};
  expect_refused("positions", "got code 255, bits 64, lanes 1");
}

// batch x seq = 2^64 wrapped to 0 tokens, and the call returned 0 having rotated nothing.
TEST_P(HostileInputs, TokenCountOverflowIsRefused) {
  positions = tensor(positions_data.at<int64_t>(0), kI64, {kTwoTo32, kTwoTo32}, {0, 0});
  query = tensor(query_data.at<float>(0), kF32, {kTwoTo32, kTwoTo32, 8}, {0, 0, 1});
  key = tensor(key_data.at<float>(0), kF32, {kTwoTo32, kTwoTo32, 8}, {0, 0, 1});
  expect_refused("positions", "tokens (batch x seq)");
  args.key = nullptr;
  expect_refused("positions", "tokens (batch x seq)");
}

// Tokens x heads x head_size past int64 while every tensor's extent is small (strides of 0).
TEST_P(HostileInputs, ElementCountOverflowIsRefused) {
  const int64_t tokens = int64_t(1) << 40, heads = int64_t(1) << 24;
  positions = tensor(positions_data.at<int64_t>(0), kI64, {tokens}, {0});
  query = tensor(query_data.at<float>(0), kF32, {tokens, heads, 4}, {0, 0, 1});
  key = tensor(key_data.at<float>(0), kF32, {tokens, 1, 4}, {0, 0, 1});
  expect_refused("query", "which overflows int64");
}

// Without strides the compact strides are the products of the sizes: past 2^63 elements they
// cannot be formed.
TEST_P(HostileInputs, CompactShapesPastInt64AreRefused) {
  query = tensor(query_data.at<float>(0), kF32, {kTwoTo32, kTwoTo32, 8}, {});
  expect_refused("query", "overflow int64");
  positions = tensor(positions_data.at<int64_t>(0), kI64, {kTwoTo32, kTwoTo32}, {});
  expect_refused("positions", "overflow int64");
}

// Explicit strides are used as given, never multiplied into compact ones, and their extent is
// checked.
TEST_P(HostileInputs, HugeStridesAreRefused) {
  for (int64_t stride : {int64_t(1) << 62, INT64_MAX}) {
    query = tensor(query_data.at<float>(0), kF32, {2, 8}, {stride, 1});
    expect_refused("query", "addresses more elements than fit in 64 bits");
  }
  query = tensor(query_data.at<float>(0), kF32, {2, 8}, {8, 1});
  key = tensor(key_data.at<float>(0), kF32, {2, 2, 4}, {INT64_MAX / 2, INT64_MAX / 2, 1});
  expect_refused("key", "addresses more elements than fit in 64 bits");
}

TEST_P(HostileInputs, ByteOffsetPastTheAddressSpaceIsRefused) {
  query.t.byte_offset = UINT64_MAX - 3;
  expect_refused("query", "byte_offset");
}

TEST_P(HostileInputs, MropeSectionsWhoseSumOverflowsAreRefused) {
  Buffer& streams = buffer(6 * sizeof(int64_t));
  positions = tensor(streams.at<int64_t>(0), kI64, {3, 2}, {});
  const int64_t section[3] = {INT64_MAX, INT64_MAX, 2};
  expect_refused("mrope_section", "summing to rotary_dim / 2", section);
}

// The CUDA kernels index heads and head elements in 32 bits: larger values are refused by
// validation, before the backend is chosen (on any device, so these need no GPU).
TEST_P(HostileInputs, HeadSizePastInt32IsRefusedOnCuda) {
  for (Tensor* t : {&positions, &query, &key, &cache}) t->t.device = {kDLCUDA, 0};
  args.key = nullptr;
  args.head_size = kInt32Max + 1;
  query = Tensor(query_data.at<float>(0), kF32, {2, kInt32Max + 1}, {0, 1}, kDLCUDA);
  expect_refused("head_size", "got " + std::to_string(kInt32Max + 1));
}

TEST_P(HostileInputs, HeadCountsPastInt32AreRefusedOnCuda) {
  for (Tensor* t : {&positions, &query, &key, &cache}) t->t.device = {kDLCUDA, 0};
  query = Tensor(query_data.at<float>(0), kF32, {2, kInt32Max + 1, 4}, {0, 0, 1}, kDLCUDA);
  key = Tensor(key_data.at<float>(0), kF32, {2, 1, 4}, {0, 0, 1}, kDLCUDA);
  expect_refused("query", "num_heads at most " + std::to_string(kInt32Max));
  // Each fits, their sum (the heads one launch covers) does not.
  query = Tensor(query_data.at<float>(0), kF32, {2, kInt32Max, 4}, {0, 0, 1}, kDLCUDA);
  expect_refused("key", "num_heads + num_kv_heads at most " + std::to_string(kInt32Max));
}

TEST_P(HostileInputs, InterleavedMropeBoundsPastInt32AreRefusedOnCuda) {
  const int64_t rotary_dim = kInt32Max / 3 * 2 + 2;
  Buffer& streams = buffer(6 * sizeof(int64_t));
  positions = Tensor(streams.at<int64_t>(0), kI64, {3, 2}, {}, kDLCUDA);
  cache = Tensor(cache_data.at<float>(0), kF32, {1, rotary_dim}, {0, 1}, kDLCUDA);
  query = Tensor(query_data.at<float>(0), kF32, {2, rotary_dim}, {0, 1}, kDLCUDA);
  args.key = nullptr;
  args.head_size = rotary_dim;
  const int64_t section[3] = {rotary_dim / 2 - 2, 1, 1};
  expect_refused("cos_sin_cache", "rotary_dim at most", section, 1);
}

// Positions were range-checked once, then read again while the kernels wrote: int32 positions in
// the query's memory were rewritten by token 0's rotation before token 1 read its own.
TEST_P(HostileInputs, PositionsSharingMemoryWithAWrittenTensorAreRefused) {
  query_data.set<int32_t>(0, 0);
  query_data.set<int32_t>(1, 1);
  positions = tensor(query_data.at<int32_t>(0), kI32, {2}, {});
  expect_refused("positions", "shares memory with query");
  key_data.set<int32_t>(8, 0);
  key_data.set<int32_t>(9, 1);
  positions = tensor(key_data.at<int32_t>(8), kI32, {2}, {});
  expect_refused("positions", "shares memory with key");
  // Out of place, positions inside the output.
  Buffer& out = buffer(32 * sizeof(float));
  out.set<int32_t>(16, 0);
  out.set<int32_t>(17, 1);
  Tensor query_out = tensor(out.at<float>(0), kF32, {2, 8}, {});
  Tensor key_out = tensor(out.at<float>(16), kF32, {2, 8}, {});
  positions = tensor(out.at<int32_t>(16), kI32, {2}, {});
  args.query_out = &query_out.t;
  args.key_out = &key_out.t;
  expect_refused("positions", "shares memory with key_out");
}

TEST_P(HostileInputs, CacheSharingMemoryWithAWrittenTensorIsRefused) {
  cache = tensor(key_data.at<float>(6), kF32, {2, 4}, {});
  expect_refused("cos_sin_cache", "shares memory with key");
}

// Written tensors that overlap each other or themselves: the result would depend on the order of
// the writes (a data race on the GPU and under threads).
TEST_P(HostileInputs, OverlappingWrittenTensorsAreRefused) {
  // key starting half a row into query.
  positions = tensor(positions_data.at<int64_t>(0), kI64, {1}, {});
  query = tensor(query_data.at<float>(0), kF32, {1, 8}, {8, 1});
  key = tensor(query_data.at<float>(4), kF32, {1, 8}, {8, 1});
  expect_refused("key", "shares memory with query");
  // Token stride 0: every token rotates the same row.
  positions = tensor(positions_data.at<int64_t>(0), kI64, {2}, {});
  query = tensor(query_data.at<float>(0), kF32, {2, 8}, {0, 1});
  key = tensor(key_data.at<float>(0), kF32, {2, 8}, {});
  expect_refused("query", "elements overlap in memory");
  // Head stride smaller than head_size.
  query = tensor(query_data.at<float>(0), kF32, {2, 2, 4}, {8, 2, 1});
  expect_refused("query", "elements overlap in memory");
}

TEST_P(HostileInputs, OverlappingOutputsAreRefused) {
  Buffer& out = buffer(32 * sizeof(float));
  Tensor query_out = tensor(out.at<float>(0), kF32, {2, 8}, {});
  Tensor key_out = tensor(out.at<float>(0), kF32, {2, 8}, {});
  args.query_out = &query_out.t;
  args.key_out = &key_out.t;
  expect_refused("key_out", "shares memory with query_out");
  // query_out reaching into key's second row, which is read.
  Buffer& wide_key = buffer(32 * sizeof(float));
  key = tensor(wide_key.at<float>(0), kF32, {2, 8}, {});
  query_out = tensor(wide_key.at<float>(8), kF32, {2, 8}, {});
  key_out = tensor(out.at<float>(0), kF32, {2, 8}, {});
  expect_refused("key", "shares memory with query_out");
  // query_out one element past query: the pass-through copy would be an overlapping memcpy.
  Buffer& shifted = buffer(17 * sizeof(float));
  query = tensor(shifted.at<float>(0), kF32, {2, 8}, {});
  query_out = tensor(shifted.at<float>(1), kF32, {2, 8}, {});
  key = tensor(key_data.at<float>(0), kF32, {2, 8}, {});
  args.head_size = 8;
  expect_refused("query", "shares memory with query_out");
}

// q and k as column ranges of one fused buffer, and outputs given as exactly their inputs: valid,
// and the same as in place.
TEST_P(HostileInputs, FusedViewsAndExactInPlaceOutputsAreAccepted) {
  Buffer& fused = buffer(2 * 12 * sizeof(float));
  for (size_t i = 0; i < 24; ++i) fused.set<float>(i, 0.1f * float(i + 1));
  query = tensor(fused.at<float>(0), kF32, {2, 8}, {12, 1});
  key = tensor(fused.at<float>(8), kF32, {2, 4}, {12, 1});
  const std::vector<unsigned char> original = bytes_after_upload();
  const std::vector<unsigned char> in_place = expect_accepted();
  EXPECT_NE(in_place, original);
  Tensor query_out = tensor(fused.at<float>(0), kF32, {2, 8}, {12, 1});
  Tensor key_out = tensor(fused.at<float>(8), kF32, {2, 4}, {12, 1});
  args.query_out = &query_out.t;
  args.key_out = &key_out.t;
  EXPECT_EQ(expect_accepted(), in_place);
}

}  // namespace ropekit::testing
