// ropekit_rotary_args (C) -> ropekit::RotaryArgs (C++), shared by every entry point that takes it.
#pragma once
#include "ropekit/ropekit.h"
#include "ropekit/rotary.hpp"

namespace ropekit::capi {

// Converts every field (throws ropekit::Error naming the bad one); defined in capi.cpp.
RotaryArgs rotary_args_of(const ropekit_rotary_args* args);

}  // namespace ropekit::capi
