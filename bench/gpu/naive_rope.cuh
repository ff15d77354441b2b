// The baseline of issue 3: one block per token, one thread per rotation pair, scalar loads. Every
// launch shape of the real kernel must be at least as fast as this at every token count.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace ropekit::bench {

// bf16 q/k contiguous [T, heads * head_size], fp32 cache [max_position, rotary_dim], int64
// positions, in place.
__global__ void naive_rope(__nv_bfloat16* query, __nv_bfloat16* key, const float* cache,
                           const int64_t* positions, int num_heads, int num_kv_heads,
                           int head_size, int rotary_dim, bool is_neox) {
  const int64_t token = blockIdx.x;
  const int half = rotary_dim / 2;
  const float* row = cache + positions[token] * rotary_dim;
  const int pairs = (num_heads + num_kv_heads) * half;
  for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
    const int head = pair / half;
    const int i = pair - head * half;
    __nv_bfloat16* x = head < num_heads
                           ? query + (token * num_heads + head) * head_size
                           : key + (token * num_kv_heads + head - num_heads) * head_size;
    const int first = is_neox ? i : 2 * i;
    const int second = is_neox ? i + half : 2 * i + 1;
    const float c = row[i], s = row[half + i];
    const float a = __bfloat162float(x[first]), b = __bfloat162float(x[second]);
    x[first] = __float2bfloat16_rn(a * c - b * s);
    x[second] = __float2bfloat16_rn(b * c + a * s);
  }
}

}  // namespace ropekit::bench
