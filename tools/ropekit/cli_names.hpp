// Command-line names of dtypes and backends, for CLI11 options.
#pragma once
#include <map>
#include <string>

#include "ropekit/ropekit.hpp"

namespace ropekit::cli {

// "float32" | "float16" | "bfloat16" (and the short names fp32, fp16, bf16).
const std::map<std::string, DType>& floating_dtype_names();
// "reference" | "cpu" | "cuda".
const std::map<std::string, Backend>& backend_names();

}  // namespace ropekit::cli
