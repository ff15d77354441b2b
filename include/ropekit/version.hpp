#pragma once
#define ROPEKIT_VERSION_MAJOR 0
#define ROPEKIT_VERSION_MINOR 1
#define ROPEKIT_VERSION_PATCH 0
namespace ropekit {
inline constexpr const char* kVersion = "0.1.0";
}
