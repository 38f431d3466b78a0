# The embedding API: libcnnc.so (runtime/api.cpp) with its one public header,
# installed as a CMake package so that a host project does
#   find_package(cnnc REQUIRED)
#   target_link_libraries(app PRIVATE cnnc::cnnc)
# and needs no header of LLVM, fmt or nlohmann/json: the internals are linked
# in privately (hence position-independent) and their symbols stay hidden.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(cnnc_api SHARED ${PROJECT_SOURCE_DIR}/runtime/api.cpp)
add_library(cnnc::cnnc ALIAS cnnc_api)
set_target_properties(cnnc_api PROPERTIES
  OUTPUT_NAME cnnc
  EXPORT_NAME cnnc
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)
target_include_directories(cnnc_api PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# The header is C++17; hosts need not be on C++20 as cnnc itself is.
target_compile_features(cnnc_api PUBLIC cxx_std_17)
target_link_libraries(cnnc_api PRIVATE cnnc_runtime cnnc_compiler cnnc_frontend)
# Symbols of the static internals (and of anything they carry) are not
# exported: only those the header marks CNNC_API are.
target_link_options(cnnc_api PRIVATE LINKER:--exclude-libs,ALL)

install(TARGETS cnnc_api EXPORT cnncTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/runtime/include/cnnc/cnnc.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cnnc)
# The exported targets are the whole package config: the package has no
# dependency a host must find.
install(EXPORT cnncTargets
  FILE cnncConfig.cmake
  NAMESPACE cnnc::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cnnc)
# 0.x: any minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cnncConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cnncConfigVersion.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cnnc)
