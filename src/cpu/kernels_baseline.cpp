// The kernels compiled for the compiler's default target (x86-64: SSE2); runs everywhere.
#define ROPEKIT_CPU_ISA baseline
#include "cpu/kernels.inl"
