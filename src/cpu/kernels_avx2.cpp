// The kernels compiled with AVX2 + FMA + F16C (flags in CMakeLists.txt); cpu_backend.cpp calls
// them only when __builtin_cpu_supports says the machine has all three.
#define ROPEKIT_CPU_ISA avx2
#include "cpu/kernels.inl"
