// Backend names and selection.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ropekit/export.hpp"

namespace ropekit {

enum class Backend {
  automatic,  // chosen by where the data lives (and ROPEKIT_BACKEND if set)
  reference,  // plain loops, float64 math: the oracle
  cpu,        // vectorized, threaded
  cuda,       // CUDA kernels
};

ROPEKIT_CXX_API std::string to_string(Backend backend);
// Parses "auto", "reference", "cpu", "cuda"; throws ropekit::Error naming `what` otherwise.
ROPEKIT_CXX_API Backend parse_backend(const std::string& name, const std::string& what = "backend");
// The backend forced by the environment variable ROPEKIT_BACKEND, if it is set and not "auto".
ROPEKIT_CXX_API std::optional<Backend> backend_from_environment();
// Whether this build has the backend and, for cuda, whether a device is visible.
ROPEKIT_CXX_API bool backend_available(Backend backend);
ROPEKIT_CXX_API std::vector<Backend> available_backends();

}  // namespace ropekit
