# Installs libropekit, its headers and a CMake package: find_package(ropekit) -> ropekit::ropekit.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ropekit EXPORT ropekitTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ropekit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The C API header includes <dlpack/dlpack.h>: ship the one we built against.
install(FILES ${DLPACK_INCLUDE_DIR}/dlpack/dlpack.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ropekit/dlpack)
install(EXPORT ropekitTargets NAMESPACE ropekit:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ropekit)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ropekitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ropekitConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ropekit)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ropekitConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ropekitConfig.cmake ${PROJECT_BINARY_DIR}/ropekitConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ropekit)
