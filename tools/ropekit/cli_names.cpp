#include "cli_names.hpp"

namespace ropekit::cli {

const std::map<std::string, DType>& floating_dtype_names() {
  static const std::map<std::string, DType> names{
      {"float32", DType::float32}, {"float16", DType::float16}, {"bfloat16", DType::bfloat16},
      {"fp32", DType::float32},    {"fp16", DType::float16},    {"bf16", DType::bfloat16}};
  return names;
}

const std::map<std::string, Backend>& backend_names() {
  static const std::map<std::string, Backend> names{
      {"reference", Backend::reference}, {"cpu", Backend::cpu}, {"cuda", Backend::cuda}};
  return names;
}

}  // namespace ropekit::cli
