#include "backend_devices.hpp"

#include "dtype_names.hpp"

namespace ropekit::cli {

BackendDevices::BackendDevices() : host_(make_host_ops()) {
  if (backend_available(Backend::cuda)) cuda_ = make_cuda_ops();
}

bool BackendDevices::usable(Backend backend) const {
  if (backend == Backend::cuda) return cuda_ != nullptr;
  return backend_available(backend);
}

DeviceOps& BackendDevices::for_backend(Backend backend) {
  if (backend != Backend::cuda) return *host_;
  if (!cuda_) throw Error("--backend: 'cuda' has no device in this build or on this machine");
  return *cuda_;
}

std::vector<Backend> BackendDevices::select(const std::vector<std::string>& names,
                                            bool default_includes_reference) {
  std::vector<Backend> selected;
  if (names.empty()) {
    for (Backend backend : available_backends())
      if (usable(backend) && (default_includes_reference || backend != Backend::reference))
        selected.push_back(backend);
    return selected;
  }
  for (const std::string& name : names) {
    const Backend backend = backend_names().at(name);
    if (!usable(backend)) {
      const bool library_has_it = backend_available(backend);
      throw Error("--backend: '" + name + "' is not available: " +
                  (library_has_it ? "this ropekit CLI was built without cuda_ops.cpp"
                                  : "this build has no CUDA support or no CUDA device is visible"));
    }
    bool seen = false;
    for (Backend b : selected) seen = seen || b == backend;
    if (!seen) selected.push_back(backend);
  }
  return selected;
}

}  // namespace ropekit::cli
