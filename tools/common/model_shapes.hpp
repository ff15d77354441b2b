// The attention shapes of real models that the CLI, the tests and the benchmarks use: the one table.
// Heads, head_size and rotary_dim come from each model's config.json (ROPE_SPEC.md section 5).
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace ropekit::shapes {

struct ModelShape {
  std::string_view name;
  int64_t num_heads;
  int64_t num_kv_heads;
  int64_t head_size;
  int64_t rotary_dim;
  bool is_neox;
  // Multimodal RoPE (Qwen2-VL, Qwen3-VL): frequencies per stream (t, h, w); all 0 for plain RoPE.
  std::array<int64_t, 3> mrope_section = {0, 0, 0};
  bool mrope_interleaved = false;

  constexpr bool mrope() const { return mrope_section[0] + mrope_section[1] + mrope_section[2] > 0; }
};

inline constexpr ModelShape kModelShapes[] = {
    {"llama3-8b", 32, 8, 128, 128, true},
    {"glm4-9b", 32, 2, 128, 64, false},         // partial_rotary_factor 0.5, GPT-J pairs
    {"llama3-70b-tp8", 8, 1, 128, 128, true},   // 64 / 8 query heads on each of 8 GPUs
    {"deepseek-v3-rope-tp8", 16, 1, 64, 64, false},  // MLA rope part: 128 / 8 heads, one shared key
    {"neox-20b", 64, 64, 96, 24, true},         // rotary_pct 0.25
    {"qwen2-vl-7b", 28, 4, 128, 128, true, {16, 24, 24}, false},
    {"qwen3-vl-8b", 32, 8, 128, 128, true, {24, 20, 20}, true},
};

// What `ropekit bench` measures when no --shape is given: one shape per pairing and rotary
// fraction (full NeoX, half GPT-J, quarter NeoX, MLA's GPT-J rope part), not every row.
inline constexpr std::string_view kDefaultBenchShapes[] = {"llama3-8b", "glm4-9b", "neox-20b",
                                                           "deepseek-v3-rope-tp8"};

// nullptr for an unknown name.
constexpr const ModelShape* find_model_shape(std::string_view name) {
  for (const ModelShape& shape : kModelShapes)
    if (shape.name == name) return &shape;
  return nullptr;
}

}  // namespace ropekit::shapes
