// HF config.json -> RopeConfig. The rope section (rope_scaling / rope_parameters) is read strictly:
// every key must belong to the rope type and have the right JSON type, or ropekit::Error names it.
// The rest of config.json is model description we do not own, so unknown top-level keys are ignored.
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "ropekit/config.hpp"
#include "ropekit/error.hpp"

namespace ropekit {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw Error(field + ": " + message);
}

std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(value.type_name()) + " " + text;
}

// A JSON value of one field, with the field's dotted name for errors.
struct Field {
  std::string name;
  const json* value = nullptr;  // null when absent or JSON null (HF writes null for "not set")
  explicit operator bool() const { return value != nullptr; }
};

Field field_of(const json& object, const std::string& key, const std::string& prefix) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {prefix + key, nullptr};
  return {prefix + key, &*it};
}

double number_of(const Field& f) {
  if (!f.value->is_number())
    fail(f.name, "expected a number, got " + describe(*f.value));
  const double value = f.value->get<double>();
  if (!std::isfinite(value)) fail(f.name, "expected a finite number, got " + describe(*f.value));
  return value;
}

double positive_number_of(const Field& f) {
  const double value = number_of(f);
  if (!(value > 0)) fail(f.name, "expected a positive number, got " + describe(*f.value));
  return value;
}

// JSON integers; 4096.0 is accepted (some exporters write floats), 4096.5 is not.
int64_t positive_integer_of(const Field& f) {
  const double value = number_of(f);
  if (value != std::floor(value) || value < 1 || value > 9.0e15)
    fail(f.name, "expected a positive integer, got " + describe(*f.value));
  return static_cast<int64_t>(value);
}

bool boolean_of(const Field& f) {
  if (!f.value->is_boolean()) fail(f.name, "expected true or false, got " + describe(*f.value));
  return f.value->get<bool>();
}

std::vector<double> number_list_of(const Field& f) {
  if (!f.value->is_array()) fail(f.name, "expected a list of numbers, got " + describe(*f.value));
  std::vector<double> values;
  for (size_t i = 0; i < f.value->size(); ++i)
    values.push_back(positive_number_of({f.name + "[" + std::to_string(i) + "]", &(*f.value)[i]}));
  return values;
}

std::optional<double> optional_number(const json& object, const std::string& key,
                                      const std::string& prefix) {
  const Field f = field_of(object, key, prefix);
  if (!f) return std::nullopt;
  return number_of(f);
}

RopeType parse_rope_type(const Field& f) {
  if (!f.value->is_string()) fail(f.name, "expected a string, got " + describe(*f.value));
  const std::string name = f.value->get<std::string>();
  // "mrope" (Qwen2-VL) is plain RoPE plus mrope_section; "su" is LongRoPE's first name (Phi-3).
  if (name == "default" || name == "mrope") return RopeType::default_rope;
  if (name == "linear") return RopeType::linear;
  if (name == "dynamic") return RopeType::dynamic;
  if (name == "yarn") return RopeType::yarn;
  if (name == "llama3") return RopeType::llama3;
  if (name == "longrope" || name == "su") return RopeType::longrope;
  fail(f.name, "expected default, linear, dynamic, yarn, llama3, longrope (or mrope, su), got \"" +
                   name + "\"");
}

// Keys a rope section may hold for each type (transformers' required + optional keys), plus the
// keys every section may carry.
std::set<std::string> allowed_keys(RopeType type) {
  std::set<std::string> keys = {"rope_type",       "type", "rope_theta", "partial_rotary_factor",
                                "mrope_section", "mrope_interleaved"};
  auto add = [&](std::initializer_list<const char*> more) { keys.insert(more.begin(), more.end()); };
  switch (type) {
    case RopeType::default_rope: break;
    case RopeType::linear:
    case RopeType::dynamic: add({"factor"}); break;
    case RopeType::yarn:
      add({"factor", "original_max_position_embeddings", "attention_factor", "beta_fast",
           "beta_slow", "mscale", "mscale_all_dim", "truncate"});
      break;
    case RopeType::llama3:
      add({"factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"});
      break;
    case RopeType::longrope:
      add({"factor", "original_max_position_embeddings", "attention_factor", "short_factor",
           "long_factor"});
      break;
  }
  return keys;
}

std::string join(const std::set<std::string>& keys) {
  std::string text;
  for (const std::string& key : keys) text += (text.empty() ? "" : ", ") + key;
  return text;
}

// Transformers v5 may nest rope_parameters per layer type (Gemma-3: sliding_attention and
// full_attention); the cache a caller builds from one config is the full-attention one.
const json& select_rope_section(const json& section, const std::string& name) {
  if (section.contains("full_attention") && section["full_attention"].is_object())
    return section["full_attention"];
  for (auto it = section.begin(); it != section.end(); ++it)
    if (it->is_object())
      fail(name + "." + it.key(),
           "per-layer-type rope sections are supported only with a \"full_attention\" entry");
  return section;
}

