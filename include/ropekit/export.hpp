// ROPEKIT_CXX_API marks the public C++ API: libropekit is built with hidden visibility, so only
// what carries this (or ROPEKIT_API in ropekit.h) is exported. Classes that cross the library
// boundary (ropekit::Error is thrown and caught across it) carry it too, so that their typeinfo
// is one shared symbol.
#pragma once

#if defined(_WIN32)
#define ROPEKIT_CXX_API __declspec(dllexport)
#else
#define ROPEKIT_CXX_API __attribute__((visibility("default")))
#endif
