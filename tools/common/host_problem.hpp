// All tensors of one Case in host memory, filled with fresh random data, outputs poisoned, plus
// the bytes of every input before the run: what the float64 checker (oracle_check.hpp) reads.
// Device runs copy these buffers to the device and back (the C++ GPU tests, `ropekit verify`).
#pragma once
#include <cstdint>
#include <vector>

#include "rotary_case.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::check {

// An owning host tensor: a byte buffer plus the view into it (strides in elements).
struct HostTensor {
  std::vector<unsigned char> storage;
  TensorView view;  // points into storage: move-only, a copy would dangle

  HostTensor() = default;
  HostTensor(HostTensor&&) = default;
  HostTensor& operator=(HostTensor&&) = default;
  HostTensor(const HostTensor&) = delete;
  HostTensor& operator=(const HostTensor&) = delete;

  double get(int64_t offset) const;        // element at `offset` elements from view.data
  void set(int64_t offset, double value);  // rounds once to the dtype
};

// A contiguous row-major tensor of `shape`, poisoned: NaN (floats) or -1 (integers).
HostTensor make_host_tensor(DType dtype, const std::vector<int64_t>& shape);

// Element `offset` of a buffer of `dtype` at `base`, as a double (bit-exact bf16/fp16 reads).
double read_element(DType dtype, const void* base, int64_t offset);

struct Problem {
  Case c;
  HostTensor positions, cache;
  HostTensor qkv;                   // fused buffer, when c.fused_qkv
  HostTensor query, key;            // separate buffers otherwise
  TensorView query_view, key_view;  // what is passed as query / key
  HostTensor query_out, key_out;    // when c.out_of_place
  std::vector<unsigned char> snapshot;  // the input bytes (qkv, or query then key) before the run
  std::vector<unsigned char> positions_snapshot, cache_snapshot;  // read-only: must not change

  RotaryArgs args(Backend backend) const;
  // Undoes a run: inputs, positions and cache back to their snapshots, outputs poisoned again, so
  // that another backend can run on the same data without drawing (or building) it again.
  void restore();
  // Every buffer that holds data (for copies to and from a device).
  std::vector<HostTensor*> buffers();
  std::vector<const HostTensor*> buffers() const;
};

// Positions uniform below max_position ([3, T] for MRoPE), cache values uniform in [-1, 1] (or a
// real cache), inputs uniform in [-2, 2], all from `seed`: the same case and seed give the same
// bytes.
Problem make_problem(const Case& c, uint64_t seed);

}  // namespace ropekit::check
