/* ropekit C API over DLPack tensors.
 *
 * Every function returns 0 on success and non-zero on failure; on failure nothing was written and
 * ropekit_last_error() (thread-local) names the bad argument with the expected vs actual value.
 * On CUDA tensors position values are not read on the host: a token whose position lies outside
 * [0, max_position) gets NaN in its rotary part and the call returns 0. The environment variable
 * ROPEKIT_CUDA_CHECK_POSITIONS=1 checks them on the host first instead (non-zero, nothing
 * written; it synchronizes the stream and is refused during CUDA-graph capture).
 * A tensor a call writes must share no memory with itself, the other written tensor or any tensor
 * the call reads; an output exactly equal to its input is in place. */
#ifndef ROPEKIT_ROPEKIT_H_
#define ROPEKIT_ROPEKIT_H_

#include <dlpack/dlpack.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ROPEKIT_API __declspec(dllexport)
#else
#define ROPEKIT_API __attribute__((visibility("default")))
#endif

/* Status codes. */
#define ROPEKIT_OK 0
#define ROPEKIT_ERROR_INVALID_ARGUMENT 1
#define ROPEKIT_ERROR_BACKEND 2

/* Rotates query (and key, which may be NULL) in place, vLLM `rotary_embedding` semantics.
 * positions: int32/int64 [T] or [B,S]; query/key: [T, nh*hs], [T, nh, hs], [B, S, nh*hs] or
 * [B, S, nh, hs], last dimension contiguous; cos_sin_cache: [max_position, rotary_dim], cos half
 * then sin half. stream: a cudaStream_t for CUDA tensors, ignored on the CPU. */
ROPEKIT_API int ropekit_rotary_embedding(const DLTensor* positions, DLTensor* query, DLTensor* key,
                                         int64_t head_size, const DLTensor* cos_sin_cache,
                                         int is_neox, void* stream);

/* Backends for ropekit_rotary_embedding_ex. */
#define ROPEKIT_BACKEND_AUTO 0
#define ROPEKIT_BACKEND_REFERENCE 1
#define ROPEKIT_BACKEND_CPU 2
#define ROPEKIT_BACKEND_CUDA 3

/* The full surface: optional separate outputs, inverse rotation, an explicit backend. */
typedef struct ropekit_rotary_args {
  const DLTensor* positions;
  const DLTensor* query;
  const DLTensor* key;          /* may be NULL */
  DLTensor* query_out;          /* NULL: rotate query in place */
  DLTensor* key_out;            /* NULL: rotate key in place (must be NULL when key is NULL) */
  const DLTensor* cos_sin_cache;
  int64_t head_size;
  int is_neox;
  int inverse;                  /* non-zero: rotate by -theta (the backward pass) */
  int backend;                  /* ROPEKIT_BACKEND_*; AUTO honours the ROPEKIT_BACKEND variable */
  void* stream;
  int64_t rope_dim_offset;      /* first rotated element of each head (in place only); 0: the
                                   start. Zero-initialize the struct: fields may be added here. */
} ropekit_rotary_args;

ROPEKIT_API int ropekit_rotary_embedding_ex(const ropekit_rotary_args* args);

/* Multimodal RoPE (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): like ropekit_rotary_embedding_ex, with
 * args->positions of shape [3, T] (temporal, height, width streams) and mrope_section[3] the
 * number of frequencies each stream drives (summing to rotary_dim / 2). mrope_interleaved = 0:
 * contiguous sections (Qwen2-VL); non-zero: interleaved t,h,w (Qwen3-VL). NeoX pairing only
 * (args->is_neox must be non-zero). Every backend implements it. */
ROPEKIT_API int ropekit_rotary_embedding_mrope(const ropekit_rotary_args* args,
                                               const int64_t mrope_section[3],
                                               int mrope_interleaved);

/* Builds the cos/sin cache of a Hugging Face model from the text of its config.json (rope_theta,
 * head_dim, partial_rotary_factor, rope_scaling / rope_parameters of every rope_type): `out` is a
 * CPU float32 or float64 tensor [max_positions, rotary_dim], row p = cos(p * inv_freq) then
 * sin(p * inv_freq), both times the attention factor; angles in float64, rounded once.
 * Dynamic NTK and LongRoPE give their load-time (short) frequencies; see ropekit/config.hpp for
 * the per-length variants. */
ROPEKIT_API int ropekit_cos_sin_cache_from_hf_config(const char* config_json,
                                                     int64_t max_positions, DLTensor* out);

/* inv_freq and attention factor of a Hugging Face config.json (float64 math), for a sequence
 * length (0: load time; only dynamic NTK and LongRoPE depend on it). `inv_freq` has room for
 * `capacity` values; `*count` receives rotary_dim / 2. inv_freq = NULL with capacity 0 only
 * reports the count (and the attention factor). */
ROPEKIT_API int ropekit_rope_frequencies_from_hf_config(const char* config_json,
                                                       int64_t sequence_length, double* inv_freq,
                                                       int64_t capacity, int64_t* count,
                                                       double* attention_factor);

/* The message of the last failure on this thread ("" if none). Valid until the next call. */
ROPEKIT_API const char* ropekit_last_error(void);

/* "0.1.0" */
ROPEKIT_API const char* ropekit_version(void);

/* Non-zero when the backend (ROPEKIT_BACKEND_*) is compiled in and usable on this machine. */
ROPEKIT_API int ropekit_backend_available(int backend);

#ifdef __cplusplus
}
#endif

#endif /* ROPEKIT_ROPEKIT_H_ */
