#include "ropekit/backend.hpp"

#include <cstdlib>

#include "core/backends.hpp"
#include "ropekit/error.hpp"

namespace ropekit {

std::string to_string(Backend backend) {
  switch (backend) {
    case Backend::automatic: return "auto";
    case Backend::reference: return "reference";
    case Backend::cpu: return "cpu";
    case Backend::cuda: return "cuda";
  }
  return "unknown";
}

Backend parse_backend(const std::string& name, const std::string& what) {
  if (name == "auto") return Backend::automatic;
  if (name == "reference") return Backend::reference;
  if (name == "cpu") return Backend::cpu;
  if (name == "cuda") return Backend::cuda;
  throw Error(what + ": expected one of auto, reference, cpu, cuda, got '" + name + "'");
}

std::optional<Backend> backend_from_environment() {
  const char* value = std::getenv("ROPEKIT_BACKEND");
  if (value == nullptr || *value == '\0') return std::nullopt;
  const Backend backend = parse_backend(value, "ROPEKIT_BACKEND");
  if (backend == Backend::automatic) return std::nullopt;
  return backend;
}

bool backend_available(Backend backend) {
  switch (backend) {
    case Backend::automatic:
    case Backend::reference:
    case Backend::cpu: return true;
    case Backend::cuda:
#ifdef ROPEKIT_WITH_CUDA
      return detail::cuda_device_available();
#else
      return false;
#endif
  }
  return false;
}

std::vector<Backend> available_backends() {
  std::vector<Backend> backends;
  for (Backend b : {Backend::reference, Backend::cpu, Backend::cuda})
    if (backend_available(b)) backends.push_back(b);
  return backends;
}

}  // namespace ropekit
