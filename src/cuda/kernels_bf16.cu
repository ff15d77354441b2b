// The kernels whose q/k type is bf16 (one translation unit per type keeps builds parallel).
#include "cuda/kernels.cuh"

namespace ropekit::cuda {

const void* const* kernels_bf16() {
  static const auto table =
      kernels_of_x<XType::bf16>(std::make_integer_sequence<int, kKernelConfigCount>{});
  return table.data();
}

}  // namespace ropekit::cuda