void parse_rope_section(const json& section, const std::string& prefix, RopeConfig& config) {
  const Field rope_type = field_of(section, "rope_type", prefix);
  const Field old_type = field_of(section, "type", prefix);
  config.type = RopeType::default_rope;
  if (old_type) config.type = parse_rope_type(old_type);
  if (rope_type) {
    config.type = parse_rope_type(rope_type);
    // Configs re-saved by transformers keep the old "type" next to the new "rope_type"
    // (Qwen2-VL: "mrope" beside "default"): they must name the same variant.
    if (old_type && parse_rope_type(old_type) != config.type)
      fail(rope_type.name, "disagrees with " + old_type.name + " (" + describe(*rope_type.value) +
                               " vs " + describe(*old_type.value) + ")");
  }

  const std::set<std::string> allowed = allowed_keys(config.type);
  for (auto it = section.begin(); it != section.end(); ++it)
    if (!allowed.count(it.key()))
      fail(prefix + it.key(), "unknown field for rope_type \"" + to_string(config.type) +
                                  "\" (expected one of: " + join(allowed) + ")");

  if (const Field f = field_of(section, "rope_theta", prefix)) config.rope_theta = positive_number_of(f);
  if (const Field f = field_of(section, "factor", prefix)) config.factor = positive_number_of(f);
  if (const Field f = field_of(section, "original_max_position_embeddings", prefix))
    config.original_max_position_embeddings = positive_integer_of(f);
  if (const Field f = field_of(section, "attention_factor", prefix))
    config.attention_factor = positive_number_of(f);
  if (const Field f = field_of(section, "beta_fast", prefix)) config.beta_fast = number_of(f);
  if (const Field f = field_of(section, "beta_slow", prefix)) config.beta_slow = number_of(f);
  config.mscale = optional_number(section, "mscale", prefix);
  config.mscale_all_dim = optional_number(section, "mscale_all_dim", prefix);
  if (const Field f = field_of(section, "truncate", prefix)) config.truncate = boolean_of(f);
  if (const Field f = field_of(section, "low_freq_factor", prefix))
    config.low_freq_factor = positive_number_of(f);
  if (const Field f = field_of(section, "high_freq_factor", prefix))
    config.high_freq_factor = positive_number_of(f);
  if (const Field f = field_of(section, "short_factor", prefix)) config.short_factor = number_list_of(f);
  if (const Field f = field_of(section, "long_factor", prefix)) config.long_factor = number_list_of(f);
  if (const Field f = field_of(section, "mrope_section", prefix)) {
    if (!f.value->is_array() || f.value->size() != 3)
      fail(f.name, "expected a list of 3 integers [temporal, height, width], got " +
                       describe(*f.value));
    std::array<int64_t, 3> sizes{};
    for (size_t i = 0; i < 3; ++i) {
      const Field element{f.name + "[" + std::to_string(i) + "]", &(*f.value)[i]};
      const double value = number_of(element);
      if (value != std::floor(value) || value < 0)
        fail(element.name, "expected a non-negative integer, got " + describe(*element.value));
      sizes[i] = static_cast<int64_t>(value);
    }
    config.mrope_section = sizes;
  }
  if (const Field f = field_of(section, "mrope_interleaved", prefix))
    config.mrope_interleaved = boolean_of(f);
}

// Pairing is a property of the model code, not of config.json. These families rotate GPT-J pairs
// (x[2i], x[2i+1]); everything else in transformers uses NeoX's rotate_half.
bool model_uses_neox_pairing(const json& config, const std::string& model_type) {
  static const std::set<std::string> gptj_families = {"gptj", "codegen", "glm", "glm4", "chatglm"};
  if (gptj_families.count(model_type)) return false;
  if (model_type == "deepseek_v2" || model_type == "deepseek_v3") {
    // transformers' rope_interleave (default true) de-interleaves q/k: GPT-J pairs.
    const Field f = field_of(config, "rope_interleave", "");
    return f ? !boolean_of(f) : false;
  }
  return true;
}

int64_t head_size_of(const json& config) {
  // DeepSeek (MLA): only the qk_rope_head_dim part of each head rotates; transformers sets
  // head_dim = qk_rope_head_dim for RoPE.
  if (const Field f = field_of(config, "qk_rope_head_dim", "")) return positive_integer_of(f);
  if (const Field f = field_of(config, "head_dim", "")) return positive_integer_of(f);
  Field hidden = field_of(config, "hidden_size", "");
  if (!hidden) hidden = field_of(config, "n_embd", "");
  Field heads = field_of(config, "num_attention_heads", "");
  if (!heads) heads = field_of(config, "n_head", "");
  if (!hidden || !heads)
    fail("head_dim", "expected head_dim, or hidden_size (n_embd) and num_attention_heads (n_head)");
  const int64_t hidden_size = positive_integer_of(hidden);
  const int64_t num_heads = positive_integer_of(heads);
  if (hidden_size % num_heads != 0)
    fail(hidden.name, "expected a multiple of " + heads.name + " = " + std::to_string(num_heads) +
                          ", got " + std::to_string(hidden_size));
  return hidden_size / num_heads;
}

