// Launch policies: which kernel configuration and block shape for which problem size, per GPU
// architecture, as data. Sizes are in waves: a launch's one-head-per-thread threads over the
// device's resident-thread slots (SMs x the kernel's residency from the occupancy API).
// launch.cpp reads these tables; the measurements behind each row are in docs/BENCHMARKS.md.
#pragma once
#include <cstdint>
#include <iterator>
#include <limits>

#include "cuda/configs.hpp"

namespace ropekit::cuda {

// Heads per thread and block size for launches below `below_waves`.
struct WaveStep {
  double below_waves;
  int heads_per_thread;
  int heads_in_flight;
  int block_threads;
};

inline constexpr double kAnyWaves = std::numeric_limits<double>::infinity();

struct PlainPolicy {
  int block_threads;               // one head per thread
  double token_major_past_waves;   // a token's blocks numbered together past this size
  // Narrow rotary parts (fewer chunks a head than narrow_below_chunks) move few bytes per thread:
  // past narrow_past_waves, several heads per thread.
  int narrow_below_chunks;
  double narrow_past_waves;
  WaveStep narrow;
};

// Multimodal RoPE, contiguous sections: 4 pairs by default, several heads per thread sharing one
// cos/sin load as launches grow; 8 pairs (plain RoPE's shape) where the cache rows a call reads
// stay in L2 between calls.
struct ContiguousPolicy {
  WaveStep steps[4];  // by waves of 4-pair one-head threads
  double eight_pairs_from_waves;
  int eight_pairs_min_chunks;       // chunks of 8 pairs a head
  int64_t eight_pairs_max_row_bytes;  // tokens x cache row bytes
  int eight_pairs_block_threads;
};

// Multimodal RoPE, interleaved sections: below `below_waves`, which cos/sin source
// (interleaved_shuffle or interleaved_columns), pairs and heads per thread, and block size.
struct InterleavedStep {
  double below_waves;
  Streams source;
  int pairs;
  int heads_per_thread;
  int heads_in_flight;
  int block_threads;
};

// By waves of 4-pair one-head threads: the first table where the step's shuffle fits the problem,
// the second where it does not.
struct InterleavedPolicy {
  int64_t shuffle_streaming_min_tokens;  // evict-first q/k for the shuffle from this many tokens
  InterleavedStep steps[5];
  InterleavedStep without_shuffle[3];
};

struct ArchPolicy {
  int arch;  // the lowest compute capability (major * 10 + minor) the row is for
  // Evict-first q/k accesses (whole 32-byte sectors only) from this many tokens on: decode-sized
  // launches gain nothing from them.
  int64_t streaming_min_tokens;
  PlainPolicy plain;
  ContiguousPolicy contiguous;
  InterleavedPolicy interleaved;
};

// H200 (sm_90), launch-shape sweeps and side-by-side candidate runs (docs/BENCHMARKS.md).
inline constexpr ArchPolicy kHopper = {
    90,
    512,
    // Plain: blocks of 128 one-head threads; narrow rotary (neox-20b) two heads in blocks of 256.
    {128, 1.0, 4, 2.0, {kAnyWaves, 2, 2, 256}},
    // Contiguous sections (Qwen2-VL-7B): 1, 2, 4 then 8 heads per thread; 8 pairs within 4 MiB.
    {{{0.75, 1, 1, 64}, {1.5, 2, 2, 128}, {3.0, 4, 4, 64}, {kAnyWaves, 8, 4, 64}},
     0.75, 4, int64_t(4) << 20, 64},
    // Interleaved sections (Qwen3-VL-8B): the 4-pair shuffle for the smallest launches, one-head
    // columns to one wave, the 8-pair shuffle to 28 waves (blocks of 256 from 4), then columns
    // with 8 heads per thread sharing each load (8 in flight below 7 waves). The shuffle takes
    // evict-first q/k from more tokens than the other kernels (docs/EXPERIMENTS.md).
    {768,
     {{0.3, Streams::interleaved_shuffle, 4, 1, 1, 64},
      {1.0, Streams::interleaved_columns, 4, 1, 1, 128},
      {4.0, Streams::interleaved_shuffle, 8, 1, 1, 128},
      {28.0, Streams::interleaved_shuffle, 8, 1, 1, 256},
      {kAnyWaves, Streams::interleaved_columns, 4, 8, 4, 64}},
     {{1.0, Streams::interleaved_columns, 4, 1, 1, 128},
      {7.0, Streams::interleaved_columns, 4, 8, 8, 64},
      {kAnyWaves, Streams::interleaved_columns, 4, 8, 4, 64}}},
};

// Ampere (sm_80, sm_86, sm_89): not measured; Hopper's values.
inline constexpr ArchPolicy kAmpere = {80, kHopper.streaming_min_tokens, kHopper.plain,
                                       kHopper.contiguous, kHopper.interleaved};

// Highest arch first: a device takes the first row at or below its compute capability.
inline constexpr ArchPolicy kArchPolicies[] = {kHopper, kAmpere};

constexpr const ArchPolicy& policy_for(int arch) {
  for (const ArchPolicy& policy : kArchPolicies)
    if (arch >= policy.arch) return policy;
  return kArchPolicies[std::size(kArchPolicies) - 1];
}

}  // namespace ropekit::cuda
