// One problem (model shape, token count, plain or multimodal RoPE) and its buffers: enough sets of
// q, k and positions that one graph's calls rotate through more than L2 holds (DRAM is measured,
// not the cache), graphs of each contender over them, and one checked call of a library.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/model_shapes.hpp"
#include "cuda_check.cuh"
#include "device_data.cuh"
#include "graph_timer.cuh"
#include "naive_rope.cuh"
#include "rope_args.hpp"
#include "rope_library.hpp"
#include "traffic.hpp"

namespace ropekit::bench {

using ropekit::shapes::ModelShape;

class RopeCase {
 public:
  // same_positions: one random draw for every set, as the layers of one forward pass share
  // positions (the MRoPE target's pattern); otherwise a new draw per set.
  RopeCase(int64_t l2_bytes, const ModelShape& shape, int64_t tokens, const DeviceCache& cache,
           cudaStream_t stream, MropeSpec mrope, bool same_positions)
      : bytes(counted_bytes(shape, tokens)), shape_(shape), tokens_(tokens), cache_(cache),
        stream_(stream), mrope_(mrope), l2_bytes_(l2_bytes) {
    const int64_t streams = mrope.enabled() ? 3 : 1;
    const int64_t set_bytes = (query_elements() + key_elements()) * 2 + streams * tokens * 8;
    sets_ = int(std::clamp<int64_t>((3 * l2_bytes + set_bytes - 1) / set_bytes, 1, 64));
    std::mt19937_64 rng(uint64_t(tokens) * 131 + uint64_t(shape.num_heads));
    std::uniform_int_distribution<int64_t> position(0, cache.rows() - 1);
    const uint64_t shared_draw = rng();
    for (int i = 0; i < sets_; ++i) {
      auto set = std::make_unique<Set>();
      check(cudaMalloc(&set->query, query_elements() * 2), "malloc query");
      check(cudaMalloc(&set->key, key_elements() * 2), "malloc key");
      check(cudaMalloc(&set->positions, streams * tokens * 8), "malloc positions");
      fill_bf16<<<1024, 256>>>(set->query, query_elements(), rng());
      check_launch("fill query");
      fill_bf16<<<1024, 256>>>(set->key, key_elements(), rng());
      check_launch("fill key");
      std::vector<int64_t> host(size_t(streams * tokens));
      std::mt19937_64 draw(same_positions ? shared_draw : rng());
      for (int64_t& p : host) p = position(draw);
      check(cudaMemcpy(set->positions, host.data(), host.size() * 8, cudaMemcpyHostToDevice),
            "copy positions");
      set->call.set({kDLCUDA, 0}, ROPEKIT_BACKEND_CUDA, stream, set->positions, mrope.enabled(),
                    set->query, set->key, cache.device(), tokens, shape.num_heads,
                    shape.num_kv_heads, shape.head_size, cache.rows(), shape.rotary_dim,
                    shape.is_neox);
      if (i == 0) positions_ = host;
      sets_data_.push_back(std::move(set));
    }
    check(cudaDeviceSynchronize(), "fill buffers");
    input_ = read_set0();
  }

  ~RopeCase() {
    for (auto& set : sets_data_) {
      check(cudaFree(set->query), "free query");
      check(cudaFree(set->key), "free key");
      check(cudaFree(set->positions), "free positions");
    }
    check(cudaFree(copy_source_), "free copy source");
    check(cudaFree(copy_destination_), "free copy destination");
  }
  RopeCase(const RopeCase&) = delete;
  RopeCase& operator=(const RopeCase&) = delete;

  std::unique_ptr<GraphTimer> library_timer(const RopeLibrary& library) {
    return std::make_unique<GraphTimer>(stream_, calls(sets_), [&](int k) {
      if (call_rope(library, sets_data_[k % sets_]->call.args, mrope_) != 0) {
        std::fprintf(stderr, "gpu_bench: %s failed while captured: %s\n", library.name.c_str(),
                     error_of(library, mrope_).c_str());
        std::exit(1);
      }
    });
  }

  // The naive kernel reads one position per token: plain RoPE only.
  std::unique_ptr<GraphTimer> naive_timer() {
    const int pairs = int((shape_.num_heads + shape_.num_kv_heads) * shape_.rotary_dim / 2);
    const int threads = std::min(1024, (pairs + 31) / 32 * 32);
    return std::make_unique<GraphTimer>(stream_, calls(sets_), [&](int k) {
      const Set& s = *sets_data_[k % sets_];
      naive_rope<<<unsigned(tokens_), threads, 0, stream_>>>(
          s.query, s.key, cache_.device(), s.positions, int(shape_.num_heads),
          int(shape_.num_kv_heads), int(shape_.head_size), int(shape_.rotary_dim), shape_.is_neox);
      check_launch("naive kernel");
    });
  }

