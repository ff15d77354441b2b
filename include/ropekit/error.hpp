// ropekit::Error: the one exception type the library throws.
#pragma once
#include <stdexcept>
#include <string>

#include "ropekit/export.hpp"

namespace ropekit {

// Thrown for every rejected input and every backend failure. The message names the argument and
// the expected vs actual value, e.g. "query: expected dtype float32|float16|bfloat16, got int32".
class ROPEKIT_CXX_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ropekit
