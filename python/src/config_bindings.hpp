#pragma once
#include <nanobind/nanobind.h>

namespace ropekit::python {

// RopeConfig, parse_hf_config, load_hf_config, rope_frequencies, build_config_cos_sin_cache.
void bind_config(nanobind::module_& m);

}  // namespace ropekit::python
