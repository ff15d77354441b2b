#include "verify_validation.hpp"

#include <functional>

#include "element_access.hpp"
#include "problem_buffers.hpp"

namespace ropekit::cli {
namespace {

struct BadInput {
  std::string description;
  std::string argument;  // the name the error message must start with
  // An out-of-range position value: only host backends check values (device code cannot throw
  // before writing), and the positions buffer is rewritten on purpose.
  bool bad_position_value;
  std::function<void(RotaryArgs&, ProblemBuffers&, DeviceOps&)> spoil;
};

std::vector<BadInput> bad_inputs() {
  return {
      {"float32 positions", "positions", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.positions.dtype = DType::float32; }},
      {"head_size 0", "head_size", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.head_size = 0; }},
      {"odd rotary_dim", "cos_sin_cache", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.cos_sin_cache.shape[1] -= 1; }},
      {"query last dimension not contiguous", "query", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) {
         a.query.strides[a.query.ndim - 1] = 2;
       }},
      {"query tokens differ from positions", "query", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.query.shape[0] -= 1; }},
      {"3 kv heads for 4 query heads", "key", false,
       [](RotaryArgs& a, ProblemBuffers& p, DeviceOps&) {
         a.key->shape[a.key->ndim - 1] = 3 * p.spec().head_size;
       }},
      {"key dtype differs from query", "key", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.key->dtype = DType::float16; }},
      {"query_out without key_out", "key_out", false,
       [](RotaryArgs& a, ProblemBuffers&, DeviceOps&) { a.key_out.reset(); }},
      {"position == max_position", "positions", true,
       [](RotaryArgs&, ProblemBuffers& p, DeviceOps& ops) {
         // Only the last token's position is out of range: a backend that checks while it
         // writes would already have rotated the others.
         const Buffer& positions = p.positions();
         std::vector<unsigned char> bad = positions.initial;
         store_element(positions.dtype, bad.data(), positions.elements() - 1,
                       double(p.spec().max_position));
         ops.copy_to_device(positions.device_data, bad.data(), bad.size());
       }},
  };
}

ProblemSpec valid_spec() {
  ProblemSpec spec;
  spec.tokens = 9;
  spec.num_heads = 4;
  spec.num_kv_heads = 4;
  spec.head_size = 64;
  spec.rotary_dim = 32;
  spec.x_dtype = DType::bfloat16;
  spec.cache_dtype = DType::float32;
  spec.max_position = 128;
  spec.out_of_place = true;
  return spec;
}

std::string check_one(Backend backend, DeviceOps& ops, const BadInput& bad, uint64_t seed) {
  ProblemBuffers problem(ops, valid_spec(), seed);
  RotaryArgs args = problem.args(backend);
  bad.spoil(args, problem, ops);
  std::string failure;
  try {
    rotary_embedding(args);
    failure = "accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(bad.argument + ":", 0) != 0)
      failure = "error does not start with '" + bad.argument + ":': " + message;
  }
  // Nothing may be written on error.
  const auto now = problem.download();
  for (size_t i = 0; i < now.size(); ++i) {
    const Buffer& buffer = problem.buffers()[i];
    if (bad.bad_position_value && &buffer == &problem.positions()) continue;
    if (now[i] != buffer.initial)
      failure += (failure.empty() ? "" : "; ") + buffer.name + " was modified";
  }
  return failure;
}

}  // namespace

std::vector<ValidationResult> check_validation(Backend backend, DeviceOps& ops, uint64_t seed) {
  std::vector<ValidationResult> results;
  for (const BadInput& bad : bad_inputs()) {
    if (bad.bad_position_value && backend == Backend::cuda) continue;
    results.push_back({bad.description, check_one(backend, ops, bad, seed++)});
  }
  return results;
}

}  // namespace ropekit::cli
