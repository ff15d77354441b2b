// rotary_embedding: validate, pick the backend, run it.
#include <string>

#include "core/backends.hpp"
#include "core/problem.hpp"
#include "ropekit/error.hpp"
#include "ropekit/rotary.hpp"

namespace ropekit {
namespace {

Backend choose_backend(const RotaryArgs& args, const detail::Problem& problem) {
  std::string reason = "requested";
  Backend backend = args.backend;
  if (backend == Backend::automatic) {
    if (auto forced = backend_from_environment()) {
      backend = *forced;
      reason = "forced by ROPEKIT_BACKEND";
    }
  }
  if (backend == Backend::automatic)
    backend = problem.device == Device::cuda ? Backend::cuda : Backend::cpu;

  const bool host_backend = backend != Backend::cuda;
  if (host_backend && problem.device != Device::cpu)
    throw Error("backend: '" + to_string(backend) + "' (" + reason +
                ") runs on the host and cannot serve tensors on " + to_string(problem.device));
  if (!host_backend) {
    if (problem.device != Device::cuda)
      throw Error("backend: 'cuda' (" + reason + ") cannot serve tensors on " +
                  to_string(problem.device));
    if (!backend_available(Backend::cuda))
#ifdef ROPEKIT_WITH_CUDA
      throw Error("backend: 'cuda' is not available: no CUDA device is visible to this process");
#else
      throw Error("backend: 'cuda' is not available: this build of ropekit has no CUDA support");
#endif
  }
  return backend;
}

}  // namespace

Backend resolve_backend(const RotaryArgs& args) {
  return choose_backend(args, detail::make_problem(args));
}

void rotary_embedding(const RotaryArgs& args) {
  const detail::Problem problem = detail::make_problem(args);
  const Backend backend = choose_backend(args, problem);
  if (problem.num_tokens() == 0) return;
  switch (backend) {
    case Backend::reference:
      detail::check_positions_in_range(problem);
      detail::run_reference(problem);
      return;
    case Backend::cpu:
      detail::check_positions_in_range(problem);
      detail::run_cpu(problem);
      return;
    case Backend::cuda:
#ifdef ROPEKIT_WITH_CUDA
      detail::run_cuda(problem);
      return;
#endif
    case Backend::automatic:
      break;
  }
  throw Error("backend: internal error, no backend was chosen");
}

}  // namespace ropekit
