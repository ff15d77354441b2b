// Bad inputs that `ropekit verify` feeds each backend: every one must be rejected with a
// ropekit::Error naming the bad argument, and leave every buffer as it was.
#pragma once
#include <string>
#include <vector>

#include "device_ops.hpp"
#include "ropekit/ropekit.hpp"

namespace ropekit::cli {

struct ValidationResult {
  std::string check;    // what was made invalid
  std::string failure;  // empty when rejected correctly
};

std::vector<ValidationResult> check_validation(Backend backend, DeviceOps& ops, uint64_t seed);

}  // namespace ropekit::cli
