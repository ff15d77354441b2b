// The attention shape of a model read from its Hugging Face config.json (`ropekit bench --config`):
// named after the file, which the constexpr table of common/model_shapes.hpp cannot hold.
#pragma once
#include <string>

#include "common/model_shapes.hpp"

namespace ropekit::cli {

// A shape `ropekit bench` runs: a row of shapes::kModelShapes or one read from a config.json.
struct BenchShape {
  std::string name;
  shapes::ModelShape dims;  // dims.name is unused: a config's name lives in `name`
};

// The table's row `name`; throws ropekit::Error naming --shape for an unknown name.
BenchShape table_shape(std::string_view name);

// Head size, rotary dim and pairing as ropekit derives them (RopeConfig), heads from
// num_attention_heads and num_key_value_heads (default: MHA), in text_config for multimodal
// models. Throws ropekit::Error naming --config and the file.
BenchShape shape_from_hf_config(const std::string& path);

}  // namespace ropekit::cli
