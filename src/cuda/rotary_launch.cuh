// Picks the kernel instantiation for (x dtype, cache dtype, pairing, pairs per thread) and launches
// it. Included by one translation unit per x dtype (rotary_f32.cu, ...) to split compile time.
#pragma once
#include <cuda_runtime.h>

#include "cuda/launch_rotary.hpp"
#include "cuda/rotary_kernel.cuh"
#include "ropekit/tensor.hpp"

namespace ropekit::cuda {

// Launches asynchronously on `stream`; returns the launch error (no synchronization).
template <class X>
cudaError_t launch_rotary_typed(const RotaryParams& params, const LaunchShape& shape,
                                DType cache_dtype, bool is_neox, cudaStream_t stream);

namespace detail_launch {

// One launch of one instantiation, with the 3-D shape and, when chosen, programmatic dependent
// launch (cudaLaunchKernelEx reports the launch error directly, so an earlier unrelated error left
// in the runtime is not mistaken for ours).
template <class... Params>
cudaError_t launch_kernel(void (*kernel)(Params...), const RotaryParams& params,
                          const LaunchShape& shape, unsigned shared_bytes, cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(shape.grid[0], shape.grid[1], shape.grid[2]);
  config.blockDim = dim3(shape.block[0], shape.block[1], shape.block[2]);
  config.dynamicSmemBytes = shared_bytes;  // at most 32 KB (512 threads x 8 pairs x 8 bytes)
  config.stream = stream;
  cudaLaunchAttribute programmatic = {};
  programmatic.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  programmatic.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &programmatic;
  config.numAttrs = shape.programmatic ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, params);
}

// The kernel with shape.heads_in_flight heads' loads issued together: one head per thread is the
// lean variant for small launches, where the kernel's latency is the cost, and for most large
// ones; two or four (in batches when a thread has more heads) share one cos/sin load among heads.
// (Eight in flight with 8 pairs needed more registers than 512-thread blocks allow and spilled:
// 60% slower on the H100.) Each interleaved source is instantiated only with the counts its
// launches use (make_launch_shape): rows and shuffle one, columns one, four and eight (4 pairs:
// on the H200 eight in flight was the fastest from two to about seven waves of one-head threads).
template <class X, class C, bool kNeox, int kPairs, kernel::Streams kStreams, bool kStreaming>
cudaError_t launch_heads(const RotaryParams& params, const LaunchShape& shape, cudaStream_t stream) {
  using kernel::rotary;
  using kernel::Streams;
  constexpr bool kOneHead =
      kStreams == Streams::interleaved_rows || kStreams == Streams::interleaved_shuffle;
  constexpr bool kColumns = kStreams == Streams::interleaved_columns;
  const unsigned shared = kernel::shared_bytes(kStreams, kPairs, shape.block);
  switch (shape.heads_in_flight) {
    case 1:
      return launch_kernel(rotary<X, C, kNeox, kPairs, 1, kStreams, kStreaming>, params, shape,
                           shared, stream);
    case 2:
      if constexpr (!kOneHead && !kColumns)
        return launch_kernel(rotary<X, C, kNeox, kPairs, 2, kStreams, kStreaming>, params, shape,
                             shared, stream);
      break;
    case 4:
      if constexpr (!kOneHead)
        return launch_kernel(rotary<X, C, kNeox, kPairs, 4, kStreams, kStreaming>, params, shape,
                             shared, stream);
      break;
    case 8:
      if constexpr (kColumns)
        return launch_kernel(rotary<X, C, kNeox, kPairs, 8, kStreams, kStreaming>, params, shape,
                             shared, stream);
      break;
  }
  return cudaErrorInvalidValue;
}

// Streaming accesses (whole 32-byte sectors: at least 2 pairs per thread) are instantiated for
// plain RoPE, contiguous multimodal sections and the interleaved shuffle; the other interleaved
// sources ran slower or no faster with them (H200, docs/BENCHMARKS.md), and make_launch_shape
// never asks for them there.
template <class X, class C, bool kNeox, int kPairs, kernel::Streams kStreams>
cudaError_t launch_streams(const RotaryParams& params, const LaunchShape& shape,
                           cudaStream_t stream) {
  if (!shape.streaming) return launch_heads<X, C, kNeox, kPairs, kStreams, false>(params, shape, stream);
  if constexpr (kPairs >= 2 && (kStreams == kernel::Streams::one ||
                                kStreams == kernel::Streams::contiguous_sections ||
                                kStreams == kernel::Streams::interleaved_shuffle))
    return launch_heads<X, C, kNeox, kPairs, kStreams, true>(params, shape, stream);
  return cudaErrorInvalidValue;
}

// Interleaved sections: the source the shape names (make_launch_shape gives rows and columns at
// most 4 pairs per thread, their only instantiations; the shuffle kShufflePairs, its only one).
template <class X, class C, bool kNeox, int kPairs>
cudaError_t launch_interleaved(const RotaryParams& params, const LaunchShape& shape,
                               cudaStream_t stream) {
  using kernel::Streams;
  switch (shape.interleaved) {
    case InterleavedSource::gather:
      return launch_streams<X, C, kNeox, kPairs, Streams::interleaved_gather>(params, shape, stream);
    case InterleavedSource::rows:
      if constexpr (kPairs <= 4)
        return launch_streams<X, C, kNeox, kPairs, Streams::interleaved_rows>(params, shape, stream);
      break;
    case InterleavedSource::columns:
      if constexpr (kPairs <= 4)
        return launch_streams<X, C, kNeox, kPairs, Streams::interleaved_columns>(params, shape,
                                                                                 stream);
      break;
    case InterleavedSource::shuffle:
      if constexpr (kPairs == kShufflePairs)
        return launch_streams<X, C, kNeox, kPairs, Streams::interleaved_shuffle>(params, shape,
                                                                                 stream);
      break;
  }
  return cudaErrorInvalidValue;
}

// Multimodal RoPE rotates NeoX pairs only (validated on the host): no GPT-J instantiation.
template <class X, class C, bool kNeox, int kPairs>
cudaError_t launch(const RotaryParams& params, const LaunchShape& shape, cudaStream_t stream) {
  using kernel::Streams;
  if (!params.mrope) return launch_streams<X, C, kNeox, kPairs, Streams::one>(params, shape, stream);
  if constexpr (kNeox) {
    if (params.mrope_interleaved) return launch_interleaved<X, C, kNeox, kPairs>(params, shape, stream);
    return launch_streams<X, C, kNeox, kPairs, Streams::contiguous_sections>(params, shape, stream);
  }
  return cudaErrorInvalidValue;
}

// Pair counts wider than 16 bytes of x are never chosen (choose_pairs_per_thread); they map to an
// error, not a kernel.
template <class X, class C, bool kNeox>
cudaError_t launch_pairs(const RotaryParams& params, const LaunchShape& shape, cudaStream_t stream) {
  constexpr int kMaxPairs = 16 / sizeof(X);
  switch (shape.pairs_per_thread) {
    case 1: return launch<X, C, kNeox, 1>(params, shape, stream);
    case 2: if constexpr (kMaxPairs >= 2) return launch<X, C, kNeox, 2>(params, shape, stream); break;
    case 4: if constexpr (kMaxPairs >= 4) return launch<X, C, kNeox, 4>(params, shape, stream); break;
    case 8: if constexpr (kMaxPairs >= 8) return launch<X, C, kNeox, 8>(params, shape, stream); break;
  }
  return cudaErrorInvalidValue;
}

template <class X, class C>
cudaError_t launch_style(const RotaryParams& params, const LaunchShape& shape, bool is_neox,
                         cudaStream_t stream) {
  return is_neox ? launch_pairs<X, C, true>(params, shape, stream)
                 : launch_pairs<X, C, false>(params, shape, stream);
}

}  // namespace detail_launch

