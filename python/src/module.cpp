// ropekit._ropekit: the C++ API over any DLPack tensor. Arguments are converted and nothing else:
// validation and its error messages belong to the library (ropekit::Error -> ropekit.Error, a
// ValueError subclass, with the same message).
#include <nanobind/nanobind.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config_bindings.hpp"
#include "ndarray_view.hpp"
#include "ropekit/ropekit.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace ropekit::python {
namespace {

RotaryArgs make_args(const ReadOnlyArray& positions, const AnyArray& query,
                     const std::optional<AnyArray>& key, int64_t head_size,
                     const ReadOnlyArray& cos_sin_cache, bool is_neox,
                     const std::optional<AnyArray>& query_out,
                     const std::optional<AnyArray>& key_out, bool inverse,
                     const std::optional<std::array<int64_t, 3>>& mrope_section,
                     bool mrope_interleaved, const std::string& backend, uintptr_t stream,
                     int64_t rope_dim_offset = 0) {
  RotaryArgs args;
  args.positions = view_of(positions, "positions");
  args.query = view_of(query, "query");
  if (key) args.key = view_of(*key, "key");
  args.head_size = head_size;
  args.cos_sin_cache = view_of(cos_sin_cache, "cos_sin_cache");
  args.is_neox = is_neox;
  if (query_out) args.query_out = view_of(*query_out, "query_out");
  if (key_out) args.key_out = view_of(*key_out, "key_out");
  args.inverse = inverse;
  args.mrope_section = mrope_section;
  args.mrope_interleaved = mrope_interleaved;
  args.backend = parse_backend(backend, "backend");
  args.stream = reinterpret_cast<void*>(stream);
  args.rope_dim_offset = rope_dim_offset;
  return args;
}

void rotary_embedding_binding(const ReadOnlyArray& positions, const AnyArray& query,
                              const std::optional<AnyArray>& key, int64_t head_size,
                              const ReadOnlyArray& cos_sin_cache, bool is_neox,
                              const std::optional<AnyArray>& query_out,
                              const std::optional<AnyArray>& key_out, bool inverse,
                              const std::optional<std::array<int64_t, 3>>& mrope_section,
                              bool mrope_interleaved, const std::string& backend,
                              uintptr_t stream, int64_t rope_dim_offset) {
  const RotaryArgs args =
      make_args(positions, query, key, head_size, cos_sin_cache, is_neox, query_out, key_out,
                inverse, mrope_section, mrope_interleaved, backend, stream, rope_dim_offset);
  // The CPU backend may run for a while on large inputs: let other Python threads go meanwhile.
  nb::gil_scoped_release release;
  rotary_embedding(args);
}

std::string resolve_backend_binding(const ReadOnlyArray& positions, const AnyArray& query,
                                    const std::optional<AnyArray>& key, int64_t head_size,
                                    const ReadOnlyArray& cos_sin_cache, bool is_neox,
                                    const std::optional<AnyArray>& query_out,
                                    const std::optional<AnyArray>& key_out, bool inverse,
                                    const std::optional<std::array<int64_t, 3>>& mrope_section,
                                    bool mrope_interleaved, const std::string& backend) {
  return to_string(resolve_backend(make_args(positions, query, key, head_size, cos_sin_cache,
                                             is_neox, query_out, key_out, inverse, mrope_section,
                                             mrope_interleaved, backend, 0)));
}

void build_cos_sin_cache_binding(const std::vector<double>& inv_freq, double attention_factor,
                                 const AnyArray& out) {
  const TensorView view = view_of(out, "out");
  nb::gil_scoped_release release;
  build_cos_sin_cache(inv_freq, attention_factor, view);
}

std::vector<std::string> available_backend_names() {
  std::vector<std::string> names;
  for (Backend backend : available_backends()) names.push_back(to_string(backend));
  return names;
}

}  // namespace
}  // namespace ropekit::python

NB_MODULE(_ropekit, m) {
  using namespace ropekit::python;
  m.doc() = "ropekit's C++ API over DLPack tensors (use the `ropekit` package, not this module)";
  nb::exception<ropekit::Error>(m, "Error", PyExc_ValueError);
  m.attr("__version__") = ropekit::kVersion;

  // noconvert: an array of the wrong kind must be rejected, never silently copied (an in-place
  // rotation of a copy would be lost).
  m.def("rotary_embedding", &rotary_embedding_binding, "positions"_a.noconvert(),
        "query"_a.noconvert(), "key"_a.noconvert().none(), "head_size"_a,
        "cos_sin_cache"_a.noconvert(), "is_neox"_a, "query_out"_a.noconvert().none(),
        "key_out"_a.noconvert().none(), "inverse"_a, "mrope_section"_a.none(),
        "mrope_interleaved"_a, "backend"_a, "stream"_a, "rope_dim_offset"_a = 0,
        "Rotates query/key (in place, or into query_out/key_out). stream: a cudaStream_t or 0.");
  m.def("resolve_backend", &resolve_backend_binding, "positions"_a.noconvert(),
        "query"_a.noconvert(), "key"_a.noconvert().none(), "head_size"_a,
        "cos_sin_cache"_a.noconvert(), "is_neox"_a, "query_out"_a.noconvert().none(),
        "key_out"_a.noconvert().none(), "inverse"_a, "mrope_section"_a.none(),
        "mrope_interleaved"_a, "backend"_a,
        "The backend rotary_embedding would run with these arguments (validates them).");
  m.def("build_cos_sin_cache", &build_cos_sin_cache_binding, "inv_freq"_a, "attention_factor"_a,
        "out"_a.noconvert(), "Fills the CPU tensor out [max_position, 2 * len(inv_freq)].");
  m.def("default_inv_freq", &ropekit::default_inv_freq, "rope_theta"_a, "rotary_dim"_a,
        "inv_freq[i] = 1 / rope_theta^(2i / rotary_dim), float64.");
  m.def("available_backends", &available_backend_names,
        "Backends this build has and this machine can run.");
  m.def(
      "backend_available",
      [](const std::string& name) {
        return ropekit::backend_available(ropekit::parse_backend(name, "name"));
      },
      "name"_a);
  bind_config(m);
}
