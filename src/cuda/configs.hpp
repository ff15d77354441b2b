// The one list of CUDA kernel configurations that exist. The kernels are instantiated from it
// (kernels.cuh), and the launch chooser (launch.cpp) only picks entries of it, so a shape that
// has no kernel cannot be chosen. Plain C++17: host code reads it without nvcc.
#pragma once
#include <array>
#include <cstdint>

namespace ropekit::cuda {

// Element type of q/k.
enum class XType : uint8_t { f32, f16, bf16 };
// Width of a cos/sin cache element. The two 16-bit types share kernels: the bytes moved are the
// same, and the conversion (f16 or bf16, RotaryParams::cache_bf16) is a per-element select.
enum class CacheWidth : uint8_t { b32, b16 };

// Which positions a kernel reads, and for multimodal RoPE how a chunk gets its cos/sin.
enum class Streams : uint8_t {
  one,                  // plain RoPE: one position per token
  contiguous_sections,  // multimodal, each chunk inside one section: one of three rows
  interleaved_columns,  // multimodal interleaved: one scalar load per frequency from its row
  interleaved_shuffle,  // multimodal interleaved: a warp's lanes share the columns by shuffles
};

struct KernelConfig {
  XType x = XType::f32;
  CacheWidth cache = CacheWidth::b32;
  bool neox = true;
  Streams streams = Streams::one;
  uint8_t pairs = 1;            // rotation pairs per thread (a chunk)
  uint8_t heads_in_flight = 1;  // heads a thread loads together; 1: one head per thread
  bool streaming = false;       // q/k accesses marked evict-first

  constexpr bool operator==(const KernelConfig& o) const {
    return x == o.x && cache == o.cache && neox == o.neox && streams == o.streams &&
           pairs == o.pairs && heads_in_flight == o.heads_in_flight && streaming == o.streaming;
  }
};

constexpr int x_bytes(XType x) { return x == XType::f32 ? 4 : 2; }

// The shuffle's form: rotary_dim 128 (64 frequencies), so a head's chunks (8 of 8 pairs, or 16 of
// 4) lie across a block's x and a warp holds whole heads of one token: 4 of 8-pair chunks or 2 of
// 4-pair ones. Each lane loads kShuffleColumnsPerLane of its chunk's frequencies for all of them.
constexpr int kShuffleRotaryDim = 128;
constexpr int kShuffleColumnsPerLane = 2;
constexpr int shuffle_heads_per_warp(int pairs) { return pairs / kShuffleColumnsPerLane; }

// Whether a configuration is compiled: what the launch policy (policy.hpp) can ask for, and the
// narrower fallbacks that keep every legal problem runnable.
constexpr bool exists(const KernelConfig& c) {
  const int p = c.pairs, h = c.heads_in_flight;
  if (p * x_bytes(c.x) > 16) return false;  // each x access at most 16 bytes
  // Evict-first pays only with whole 32-byte sectors per slice: 4 pairs or more.
  if (c.streaming && p < 4) return false;
  // 1 and 2 pairs are the narrow paths (misaligned views, odd rotary widths): one head per thread.
  if (p < 4 && h != 1) return false;
  switch (c.streams) {
    case Streams::one:  // one head per thread; two for narrow rotary parts, never streaming
      return h == 1 || (h == 2 && !c.streaming);
    case Streams::contiguous_sections:  // multimodal is NeoX only
      return c.neox && (p == 8 ? h == 1 : h == 1 ? !c.streaming : h == 2 || h == 4);
    case Streams::interleaved_columns:
      return c.neox && !c.streaming && p <= 4 && (h == 1 || h == 4 || h == 8);
    case Streams::interleaved_shuffle:  // small launches take 4 pairs, large ones 8
      return c.neox && (p == 4 || p == 8) && h == 1;
  }
  return false;
}

// Calls f(config) for every combination of the fields, in a fixed order.
template <class F>
constexpr void for_each_candidate(F f) {
  constexpr XType xs[] = {XType::f32, XType::f16, XType::bf16};
  constexpr CacheWidth caches[] = {CacheWidth::b32, CacheWidth::b16};
  constexpr Streams streams[] = {Streams::one, Streams::contiguous_sections,
                                 Streams::interleaved_columns, Streams::interleaved_shuffle};
  constexpr uint8_t counts[] = {1, 2, 4, 8};
  for (XType x : xs)
    for (CacheWidth cache : caches)
      for (int neox = 0; neox < 2; ++neox)
        for (Streams s : streams)
          for (uint8_t pairs : counts)
            for (uint8_t heads : counts)
              for (int streaming = 0; streaming < 2; ++streaming)
                f(KernelConfig{x, cache, neox == 1, s, pairs, heads, streaming == 1});
}

inline constexpr int kKernelConfigCount = [] {
  int n = 0;
  for_each_candidate([&n](const KernelConfig& c) { n += exists(c) ? 1 : 0; });
  return n;
}();

inline constexpr std::array<KernelConfig, kKernelConfigCount> kKernelConfigs = [] {
  std::array<KernelConfig, kKernelConfigCount> configs{};
  int n = 0;
  for_each_candidate([&](const KernelConfig& c) {
    if (exists(c)) configs[n++] = c;
  });
  return configs;
}();

// A dense key of every candidate (-1 for field values no candidate has), so that finding a
// configuration on the launch path is one table lookup.
constexpr int count_log2(int count) {
  return count == 1 ? 0 : count == 2 ? 1 : count == 4 ? 2 : count == 8 ? 3 : -1;
}
constexpr int config_key(const KernelConfig& c) {
  const int pairs = count_log2(c.pairs), heads = count_log2(c.heads_in_flight);
  if (pairs < 0 || heads < 0) return -1;
  const int head = (int(c.x) * 2 + int(c.cache)) * 2 + (c.neox ? 1 : 0);
  return (((head * 4 + int(c.streams)) * 4 + pairs) * 4 + heads) * 2 + (c.streaming ? 1 : 0);
}
inline constexpr int kConfigKeyCount = 3 * 2 * 2 * 4 * 4 * 4 * 2;

inline constexpr std::array<int16_t, kConfigKeyCount> kConfigByKey = [] {
  std::array<int16_t, kConfigKeyCount> index{};
  for (int16_t& i : index) i = -1;
  for (int i = 0; i < kKernelConfigCount; ++i) index[config_key(kKernelConfigs[i])] = int16_t(i);
  return index;
}();

// The index of `c` in kKernelConfigs, or -1.
constexpr int find_config(const KernelConfig& c) {
  const int key = config_key(c);
  return key < 0 || key >= kConfigKeyCount ? -1 : kConfigByKey[key];
}

}  // namespace ropekit::cuda
