// A libropekit seen only through its C API, as function pointers: the linked library (its own
// symbols) or another build loaded with dlopen (--baseline-library). Both are called through the
// same pointer types, so an A/B comparison times the same call path on each side.
#pragma once
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ropekit/ropekit.h"

namespace ropekit::bench {

struct RopeLibrary {
  using Embedding = int (*)(const ropekit_rotary_args*);
  using MropeEmbedding = int (*)(const ropekit_rotary_args*, const int64_t[3], int);
  using Text = const char* (*)();

  std::string name;                  // "current" or the baseline's path
  Embedding embedding = nullptr;     // ropekit_rotary_embedding_ex
  MropeEmbedding mrope = nullptr;    // ropekit_rotary_embedding_mrope; null in builds without it
  Text last_error = nullptr;
  Text version = nullptr;
};

// Multimodal RoPE of a call: none (section all 0) or positions [3, T] with these sections.
struct MropeSpec {
  int64_t section[3] = {0, 0, 0};
  bool interleaved = false;
  bool enabled() const { return section[0] + section[1] + section[2] > 0; }
};

inline RopeLibrary linked_library() {
  return {"current", &ropekit_rotary_embedding_ex, &ropekit_rotary_embedding_mrope,
          &ropekit_last_error, &ropekit_version};
}

// RTLD_DEEPBIND: the library exports its C++ internals too, and without it the baseline's C API
// would bind them to the linked (current) library's definitions, timing the current code twice.
inline RopeLibrary load_library(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) {
    std::fprintf(stderr, "gpu_bench: cannot load %s: %s\n", path.c_str(), dlerror());
    std::exit(1);
  }
  const auto symbol = [&](const char* name, bool required) {
    void* address = dlsym(handle, name);
    if (address == nullptr && required) {
      std::fprintf(stderr, "gpu_bench: %s has no %s\n", path.c_str(), name);
      std::exit(1);
    }
    return address;
  };
  RopeLibrary library;
  library.name = path;
  library.embedding =
      reinterpret_cast<RopeLibrary::Embedding>(symbol("ropekit_rotary_embedding_ex", true));
  library.mrope = reinterpret_cast<RopeLibrary::MropeEmbedding>(
      symbol("ropekit_rotary_embedding_mrope", false));
  library.last_error = reinterpret_cast<RopeLibrary::Text>(symbol("ropekit_last_error", true));
  library.version = reinterpret_cast<RopeLibrary::Text>(symbol("ropekit_version", true));
  if (library.embedding == &ropekit_rotary_embedding_ex)
    std::printf("# warning: %s is the linked library itself (same file): an A/A run\n",
                path.c_str());
  return library;
}

// One call; 0 on success, else the library's status (its last_error() says why).
inline int call_rope(const RopeLibrary& library, const ropekit_rotary_args& args,
                     const MropeSpec& mrope) {
  if (!mrope.enabled()) return library.embedding(&args);
  if (library.mrope == nullptr) return ROPEKIT_ERROR_BACKEND;
  return library.mrope(&args, mrope.section, mrope.interleaved ? 1 : 0);
}

inline std::string error_of(const RopeLibrary& library, const MropeSpec& mrope) {
  if (mrope.enabled() && library.mrope == nullptr) return "no ropekit_rotary_embedding_mrope";
  return library.last_error();
}

}  // namespace ropekit::bench
