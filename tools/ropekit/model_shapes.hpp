// The rotary part of real models' attention layers: what `ropekit bench` measures by default.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ropekit::cli {

struct ModelShape {
  std::string name;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_size = 0;
  int64_t rotary_dim = 0;
  bool is_neox = true;
};

// Every known shape, in table order.
const std::vector<ModelShape>& model_shapes();
// The shapes benchmarked when --shape is not given (the ones issue 2 names).
std::vector<std::string> default_shape_names();
// Throws ropekit::Error naming --shape for an unknown name.
const ModelShape& find_model_shape(const std::string& name);

}  // namespace ropekit::cli
