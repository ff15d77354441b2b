// The C++ tests' names for the case library they share with `ropekit verify` (tools/common/):
// random cases over the whole argument surface, host problems with fresh random data and poisoned
// outputs, and the independent float64 checker with dtype-derived tolerances.
#pragma once
#include "common/host_problem.hpp"
#include "common/oracle_check.hpp"
#include "common/rotary_case.hpp"

namespace ropekit::testing {

using check::Case;
using check::check_against_oracle;
using check::check_result;
using check::CheckReport;
using check::fresh_seed;
using check::HostTensor;
using check::make_host_tensor;
using check::make_problem;
using check::Problem;
using check::random_case;
using check::tolerance;

}  // namespace ropekit::testing
