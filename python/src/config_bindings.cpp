// RopeConfig (a model's rotary embedding from a Hugging Face config.json) and what derives from it.
#include "config_bindings.hpp"

#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <utility>

#include "ndarray_view.hpp"
#include "ropekit/config.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace ropekit::python {

void bind_config(nb::module_& m) {
  // Read-only: a config comes from parse_hf_config / load_hf_config, which validate it.
  nb::class_<RopeConfig>(m, "RopeConfig")
      .def_prop_ro("type", [](const RopeConfig& c) { return to_string(c.type); })
      .def_ro("rope_theta", &RopeConfig::rope_theta)
      .def_ro("head_size", &RopeConfig::head_size)
      .def_ro("rotary_dim", &RopeConfig::rotary_dim)
      .def_ro("is_neox", &RopeConfig::is_neox)
      .def_ro("model_type", &RopeConfig::model_type)
      .def_ro("max_position_embeddings", &RopeConfig::max_position_embeddings)
      .def_ro("original_max_position_embeddings", &RopeConfig::original_max_position_embeddings)
      .def_ro("factor", &RopeConfig::factor)
      .def_ro("attention_factor", &RopeConfig::attention_factor)
      .def_ro("mrope_section", &RopeConfig::mrope_section)
      .def_ro("mrope_interleaved", &RopeConfig::mrope_interleaved)
      .def("__repr__", [](const RopeConfig& c) {
        return "RopeConfig(type=" + to_string(c.type) + ", model_type='" + c.model_type +
               "', head_size=" + std::to_string(c.head_size) +
               ", rotary_dim=" + std::to_string(c.rotary_dim) +
               ", rope_theta=" + std::to_string(c.rope_theta) +
               ", is_neox=" + (c.is_neox ? "True" : "False") + ")";
      });

  m.def("parse_hf_config", &parse_hf_config, "json_text"_a,
        "RopeConfig from the text of an HF config.json (errors name the field).");
  m.def("load_hf_config", &load_hf_config, "path"_a, "RopeConfig from a config.json file.");
  m.def(
      "rope_frequencies",
      [](const RopeConfig& config, int64_t sequence_length) {
        RopeFrequencies f = rope_frequencies(config, sequence_length);
        return std::make_pair(std::move(f.inv_freq), f.attention_factor);
      },
      "config"_a, "sequence_length"_a = 0,
      "(inv_freq, attention_factor) in float64; sequence_length matters for dynamic and longrope.");
  m.def("dynamic_ntk_vllm_length", &dynamic_ntk_vllm_length, "config"_a,
        "The length at which vLLM builds its one dynamic-NTK cache (L0 * factor).");
  m.def(
      "build_config_cos_sin_cache",
      [](const RopeConfig& config, const AnyArray& out, int64_t sequence_length) {
        const TensorView view = view_of(out, "out");
        nb::gil_scoped_release release;
        build_cos_sin_cache(config, view, sequence_length);
      },
      "config"_a, "out"_a.noconvert(), "sequence_length"_a = 0,
      "Fills the CPU tensor out [max_position, rotary_dim] with the config's cos/sin cache.");
}

}  // namespace ropekit::python