template <class X>
cudaError_t launch_rotary_typed(const RotaryParams& params, const LaunchShape& shape,
                                DType cache_dtype, bool is_neox, cudaStream_t stream) {
  using namespace detail_launch;
  switch (cache_dtype) {
    case DType::float32: return launch_style<X, float>(params, shape, is_neox, stream);
    case DType::float16: return launch_style<X, __half>(params, shape, is_neox, stream);
    case DType::bfloat16:
      return launch_style<X, __nv_bfloat16>(params, shape, is_neox, stream);
    default: return cudaErrorInvalidValue;
  }
}

// Instantiated once each, in rotary_f32.cu, rotary_f16.cu and rotary_bf16.cu: every other
// includer (cuda_backend.cu) links to those instead of compiling the kernels again.
extern template cudaError_t launch_rotary_typed<float>(const RotaryParams&, const LaunchShape&,
                                                       DType, bool, cudaStream_t);
extern template cudaError_t launch_rotary_typed<__half>(const RotaryParams&, const LaunchShape&,
                                                        DType, bool, cudaStream_t);
extern template cudaError_t launch_rotary_typed<__nv_bfloat16>(const RotaryParams&,
                                                               const LaunchShape&, DType, bool,
                                                               cudaStream_t);

}  // namespace ropekit::cuda
