// The memory traffic of one rotary call, the numerator of the bandwidth `ropekit bench` reports.
#pragma once
#include <cstdint>

#include "problem_buffers.hpp"

namespace ropekit::cli {

// DRAM moves whole 32-byte sectors, so traffic is counted in sectors: for every token and head,
// the sectors the rotary part of q and k occupies, read once and written once (the pass-through
// tail is not touched in place); for every token, the sectors of its cos/sin cache row, read;
// and the positions. Buffers start 256-byte aligned (DeviceOps allocations).
int64_t bytes_moved(const ProblemBuffers& problem);

}  // namespace ropekit::cli
