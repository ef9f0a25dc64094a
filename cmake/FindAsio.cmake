# Debian's libasio-dev ships neither a CMake package nor a .pc file: find the
# header and wrap it in an IMPORTED INTERFACE target (standalone, no Boost).
# ASIO_DISABLE_STD_ALIGNED_ALLOC: Asio decides whether to use std::aligned_alloc from which
# standard headers were included before its own, so translation units could disagree and free
# with one allocator what another allocated; one fixed choice for every unit avoids that.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp asio/version.hpp)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_ver REGEX "#define ASIO_VERSION ")
  string(REGEX MATCH "[0-9]+" _asio_ver "${_asio_ver}")
  math(EXPR _major "${_asio_ver} / 100000")
  math(EXPR _minor "${_asio_ver} / 100 % 1000")
  math(EXPR _patch "${_asio_ver} % 100")
  set(Asio_VERSION "${_major}.${_minor}.${_patch}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)
if(Asio_FOUND AND NOT TARGET Asio::Asio)
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED;ASIO_DISABLE_STD_ALIGNED_ALLOC")
  find_package(Threads REQUIRED)
  set_property(TARGET Asio::Asio APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
mark_as_advanced(Asio_INCLUDE_DIR)
