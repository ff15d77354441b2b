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

// The shape of the model a Hugging Face config.json describes: head size, rotary dim and pairing
// as ropekit derives them (RopeConfig), heads from num_attention_heads and num_key_value_heads
// (default: MHA), in text_config for multimodal models. Named after the file. Throws
// ropekit::Error naming --config and the file.
ModelShape shape_from_hf_config(const std::string& path);

}  // namespace ropekit::cli
