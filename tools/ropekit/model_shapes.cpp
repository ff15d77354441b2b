#include "model_shapes.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "ropekit/config.hpp"
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

namespace {

// num_attention_heads (n_head in GPT-J / GPT-2 style configs) and num_key_value_heads (default:
// as many as query heads) of the language model: text_config when the top level lacks them, as
// in Qwen2.5-VL and Gemma 3.
std::pair<int64_t, int64_t> heads_of(const nlohmann::json& document) {
  const auto has_heads = [](const nlohmann::json& j) {
    return j.contains("num_attention_heads") || j.contains("n_head");
  };
  const nlohmann::json* model = &document;
  if (!has_heads(document) && document.contains("text_config") &&
      document["text_config"].is_object())
    model = &document["text_config"];
  const auto count = [&](const char* field) -> int64_t {
    const auto& value = (*model)[field];
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
      throw Error(std::string(field) + ": expected a positive integer, got " + value.dump());
    return value.get<int64_t>();
  };
  if (!has_heads(*model))
    throw Error("num_attention_heads: missing (needed for the shape of the benchmark)");
  const int64_t heads =
      count(model->contains("num_attention_heads") ? "num_attention_heads" : "n_head");
  const int64_t kv_heads = model->contains("num_key_value_heads") &&
                                   !(*model)["num_key_value_heads"].is_null()
                               ? count("num_key_value_heads")
                               : heads;
  if (heads % kv_heads != 0)
    throw Error("num_key_value_heads: expected a divisor of num_attention_heads = " +
                std::to_string(heads) + ", got " + std::to_string(kv_heads));
  return {heads, kv_heads};
}

}  // namespace

ModelShape shape_from_hf_config(const std::string& path) {
  try {
    // Read once: the rope fields and the head counts come from the same text.
    std::ifstream file(path);
    if (!file) throw Error("cannot open the file");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    const RopeConfig rope = parse_hf_config(text);
    const auto [heads, kv_heads] = heads_of(nlohmann::json::parse(text));
    ModelShape shape;
    shape.name = std::filesystem::path(path).stem().string();
    shape.num_heads = heads;
    shape.num_kv_heads = kv_heads;
    shape.head_size = rope.head_size;
    shape.rotary_dim = rope.rotary_dim;
    shape.is_neox = rope.is_neox;
    return shape;
  } catch (const nlohmann::json::exception& error) {
    throw Error("--config " + path + ": " + error.what());
  } catch (const Error& error) {
    throw Error("--config " + path + ": " + error.what());
  }
}

}  // namespace ropekit::cli
