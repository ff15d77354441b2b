#include "model_shapes.hpp"

#include "ropekit/error.hpp"

namespace ropekit::cli {

const std::vector<ModelShape>& model_shapes() {
  // Heads, head_size and rotary_dim from each model's config.json (see ROPE_SPEC.md section 5).
  static const std::vector<ModelShape> shapes{
      {"llama3-8b", 32, 8, 128, 128, true},
      {"glm4-9b", 32, 2, 128, 64, false},      // partial_rotary_factor 0.5, interleaved pairs
      {"neox-20b", 64, 64, 96, 24, true},      // rotary_pct 0.25
      // Rope part of MLA: 128 query heads over 8 GPUs (tp8), one rope key shared by all heads.
      {"deepseek-v3", 16, 1, 64, 64, false},
      {"llama3-70b-tp8", 8, 1, 128, 128, true},  // 64/8 heads split over 8 GPUs
  };
  return shapes;
}

std::vector<std::string> default_shape_names() {
  return {"llama3-8b", "glm4-9b", "neox-20b", "deepseek-v3"};
}

const ModelShape& find_model_shape(const std::string& name) {
  for (const ModelShape& shape : model_shapes())
    if (shape.name == name) return shape;
  std::string known;
  for (const ModelShape& shape : model_shapes()) known += (known.empty() ? "" : ", ") + shape.name;
  throw Error("--shape: expected one of " + known + " or all, got '" + name + "'");
}

}  // namespace ropekit::cli
