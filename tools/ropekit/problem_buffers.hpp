// One rotary problem allocated on a DeviceOps: positions, cos/sin cache, query/key (separate or
// views of one fused qkv buffer) and optional outputs, filled with fresh random data. Shared by
// `ropekit bench` and `ropekit verify`: the same spec and seed give the same bytes on every device,
// so a backend's result can be compared with the reference backend's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "device_ops.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::cli {

struct ProblemSpec {
  int64_t batch = 0;   // 0: positions [T], query [T, ...]; else positions [batch, tokens]
  int64_t tokens = 1;  // T, or S when batch > 0
  int64_t num_heads = 1;
  int64_t num_kv_heads = 0;  // 0: no key
  int64_t head_size = 64;
  int64_t rotary_dim = 64;
  bool is_neox = true;
  DType x_dtype = DType::bfloat16;
  DType cache_dtype = DType::bfloat16;
  DType positions_dtype = DType::int64;
  int64_t max_position = 4096;
  bool fused_qkv = false;       // q and k are views of one [tokens, (nh + 2 nkv) * hs] buffer
  bool explicit_heads = false;  // views [.., heads, head_size] instead of [.., heads * head_size]
  int64_t token_padding = 0;    // extra elements at the end of each token's row
  int64_t head_padding = 0;     // extra elements after each head: separate q/k, explicit_heads only
  int64_t batch_gap = 0;        // [B, S] forms: unused rows between batches (not collapsible)
  bool out_of_place = false;    // separate query_out / key_out buffers, poisoned with NaN
  bool inverse = false;

  int64_t total_tokens() const { return batch > 0 ? batch * tokens : tokens; }
  std::string describe() const;
};

// Where one head tensor (query, key or an output) lives: a buffer and strides in elements.
struct HeadOperand {
  int buffer = -1;  // index into ProblemBuffers::buffers(); -1 when absent
  int64_t offset = 0;  // elements from the buffer start to the view's first element
  int64_t batch_stride = 0;
  int64_t seq_stride = 0;
  int64_t head_stride = 0;
  int64_t heads = 0;

  bool present() const { return buffer >= 0; }
  int64_t element(int64_t b, int64_t s, int64_t h, int64_t e) const {
    return offset + b * batch_stride + s * seq_stride + h * head_stride + e;
  }
};

// One device allocation and the bytes it was initialised with.
struct Buffer {
  std::string name;
  DType dtype = DType::float32;
  void* device_data = nullptr;
  std::vector<unsigned char> initial;  // host copy of what was uploaded
  int64_t elements() const { return int64_t(initial.size()) / element_size(dtype); }
};

// A valid cos/sin cache (cos^2 + sin^2 = 1, rope_theta 10000) in the bytes of `dtype`: in-place
// rotations repeated for timing then keep the data's magnitude instead of drifting into
// subnormals or infinities. Build it once and pass it to several ProblemBuffers.
std::vector<unsigned char> make_rope_cache_bytes(int64_t max_position, int64_t rotary_dim,
                                                 DType dtype);

class ProblemBuffers {
 public:
  // `cache_bytes`: [max_position, rotary_dim] contiguous in spec.cache_dtype; nullptr for random
  // values in [-1, 1] (verification: any cache must be applied exactly).
  ProblemBuffers(DeviceOps& ops, const ProblemSpec& spec, uint64_t seed,
                 const std::vector<unsigned char>* cache_bytes = nullptr);
  ~ProblemBuffers();
  ProblemBuffers(const ProblemBuffers&) = delete;
  ProblemBuffers& operator=(const ProblemBuffers&) = delete;

  const ProblemSpec& spec() const { return spec_; }
  const std::vector<Buffer>& buffers() const { return buffers_; }
  const Buffer& positions() const { return buffers_[positions_]; }
  const Buffer& cache() const { return buffers_[cache_]; }
  const HeadOperand& query() const { return query_; }
  const HeadOperand& key() const { return key_; }
  const HeadOperand& query_out() const { return spec_.out_of_place ? query_out_ : query_; }
  const HeadOperand& key_out() const { return spec_.out_of_place ? key_out_ : key_; }

  // The arguments for ropekit::rotary_embedding on this problem's device and stream.
  RotaryArgs args(Backend backend) const;
  TensorView head_view(const HeadOperand& operand) const;

  // Uploads the initial bytes again (undoes in-place runs).
  void restore();
  // Every buffer's current bytes, in buffers() order.
  std::vector<std::vector<unsigned char>> download() const;

 private:
  int add_buffer(const std::string& name, DType dtype, int64_t elements);
  HeadOperand row_operand(int buffer, int64_t row_elements, int64_t offset, int64_t heads,
                          int64_t head_stride) const;

  DeviceOps& ops_;
  ProblemSpec spec_;
  std::vector<Buffer> buffers_;
  int positions_ = -1;
  int cache_ = -1;
  HeadOperand query_, key_, query_out_, key_out_;
};

}  // namespace ropekit::cli
