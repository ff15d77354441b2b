#include "hf_config_shape.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "ropekit/config.hpp"
#include "ropekit/error.hpp"

namespace ropekit::cli {

BenchShape table_shape(std::string_view name) {
  if (const shapes::ModelShape* shape = shapes::find_model_shape(name))
    return {std::string(shape->name), *shape};
  std::string known;
  for (const shapes::ModelShape& shape : shapes::kModelShapes)
    known += (known.empty() ? "" : ", ") + std::string(shape.name);
  throw Error("--shape: expected one of " + known + " or all, got '" + std::string(name) + "'");
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

BenchShape shape_from_hf_config(const std::string& path) {
  try {
    // Read once: the rope fields and the head counts come from the same text.
    std::ifstream file(path);
    if (!file) throw Error("cannot open the file");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    const RopeConfig rope = parse_hf_config(text);
    const auto [heads, kv_heads] = heads_of(nlohmann::json::parse(text));
    BenchShape shape;
    shape.name = std::filesystem::path(path).stem().string();
    shape.dims.num_heads = heads;
    shape.dims.num_kv_heads = kv_heads;
    shape.dims.head_size = rope.head_size;
    shape.dims.rotary_dim = rope.rotary_dim;
    shape.dims.is_neox = rope.is_neox;
    return shape;
  } catch (const nlohmann::json::exception& error) {
    throw Error("--config " + path + ": " + error.what());
  } catch (const Error& error) {
    throw Error("--config " + path + ": " + error.what());
  }
}

}  // namespace ropekit::cli