int64_t rotary_dim_of(const json& config, const json* section, const std::string& prefix,
                      int64_t head_size) {
  Field fraction;
  if (section) fraction = field_of(*section, "partial_rotary_factor", prefix);
  if (!fraction) fraction = field_of(config, "partial_rotary_factor", "");
  if (!fraction) fraction = field_of(config, "rotary_pct", "");  // GPT-NeoX
  if (!fraction) {
    if (const Field absolute = field_of(config, "rotary_dim", "")) {  // GPT-J, CodeGen
      const int64_t rotary_dim = positive_integer_of(absolute);
      if (rotary_dim > head_size || rotary_dim % 2 != 0)
        fail(absolute.name, "expected an even value <= head size " + std::to_string(head_size) +
                                ", got " + std::to_string(rotary_dim));
      return rotary_dim;
    }
    return head_size;
  }
  const double value = number_of(fraction);
  if (!(value > 0 && value <= 1)) fail(fraction.name, "expected a value in (0, 1], got " + describe(*fraction.value));
  // transformers: int(head_dim * partial_rotary_factor)
  const int64_t rotary_dim = static_cast<int64_t>(static_cast<double>(head_size) * value);
  if (rotary_dim < 2 || rotary_dim % 2 != 0)
    fail(fraction.name, "head size " + std::to_string(head_size) + " * " + describe(*fraction.value) +
                            " gives rotary_dim " + std::to_string(rotary_dim) + ", expected an even value >= 2");
  return rotary_dim;
}

RopeConfig parse_model_config(const json& config) {
  RopeConfig result;
  if (const Field f = field_of(config, "model_type", "")) {
    if (!f.value->is_string()) fail(f.name, "expected a string, got " + describe(*f.value));
    result.model_type = f.value->get<std::string>();
  }

  const Field rope_scaling = field_of(config, "rope_scaling", "");
  const Field rope_parameters = field_of(config, "rope_parameters", "");
  if (rope_scaling && rope_parameters)
    fail("rope_parameters", "given together with rope_scaling: expected one rope section");
  const Field section_field = rope_parameters ? rope_parameters : rope_scaling;
  const json* section = nullptr;
  if (section_field) {
    if (!section_field.value->is_object())
      fail(section_field.name, "expected an object, got " + describe(*section_field.value));
    section = &select_rope_section(*section_field.value, section_field.name);
  }
  const std::string prefix = section_field ? section_field.name + "." : "";

  // Top-level values first; the rope section overrides them (transformers' setdefault order).
  if (const Field f = field_of(config, "rope_theta", "")) result.rope_theta = positive_number_of(f);
  else if (const Field g = field_of(config, "rotary_emb_base", "")) result.rope_theta = positive_number_of(g);
  if (const Field f = field_of(config, "max_position_embeddings", ""))
    result.max_position_embeddings = positive_integer_of(f);
  else if (const Field g = field_of(config, "n_positions", ""))
    result.max_position_embeddings = positive_integer_of(g);
  if (section) parse_rope_section(*section, prefix, result);
  // Phi-3 keeps the pretraining length at the top level, and transformers gives it priority over
  // the rope section's value.
  if (const Field f = field_of(config, "original_max_position_embeddings", ""))
    result.original_max_position_embeddings = positive_integer_of(f);

  result.head_size = head_size_of(config);
  result.rotary_dim = rotary_dim_of(config, section, prefix, result.head_size);
  result.is_neox = model_uses_neox_pairing(config, result.model_type);
  validate(result);
  return result;
}

}  // namespace

RopeConfig parse_hf_config(const std::string& json_text) {
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw Error(std::string("config_json: not valid JSON: ") + error.what());
  }
  if (!document.is_object()) fail("config_json", "expected a JSON object, got " + describe(document));
  // Multimodal models (Qwen2.5-VL in v5, Qwen3-VL, Gemma-3) keep the language model's fields in
  // text_config; the rotary embedding belongs to it.
  const Field text_config = field_of(document, "text_config", "");
  if (text_config && text_config.value->is_object() && !document.contains("rope_scaling") &&
      !document.contains("rope_parameters") && !document.contains("num_attention_heads"))
    return parse_model_config(*text_config.value);
  return parse_model_config(document);
}

RopeConfig load_hf_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw Error("config path: cannot open '" + path + "'");
  // Read through the stream buffer, no formatted stream I/O (see shape_string in problem.cpp).
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  try {
    return parse_hf_config(text);
  } catch (const Error& error) {
    throw Error(path + ": " + error.what());
  }
}

}  // namespace ropekit
