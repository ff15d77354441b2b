// The results of `ropekit bench`: the traffic model behind its GB/s, its rows, and their three
// output formats (aligned table, CSV, JSON).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "common/host_problem.hpp"

namespace ropekit::cli {

// The memory traffic of one rotary call on `problem`. DRAM moves whole 32-byte sectors, so it is
// counted in sectors: for every token and head, the sectors the rotary part of q and k occupies,
// read once and written once (the pass-through tail is not touched in place); for every token,
// the sectors of its cos/sin cache row, read; and the positions. Buffers start 256-byte aligned
// (DeviceProblem's allocations).
int64_t bytes_moved(const check::Problem& problem);

struct BenchRow {
  std::string shape;
  int64_t tokens = 0;
  std::string dtype;
  std::string cache_dtype;
  std::string backend;
  std::string device;
  int repetitions = 0;
  double seconds = 0;       // median per call; NaN when not timed (see note)
  int64_t bytes = 0;        // bytes_moved(): sectors read + written
  double copy_seconds = 0;  // median device copy moving the same bytes (bytes / 2 copied)
  double max_abs_error = 0;
  double max_error_ratio = 0;  // max |error| / tolerance (common/oracle_check.hpp): <= 1 passes
  std::string note;

  double gigabytes_per_second() const { return double(bytes) / seconds / 1e9; }
  double copy_gigabytes_per_second() const { return double(bytes) / copy_seconds / 1e9; }
  double fraction_of_copy() const { return copy_seconds / seconds; }
};

// What every row shares: printed above the table and as the top level of the JSON.
struct BenchSetup {
  int64_t max_position = 0;
  uint64_t seed = 0;
  std::string layout;  // "separate q, k" or fused
  std::vector<std::string> backend_devices;  // "cpu on host (2 hardware threads)"
};

void print_table(std::ostream& out, const BenchSetup& setup, const std::vector<BenchRow>& rows);
void print_csv(std::ostream& out, const std::vector<BenchRow>& rows);
void print_json(std::ostream& out, const BenchSetup& setup, const std::vector<BenchRow>& rows);

}  // namespace ropekit::cli