  // A device-to-device copy of the counted bytes: half read, half written, rotating over enough
  // buffers to leave L2 as the library's calls do.
  std::unique_ptr<GraphTimer> copy_timer() {
    const int64_t half = bytes / 2;
    const int copy_sets = int(std::clamp<int64_t>((3 * l2_bytes_ + bytes - 1) / bytes, 1, 64));
    if (copy_source_ == nullptr) {
      check(cudaMalloc(&copy_source_, half * copy_sets), "malloc copy source");
      check(cudaMalloc(&copy_destination_, half * copy_sets), "malloc copy destination");
      fill_bf16<<<1024, 256>>>(reinterpret_cast<__nv_bfloat16*>(copy_source_),
                               half * copy_sets / 2, 3);
      check_launch("fill copy source");
      check(cudaDeviceSynchronize(), "fill copy source");
    }
    return std::make_unique<GraphTimer>(stream_, calls(copy_sets), [&](int k) {
      const int64_t offset = (k % copy_sets) * half;
      check(cudaMemcpyAsync(copy_destination_ + offset, copy_source_ + offset, size_t(half),
                            cudaMemcpyDeviceToDevice, stream_),
            "copy");
    });
  }

  // Host time per eager call of `library` (no graph): `calls` back-to-back calls over the sets,
  // then one synchronize. With a small problem the launches, not the GPU, set the pace.
  double eager_seconds_per_call(const RopeLibrary& library, int calls) {
    check(cudaStreamSynchronize(stream_), "before eager calls");
    const auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < calls; ++k)
      if (call_rope(library, sets_data_[k % sets_]->call.args, mrope_) != 0) {
        std::fprintf(stderr, "gpu_bench: %s failed: %s\n", library.name.c_str(),
                     error_of(library, mrope_).c_str());
        std::exit(1);
      }
    check(cudaStreamSynchronize(stream_), "after eager calls");
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
  }

  // q then k (bf16 bits) after one call of `library` on set 0, which is then restored so that
  // every checked call starts from the same inputs. Empty on a library error (*error says why).
  std::vector<uint16_t> run_once(const RopeLibrary& library, std::string* error) {
    const int status = call_rope(library, sets_data_[0]->call.args, mrope_);
    if (status != 0) {
      *error = error_of(library, mrope_);
      return {};
    }
    check(cudaStreamSynchronize(stream_), "checked call");
    std::vector<uint16_t> result = read_set0();
    check(cudaMemcpy(sets_data_[0]->query, input_.data(), query_elements() * 2,
                     cudaMemcpyHostToDevice), "restore query");
    check(cudaMemcpy(sets_data_[0]->key, input_.data() + query_elements(), key_elements() * 2,
                     cudaMemcpyHostToDevice), "restore key");
    check(cudaDeviceSynchronize(), "restore set 0");
    return result;
  }

  // The float64 reference backend's result (through `library`'s C API, on host copies of set 0).
  std::vector<uint16_t> reference(const RopeLibrary& library) {
    std::vector<uint16_t> result = input_;
    RopeArgs host;
    host.set({kDLCPU, 0}, ROPEKIT_BACKEND_REFERENCE, nullptr, positions_.data(), mrope_.enabled(),
             result.data(), result.data() + query_elements(), cache_.host(), tokens_,
             shape_.num_heads, shape_.num_kv_heads, shape_.head_size, cache_.rows(),
             shape_.rotary_dim, shape_.is_neox);
    if (call_rope(library, host.args, mrope_) != 0) {
      std::fprintf(stderr, "gpu_bench: the reference backend failed: %s\n",
                   error_of(library, mrope_).c_str());
      std::exit(1);
    }
    return result;
  }

  const int64_t bytes;  // counted_bytes: what GB/s and the copy count

 private:
  struct Set {
    __nv_bfloat16* query = nullptr;
    __nv_bfloat16* key = nullptr;
    int64_t* positions = nullptr;
    RopeArgs call;  // the C API's arguments over this set
  };

  int64_t query_elements() const { return tokens_ * shape_.num_heads * shape_.head_size; }
  int64_t key_elements() const { return tokens_ * shape_.num_kv_heads * shape_.head_size; }
  // Calls of one graph: a multiple of the sets it rotates over, at least 16.
  static int calls(int sets) { return std::max(sets, 16) / sets * sets; }

  std::vector<uint16_t> read_set0() const {
    std::vector<uint16_t> bits(size_t(query_elements() + key_elements()));
    check(cudaMemcpy(bits.data(), sets_data_[0]->query, query_elements() * 2,
                     cudaMemcpyDeviceToHost), "read query");
    check(cudaMemcpy(bits.data() + query_elements(), sets_data_[0]->key, key_elements() * 2,
                     cudaMemcpyDeviceToHost), "read key");
    return bits;
  }

  const ModelShape& shape_;
  int64_t tokens_;
  const DeviceCache& cache_;
  cudaStream_t stream_;
  MropeSpec mrope_;
  int64_t l2_bytes_;
  int sets_ = 1;
  std::vector<std::unique_ptr<Set>> sets_data_;
  std::vector<int64_t> positions_;  // set 0's, for the reference
  std::vector<uint16_t> input_;     // set 0's q then k before any call
  char* copy_source_ = nullptr;
  char* copy_destination_ = nullptr;
};

}  // namespace ropekit::bench
