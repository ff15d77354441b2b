// The cpu kernels' vectorizable storage conversions equal core/numeric.hpp bit for bit, on every
// instruction set this machine runs: every 16-bit input, and every float rounding boundary of the
// 16-bit formats (each representable value, the midpoints between neighbours, one float ulp either
// side) plus fresh random floats, infinities and NaNs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/numeric.hpp"
#include "cpu/cpu_kernels.hpp"

namespace ropekit::testing {
namespace {

using detail::bf16_t;
using detail::f16_t;
using detail::cpu::Isa;

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas{Isa::baseline};
  if (detail::cpu::isa_supported(Isa::avx2)) isas.push_back(Isa::avx2);
  return isas;
}

uint32_t bits_of(float value) { return detail::float_bits(value); }

// Floats around every rounding boundary of a 16-bit format whose values (as floats) are given.
std::vector<float> boundary_floats(const std::vector<float>& representable) {
  std::vector<float> out;
  for (size_t i = 0; i < representable.size(); ++i) {
    const float v = representable[i];
    if (!std::isfinite(v)) continue;
    out.push_back(v);
    out.push_back(std::nextafter(v, INFINITY));
    out.push_back(std::nextafter(v, -INFINITY));
    if (i + 1 < representable.size() && std::isfinite(representable[i + 1])) {
      const float mid = float((double(v) + double(representable[i + 1])) / 2);  // exact in float
      out.push_back(mid);
      out.push_back(std::nextafter(mid, INFINITY));
      out.push_back(std::nextafter(mid, -INFINITY));
    }
  }
  for (float special : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65519.996f, 65520.0f,
                        1e30f, -1e30f, 1e-45f, -1e-45f, 3.4028235e38f})
    out.push_back(special);
  // A signalling NaN and NaNs with payloads: numeric.hpp canonicalizes them.
  for (uint32_t nan_bits : {0x7f800001u, 0xffa00000u, 0x7fc12345u, 0x7fbfffffu}) {
    float nan;
    std::memcpy(&nan, &nan_bits, 4);
    out.push_back(nan);
  }
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < (1 << 20); ++i) {
    const uint32_t random_bits = uint32_t(rng());
    float f;
    std::memcpy(&f, &random_bits, 4);
    out.push_back(f);
  }
  return out;
}

std::vector<float> all_f16_values_ascending() {
  std::vector<float> values;
  for (uint32_t h = 0xfbffu; h > 0x8000u; --h) values.push_back(detail::f16_to_float(f16_t{uint16_t(h)}));
  for (uint32_t h = 0; h <= 0x7bffu; ++h) values.push_back(detail::f16_to_float(f16_t{uint16_t(h)}));
  return values;
}

std::vector<float> all_bf16_values_ascending() {
  std::vector<float> values;
  for (uint32_t b = 0xff7fu; b > 0x8000u; --b) values.push_back(detail::bf16_to_float(bf16_t{uint16_t(b)}));
  for (uint32_t b = 0; b <= 0x7f7fu; ++b) values.push_back(detail::bf16_to_float(bf16_t{uint16_t(b)}));
  return values;
}

TEST(CpuConversions, EveryF16AndBf16ToFloat) {
  std::vector<f16_t> halves(65536);
  std::vector<bf16_t> brains(65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    halves[i] = f16_t{uint16_t(i)};
    brains[i] = bf16_t{uint16_t(i)};
  }
  for (Isa isa : supported_isas()) {
    const auto& kernels = detail::cpu::kernels_for(isa);
    std::vector<float> out(65536, NAN);
    kernels.f16_to_floats(halves.data(), out.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i)
      ASSERT_EQ(bits_of(out[i]), bits_of(detail::f16_to_float(halves[i])))
          << to_string(isa) << " f16 bits 0x" << std::hex << i;
    kernels.bf16_to_floats(brains.data(), out.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i)
      ASSERT_EQ(bits_of(out[i]), bits_of(detail::bf16_to_float(brains[i])))
          << to_string(isa) << " bf16 bits 0x" << std::hex << i;
  }
}

TEST(CpuConversions, FloatToF16AtEveryRoundingBoundary) {
  const std::vector<float> inputs = boundary_floats(all_f16_values_ascending());
  for (Isa isa : supported_isas()) {
    std::vector<f16_t> out(inputs.size(), f16_t{0x5555});
    detail::cpu::kernels_for(isa).floats_to_f16(inputs.data(), out.data(), int64_t(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i)
      ASSERT_EQ(out[i].bits, detail::float_to_f16(inputs[i]).bits)
          << to_string(isa) << " input " << inputs[i] << " (bits 0x" << std::hex
          << bits_of(inputs[i]) << ")";
  }
}

TEST(CpuConversions, FloatToBf16AtEveryRoundingBoundary) {
  const std::vector<float> inputs = boundary_floats(all_bf16_values_ascending());
  for (Isa isa : supported_isas()) {
    std::vector<bf16_t> out(inputs.size(), bf16_t{0x5555});
    detail::cpu::kernels_for(isa).floats_to_bf16(inputs.data(), out.data(), int64_t(inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i)
      ASSERT_EQ(out[i].bits, detail::float_to_bf16(inputs[i]).bits)
          << to_string(isa) << " input " << inputs[i] << " (bits 0x" << std::hex
          << bits_of(inputs[i]) << ")";
  }
}

TEST(CpuConversions, ThisMachineRunsTheBestIsaItSupports) {
  // The dispatcher must pick AVX2 where the CPU has it; otherwise the fast path is never tested.
  const bool has_avx2 = detail::cpu::isa_supported(Isa::avx2);
  if (!has_avx2) GTEST_SKIP() << "this CPU (or build) has no AVX2 + FMA + F16C: baseline only";
  EXPECT_EQ(detail::cpu::kernels_for(Isa::avx2).isa, Isa::avx2);
  EXPECT_EQ(detail::cpu::kernels_for(Isa::baseline).isa, Isa::baseline);
}

}  // namespace
}  // namespace ropekit::testing
