# ropekit/_torch_kernels.so: the CPU (and CUDA) kernels of torch.ops.ropekit, registered in C++ so
# that an eager call costs one dispatcher hop instead of a Python custom-op round trip.
#
# Built only when the Python that builds the package can import torch (pip install
# --no-build-isolation with torch installed); otherwise ropekit/torch_ops.py registers the same
# ops with Python kernels. ROPEKIT_TORCH: AUTO (default), ON (fail without torch) or OFF.
#
# Torch's own CMake package (find_package(Torch)) rewrites CUDA flags and architectures for the
# whole directory and wants cuDNN/NVRTC; this library needs none of that: torch's headers, c10,
# torch_cpu and, for the CUDA stream, c10_cuda.
set(ROPEKIT_TORCH "AUTO" CACHE STRING "Build the PyTorch kernels library: ON, OFF or AUTO")
if(ROPEKIT_TORCH STREQUAL "OFF")
  return()
endif()

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.version.cuda or ''); print(torch.__version__)"
  RESULT_VARIABLE torch_probe_result
  OUTPUT_VARIABLE torch_probe_output
  ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT torch_probe_result EQUAL 0)
  if(ROPEKIT_TORCH STREQUAL "ON")
    message(FATAL_ERROR "ROPEKIT_TORCH=ON but '${Python_EXECUTABLE}' cannot import torch")
  endif()
  message(STATUS "ropekit: PyTorch kernels library OFF (torch is not importable at build time; "
                 "torch.ops.ropekit will use Python kernels)")
  return()
endif()
string(REPLACE "\n" ";" torch_probe_output "${torch_probe_output}")
list(GET torch_probe_output 0 TORCH_ROOT)
list(GET torch_probe_output 1 TORCH_CXX11_ABI)
list(GET torch_probe_output 2 TORCH_CUDA_VERSION)
list(GET torch_probe_output 3 TORCH_VERSION_STRING)
set(ROPEKIT_TORCH_KERNELS_VERSION "${TORCH_VERSION_STRING}")

find_library(TORCH_C10_LIBRARY c10 PATHS "${TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
find_library(TORCH_CPU_LIBRARY torch_cpu PATHS "${TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)

add_library(_torch_kernels MODULE src/torch_kernels.cpp)
# No "lib" prefix: the package loads it by this exact name.
set_target_properties(_torch_kernels PROPERTIES PREFIX "" INSTALL_RPATH "$ORIGIN")
target_include_directories(_torch_kernels SYSTEM PRIVATE "${TORCH_ROOT}/include")
target_compile_definitions(_torch_kernels PRIVATE _GLIBCXX_USE_CXX11_ABI=${TORCH_CXX11_ABI})
target_compile_options(_torch_kernels PRIVATE ${ROPEKIT_WARNINGS})
# libtorch_cpu and libc10 are already loaded by `import torch`: no rpath to torch/lib needed.
target_link_libraries(_torch_kernels PRIVATE ropekit::ropekit ${TORCH_CPU_LIBRARY} ${TORCH_C10_LIBRARY})

# CUDA kernels need both a CUDA build of ropekit and a CUDA build of torch (for its current stream).
set(ropekit_torch_cuda OFF)
if(ROPEKIT_WITH_CUDA AND NOT TORCH_CUDA_VERSION STREQUAL "")
  find_library(TORCH_C10_CUDA_LIBRARY c10_cuda PATHS "${TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
  target_link_libraries(_torch_kernels PRIVATE ${TORCH_C10_CUDA_LIBRARY} CUDA::toolkit)
  target_compile_definitions(_torch_kernels PRIVATE ROPEKIT_TORCH_CUDA)
  set(ropekit_torch_cuda ON)
endif()
message(STATUS "ropekit: PyTorch kernels library ON (torch ${TORCH_VERSION_STRING}, CUDA kernels "
               "${ropekit_torch_cuda})")

install(TARGETS _torch_kernels LIBRARY DESTINATION ropekit COMPONENT ropekit_python)
