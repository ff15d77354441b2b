// The C API's error convention, shared by every extern "C" file: run a body, turn any exception
// into a status code and keep its message for ropekit_last_error().
#pragma once
#include <exception>
#include <string>

#include "ropekit/error.hpp"
#include "ropekit/ropekit.h"

namespace ropekit::capi {

// The message of the last failure on this thread; one object for the whole library (inline).
inline thread_local std::string last_error;

template <class Body>
int guarded(Body&& body) {
  try {
    body();
    last_error.clear();
    return ROPEKIT_OK;
  } catch (const ropekit::Error& error) {
    last_error = error.what();
    return ROPEKIT_ERROR_INVALID_ARGUMENT;
  } catch (const std::exception& error) {
    last_error = std::string("internal error: ") + error.what();
    return ROPEKIT_ERROR_BACKEND;
  } catch (...) {
    last_error = "internal error: unknown exception";
    return ROPEKIT_ERROR_BACKEND;
  }
}

}  // namespace ropekit::capi
