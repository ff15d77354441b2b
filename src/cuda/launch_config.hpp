// Host-side choice of the kernel variant and launch shape from the problem and the device.
#pragma once
#include <string>

#include "core/problem.hpp"
#include "cuda/rotary_params.hpp"

namespace ropekit::cuda {

// The widest pair count per thread (8, 4, 2 or 1) whose accesses are legal for this problem: a
// thread's slice of x (NeoX: two of `pairs` elements; GPT-J: one of 2 * pairs, which may be two
// 16-byte accesses) is made of accesses of at most 16 bytes, every pointer and stride is aligned
// to the access width, and the chunk tiles the half rotary dimension. Its cos/sin slices must be aligned
// to their own width (capped at 16 bytes) as well. With contiguous multimodal sections, the
// chunk divides both section boundaries (a chunk lies in one section); choose_launch_shape may
// narrow it to 4 pairs (a narrower chunk of a legal one is legal).
int choose_pairs_per_thread(const detail::Problem& problem);

// Whether q/k accesses are marked evict-first (kernel::load_x): only for launches of at least
// kStreamingMinTokens tokens, when every slice of a head that a thread touches is whole, aligned
// 32-byte sectors, with at least 2 pairs per thread, and for interleaved multimodal sections only
// with the shuffle source (slower or no faster with the others on the H200).
constexpr int64_t kStreamingMinTokens = 512;
bool streaming_accesses(const detail::Problem& problem, int pairs_per_thread,
                        InterleavedSource source = InterleavedSource::gather);

// Whether the interleaved shuffle source can run this problem (its one form, rotary_params.hpp):
// interleaved multimodal sections, kShufflePairs pairs per thread, rotary_dim kShuffleRotaryDim,
// query plus key heads a multiple of kShuffleHeadsPerWarp.
bool shuffle_fits(const detail::Problem& problem, int pairs_per_thread);

// Heads per thread and block size from the amount of work and the SM count: one head per thread
// for small launches (latency), more heads per thread for large ones (each reuses its cos/sin
// registers and overlaps its loads with the position -> cache-row chain); for interleaved
// multimodal sections also the cos/sin source, which may narrow the pairs per thread (launch with
// the shape's pairs_per_thread). Programmatic launch is left off; the caller decides it (it
// depends on the device).
LaunchShape choose_launch_shape(const detail::Problem& problem, int pairs_per_thread,
                                int multiprocessor_count);

// The shape for `heads_per_thread` and blocks of about `block_threads` threads (clamped to
// [32, kMaxBlockThreads]): block (chunks, head groups, tokens) and the grid that covers the problem.
// token_major: as order_grid. source: how interleaved multimodal sections get their cos/sin
// (ignored for other problems); rows and columns narrow the pairs per thread to at most 4, rows
// and the shuffle take one head per thread, and the shuffle becomes the gather where it does not
// fit (shuffle_fits; the shape's `interleaved` says which).
LaunchShape make_launch_shape(const detail::Problem& problem, int pairs_per_thread,
                              int heads_per_thread, int block_threads, bool token_major = false,
                              InterleavedSource source = InterleavedSource::gather);

// The grid in token-major order (LaunchShape::token_major(): a token block's blocks numbered next
// to each other in a 1-D grid) where a token block has several blocks and the 1-D grid fits in
// 2^31 - 1 blocks, or back in the 3-D order. The interleaved gather and shuffle stay 3-D.
void order_grid(const detail::Problem& problem, LaunchShape& shape, bool token_major);

// Why the kernel cannot index this problem with this shape, or "" when it can.
std::string launch_shape_error(const detail::Problem& problem, const LaunchShape& shape);

// The problem as the kernel sees it, with the work split of `shape`.
RotaryParams make_params(const detail::Problem& problem, const LaunchShape& shape);

}  // namespace ropekit::cuda
