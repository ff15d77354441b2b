// The extern "C" surface: convert DLPack arguments, call the C++ API, turn exceptions into status.
#include <exception>
#include <string>

#include "capi/dlpack_view.hpp"
#include "capi/guarded.hpp"
#include "capi/rotary_args.hpp"
#include "ropekit/error.hpp"
#include "ropekit/ropekit.h"
#include "ropekit/rotary.hpp"
#include "ropekit/version.hpp"

namespace {

using ropekit::capi::guarded;
using ropekit::capi::last_error;

ropekit::Backend backend_of(int code) {
  switch (code) {
    case ROPEKIT_BACKEND_AUTO: return ropekit::Backend::automatic;
    case ROPEKIT_BACKEND_REFERENCE: return ropekit::Backend::reference;
    case ROPEKIT_BACKEND_CPU: return ropekit::Backend::cpu;
    case ROPEKIT_BACKEND_CUDA: return ropekit::Backend::cuda;
    default:
      throw ropekit::Error("backend: expected ROPEKIT_BACKEND_AUTO, _REFERENCE, _CPU or _CUDA (0-3), got " +
                           std::to_string(code));
  }
}

}  // namespace

ropekit::RotaryArgs ropekit::capi::rotary_args_of(const ropekit_rotary_args* args) {
  if (args == nullptr) throw ropekit::Error("args: expected a ropekit_rotary_args, got NULL");
  ropekit::RotaryArgs cpp;
  using ropekit::capi::view_of;
  cpp.positions = view_of(args->positions, "positions");
  cpp.query = view_of(args->query, "query");
  if (args->key) cpp.key = view_of(args->key, "key");
  if (args->query_out) cpp.query_out = view_of(args->query_out, "query_out");
  if (args->key_out) cpp.key_out = view_of(args->key_out, "key_out");
  cpp.cos_sin_cache = view_of(args->cos_sin_cache, "cos_sin_cache");
  cpp.head_size = args->head_size;
  cpp.is_neox = args->is_neox != 0;
  cpp.inverse = args->inverse != 0;
  cpp.rope_dim_offset = args->rope_dim_offset;
  cpp.backend = backend_of(args->backend);
  cpp.stream = args->stream;
  return cpp;
}

extern "C" {

int ropekit_rotary_embedding_ex(const ropekit_rotary_args* args) {
  return guarded([&] { ropekit::rotary_embedding(ropekit::capi::rotary_args_of(args)); });
}

int ropekit_rotary_embedding(const DLTensor* positions, DLTensor* query, DLTensor* key,
                             int64_t head_size, const DLTensor* cos_sin_cache, int is_neox,
                             void* stream) {
  ropekit_rotary_args args{};
  args.positions = positions;
  args.query = query;
  args.key = key;
  args.cos_sin_cache = cos_sin_cache;
  args.head_size = head_size;
  args.is_neox = is_neox;
  args.backend = ROPEKIT_BACKEND_AUTO;
  args.stream = stream;
  return ropekit_rotary_embedding_ex(&args);
}

const char* ropekit_last_error(void) { return last_error.c_str(); }

const char* ropekit_version(void) { return ropekit::kVersion; }

int ropekit_backend_available(int backend) {
  try {
    return ropekit::backend_available(backend_of(backend)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

}  // extern "C"
