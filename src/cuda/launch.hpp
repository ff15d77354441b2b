// Host-side launch choice: (problem, device) -> LaunchShape, a kernel configuration from the one
// list (configs.hpp) and the grid that covers the problem, by the device's policy table
// (policy.hpp). Plain C++: no CUDA headers, so it is tested without a GPU.
#pragma once
#include <string>

#include "core/problem.hpp"
#include "cuda/configs.hpp"
#include "cuda/params.hpp"

namespace ropekit::cuda {

// What the choice needs to know of a device.
struct DeviceInfo {
  int arch = 90;  // compute capability, major * 10 + minor
  int multiprocessors = 1;
  // Threads of kernel configuration `config` resident on one SM (the occupancy API on a GPU).
  int (*resident_threads)(int device, int config) = nullptr;
  int device = 0;
};

// The launch for `problem` on `device`.
LaunchShape choose_launch(const detail::Problem& problem, const DeviceInfo& device);

// The widest pair count per thread (8, 4, 2 or 1) whose accesses are legal for this problem: a
// thread's slice of x is made of accesses of at most 16 bytes, every pointer and stride is aligned
// to the access width, the chunk tiles the half rotary dimension, and its cos/sin slices are
// aligned to their own width. With contiguous multimodal sections a chunk also lies in one section.
int widest_pairs(const detail::Problem& problem);

// The configuration family of the problem's kernels with the given pairs, heads in flight and
// evict-first flag (not necessarily in kKernelConfigs).
KernelConfig config_for(const detail::Problem& problem, Streams streams, int pairs,
                        int heads_in_flight, bool streaming);

// The shape for configuration `config` (an index into kKernelConfigs, or -1), `heads_per_thread`
// and blocks of about `block_threads` threads (clamped to [32, kMaxBlockThreads]). token_major: a
// token's blocks numbered together where it has several (never for the shuffle).
LaunchShape make_shape(const detail::Problem& problem, int config, int heads_per_thread,
                       int block_threads, bool token_major);

// Why the kernels cannot run this problem with this shape, or "" when they can. Also the check
// that the shape's configuration fits the problem (dtypes, pairing, streams, alignment).
std::string launch_shape_error(const detail::Problem& problem, const LaunchShape& shape);

// The problem as the kernel sees it, with the work split of `shape`.
RotaryParams make_params(const detail::Problem& problem, const LaunchShape& shape);

}  // namespace ropekit::cuda
