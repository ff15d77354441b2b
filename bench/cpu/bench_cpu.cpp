// ropekit_bench_cpu: the cpu backend against the reference backend on real model shapes (bf16 q/k
// unless named -fp16, float32 cache, T = 4096 tokens at random positions in [0, 8192), in place), with a plain memcpy of
// the same number of bytes as the yardstick. One core:
//
//   OMP_NUM_THREADS=1 taskset -c 0 build-cpu/bench/cpu/ropekit_bench_cpu
//
// The bytes behind the GB/s counter: per token, the rotary part of q and k read and written, one
// cos/sin row and one position. The memcpy rows copy half that many bytes, so that they too read
// and write that many, and their GB/s counts both directions the same way.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/model_shapes.hpp"
#include "ropekit/ropekit.hpp"

namespace {

using namespace ropekit;

// A shape of the one table (tools/common/model_shapes.hpp) with the dtype of q and k.
struct Shape {
  std::string name;
  int64_t heads, kv_heads, head_size, rotary_dim;
  bool is_neox;
  DType x_dtype;
};

Shape shape_of(const char* name, DType x_dtype = DType::bfloat16) {
  const shapes::ModelShape* s = shapes::find_model_shape(name);
  if (s == nullptr) throw Error(std::string("no shape ") + name + " in model_shapes.hpp");
  return {std::string(s->name) + (x_dtype == DType::float16 ? "-fp16" : ""),
          s->num_heads, s->num_kv_heads, s->head_size, s->rotary_dim, s->is_neox, x_dtype};
}

// GLM-4 for GPT-J pairs on a partial rotary part, NeoX-20B for a narrow one, float16 q/k for the
// other conversion path.
const Shape kShapes[] = {shape_of("llama3-8b"), shape_of("glm4-9b"), shape_of("neox-20b"),
                         shape_of("llama3-8b", DType::float16)};

// Round to nearest even, as the library rounds its results.
uint16_t to_bf16_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

uint16_t to_f16_bits(float value) {  // values here are normal halves in [-2, 2)
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return uint16_t(sign);  // below half's normal range: flushed, never used
  uint32_t mantissa = bits & 0x7fffff;
  uint32_t half = sign | (uint32_t(exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;
  return uint16_t(half);
}
constexpr int64_t kTokens = 4096;
constexpr int64_t kMaxPosition = 8192;

int64_t bytes_per_call(const Shape& s) {
  const int64_t rotated = (s.heads + s.kv_heads) * s.rotary_dim * int64_t(sizeof(uint16_t));
  const int64_t cache_row = s.rotary_dim * int64_t(sizeof(float));
  return kTokens * (2 * rotated + cache_row + int64_t(sizeof(int64_t)));
}

// One problem's host buffers: 16-bit query and key (bf16 or f16), a float32 cos/sin cache, int64 positions.
class Buffers {
 public:
  explicit Buffers(const Shape& shape) : shape_(shape) {
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<float> values(-2.0f, 2.0f);
    query_.resize(size_t(kTokens * shape.heads * shape.head_size));
    key_.resize(size_t(kTokens * shape.kv_heads * shape.head_size));
    const auto to_16_bits = [&](float v) {
      return shape.x_dtype == DType::float16 ? to_f16_bits(v) : to_bf16_bits(v);
    };
    for (auto& x : query_) x = to_16_bits(values(rng));
    for (auto& x : key_) x = to_16_bits(values(rng));
    positions_.resize(size_t(kTokens));
    std::uniform_int_distribution<int64_t> position(0, kMaxPosition - 1);
    for (auto& p : positions_) p = position(rng);
    // A genuine rotation (cos^2 + sin^2 = 1): repeated in-place calls keep the values bounded.
    cache_.resize(size_t(kMaxPosition * shape.rotary_dim));
    build_cos_sin_cache(default_inv_freq(10000.0, shape.rotary_dim), 1.0,
                        make_contiguous_view(cache_.data(), DType::float32,
                                             {kMaxPosition, shape.rotary_dim}));
  }

  RotaryArgs args(Backend backend) {
    RotaryArgs a;
    a.positions = make_contiguous_view(positions_.data(), DType::int64, {kTokens});
    a.query = make_contiguous_view(query_.data(), shape_.x_dtype,
                                   {kTokens, shape_.heads * shape_.head_size});
    a.key = make_contiguous_view(key_.data(), shape_.x_dtype,
                                 {kTokens, shape_.kv_heads * shape_.head_size});
    a.head_size = shape_.head_size;
    a.cos_sin_cache =
        make_contiguous_view(cache_.data(), DType::float32, {kMaxPosition, shape_.rotary_dim});
    a.is_neox = shape_.is_neox;
    a.backend = backend;
    return a;
  }

 private:
  Shape shape_;
  std::vector<uint16_t> query_, key_;  // bf16 or f16 bits
  std::vector<float> cache_;
  std::vector<int64_t> positions_;
};

void set_counters(benchmark::State& state, int64_t bytes) {
  // Printed as "GB=<value>/s": decimal gigabytes per second of wall time.
  state.counters["GB"] = benchmark::Counter(double(bytes) * 1e-9 * double(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

void bench_backend(benchmark::State& state, Shape shape, Backend backend) {
  Buffers buffers(shape);
  const RotaryArgs args = buffers.args(backend);
  rotary_embedding(args);  // warm up: page faults, thread pool
  for (auto _ : state) {
    rotary_embedding(args);
    benchmark::ClobberMemory();
  }
  set_counters(state, bytes_per_call(shape));
}

void bench_memcpy(benchmark::State& state, Shape shape) {
  const size_t half = size_t(bytes_per_call(shape) / 2);
  std::vector<unsigned char> source(half, 1), destination(half, 0);
  for (auto _ : state) {
    std::memcpy(destination.data(), source.data(), half);
    benchmark::DoNotOptimize(destination.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, bytes_per_call(shape));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* threads = std::getenv("OMP_NUM_THREADS");
  benchmark::AddCustomContext("OMP_NUM_THREADS", threads ? threads : "(unset: all cores)");
  const char* isa = std::getenv("ROPEKIT_CPU_ISA");
  benchmark::AddCustomContext("ROPEKIT_CPU_ISA", isa ? isa : "(unset: the best this CPU runs)");
  for (const Shape& shape : kShapes) {
    const std::string& name = shape.name;
    benchmark::RegisterBenchmark((name + "/reference").c_str(), bench_backend, shape,
                                 Backend::reference)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((name + "/cpu").c_str(), bench_backend, shape, Backend::cpu)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((name + "/memcpy").c_str(), bench_memcpy, shape)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
