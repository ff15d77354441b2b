// The whole C++ API of ropekit.
#pragma once
#include "ropekit/backend.hpp"
#include "ropekit/cache.hpp"
#include "ropekit/config.hpp"
#include "ropekit/error.hpp"
#include "ropekit/rotary.hpp"
#include "ropekit/tensor.hpp"
#include "ropekit/version.hpp"
