# Installation of the CMake package (find_package(relay)) and of relay.pc.
# Included at the end of the top-level CMakeLists.txt, after src/ defined the
# `relay` target and its install(TARGETS relay EXPORT relayTargets ...).
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(RELAY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/relay"
    CACHE STRING "Where relayConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(RELAY_INSTALL_CMAKEDIR)

# A static librelay.a carries its private dependencies (HDF5; libdl with
# CUDA, whose runtime relay loads itself) in its link interface, so
# consumers must find them too; a shared one does not.
get_target_property(_relay_type relay TYPE)
if(_relay_type STREQUAL "STATIC_LIBRARY")
  set(RELAY_PACKAGE_STATIC ON)
else()
  set(RELAY_PACKAGE_STATIC OFF)
endif()

install(EXPORT relayTargets
  NAMESPACE relay::
  FILE relayTargets.cmake
  DESTINATION "${RELAY_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/relayConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/relayConfig.cmake"
  INSTALL_DESTINATION "${RELAY_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/relayConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/relayConfig.cmake"
  "${PROJECT_BINARY_DIR}/relayConfigVersion.cmake"
  DESTINATION "${RELAY_INSTALL_CMAKEDIR}")

# pkg-config. The prefix is computed from the .pc file's own location, so the
# file stays right with `cmake --install build --prefix DIR`.
set(RELAY_PC_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RELAY_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(RELAY_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(RELAY_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _relay_pc_up "/${RELAY_PC_DIR}" "/")
  string(REGEX REPLACE "/$" "" _relay_pc_up "${_relay_pc_up}")
  set(RELAY_PC_PREFIX "\${pcfiledir}/${_relay_pc_up}")
  set(RELAY_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(RELAY_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# Libs.private: HDF5 (as -L/-l from what FindHDF5 found) and pthread.
set(RELAY_PC_LIBS_PRIVATE "")
foreach(_lib IN LISTS HDF5_C_LIBRARIES)
  get_filename_component(_name "${_lib}" NAME_WE)
  if(IS_ABSOLUTE "${_lib}" AND _name MATCHES "^lib(hdf5.*)$")
    get_filename_component(_dir "${_lib}" DIRECTORY)
    string(APPEND RELAY_PC_LIBS_PRIVATE " -L${_dir} -l${CMAKE_MATCH_1}")
  endif()
endforeach()
if(RELAY_PC_LIBS_PRIVATE STREQUAL "")
  string(APPEND RELAY_PC_LIBS_PRIVATE " -lhdf5")
endif()
# No CUDA: relay loads its runtime with dlopen (libdl before glibc 2.34).
if(RELAY_HAVE_CUDA)
  foreach(_lib IN LISTS CMAKE_DL_LIBS)
    string(APPEND RELAY_PC_LIBS_PRIVATE " -l${_lib}")
  endforeach()
endif()
string(APPEND RELAY_PC_LIBS_PRIVATE " -lpthread")
string(STRIP "${RELAY_PC_LIBS_PRIVATE}" RELAY_PC_LIBS_PRIVATE)
# A static library has no shared object to carry those dependencies, so
# plain `pkg-config --libs relay` must list them as well.
set(RELAY_PC_LIBS "-L\${libdir} -lrelay")
if(RELAY_PACKAGE_STATIC)
  string(APPEND RELAY_PC_LIBS " ${RELAY_PC_LIBS_PRIVATE}")
endif()

configure_file("${PROJECT_SOURCE_DIR}/cmake/relay.pc.in" "${PROJECT_BINARY_DIR}/relay.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/relay.pc" DESTINATION "${RELAY_PC_DIR}")
