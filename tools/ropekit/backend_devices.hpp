// Which DeviceOps serves each backend: the host for reference and cpu, the CUDA device for cuda.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "device_ops.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::cli {

class BackendDevices {
 public:
  BackendDevices();

  DeviceOps& host() { return *host_; }
  // The device whose memory `backend` runs on; throws ropekit::Error if there is none.
  DeviceOps& for_backend(Backend backend);

  // The backends named in a --backend option (`names` already checked against backend_names()),
  // or, when empty, every available one (the reference only if `default_includes_reference`).
  // Throws ropekit::Error naming --backend for one this build or machine cannot run.
  std::vector<Backend> select(const std::vector<std::string>& names,
                              bool default_includes_reference);

 private:
  bool usable(Backend backend) const;

  std::unique_ptr<DeviceOps> host_;
  std::unique_ptr<DeviceOps> cuda_;  // null without a CUDA build, cuda_ops.cpp or device
};

}  // namespace ropekit::cli
