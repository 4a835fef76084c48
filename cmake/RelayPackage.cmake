# Installation of the CMake package (find_package(relay)) and of relay.pc.
# Included at the end of the top-level CMakeLists.txt, after src/ defined
# the `relay` (shared) and `relay_static` targets and their install(TARGETS
# ... EXPORT relayTargets / relayStaticTargets).
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(RELAY_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/relay"
    CACHE STRING "Where relayConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(RELAY_INSTALL_CMAKEDIR)

# The static library carries its private dependencies (HDF5; libdl with
# CUDA, whose runtime relay loads itself) in its link interface, so its
# consumers must find them too; the shared one's consumers need MPI and
# threads only.

if(RELAY_BUILD_SHARED)
  install(EXPORT relayTargets NAMESPACE relay:: FILE relayTargets.cmake
    DESTINATION "${RELAY_INSTALL_CMAKEDIR}")
endif()
if(RELAY_BUILD_STATIC)
  install(EXPORT relayStaticTargets NAMESPACE relay:: FILE relayStaticTargets.cmake
    DESTINATION "${RELAY_INSTALL_CMAKEDIR}")
endif()

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

# The first of <candidates> whose .pc file gives one of <include_dirs>: the
# .pc of the very MPI (or HDF5) this build found, whatever it is called
# (Open MPI's ompi-c, MPICH's mpich, Debian's alternatives mpi-c and hdf5).
find_package(PkgConfig QUIET)
function(_relay_matching_pc out candidates include_dirs)
  set(${out} "" PARENT_SCOPE)
  if(NOT PKG_CONFIG_EXECUTABLE)
    return()
  endif()
  set(wanted "")
  foreach(d IN LISTS include_dirs)
    file(REAL_PATH "${d}" d)
    list(APPEND wanted "${d}")
  endforeach()
  foreach(name IN LISTS candidates)
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --cflags-only-I ${name}
      RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      continue()
    endif()
    # pkg-config leaves out system directories (-I/usr/include): ask for
    # the includedir variable as well.
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=includedir ${name}
      OUTPUT_VARIABLE incdir ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    list(TRANSFORM flags REPLACE "^-I" "")
    foreach(d IN LISTS flags incdir)
      if(d)
        file(REAL_PATH "${d}" d)
        if(d IN_LIST wanted)
          set(${out} ${name} PARENT_SCOPE)
          return()
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()

# -L/-l for a list of libraries as CMake found them (absolute paths).
function(_relay_pc_libs out)
  set(flags "")
  foreach(lib IN LISTS ARGN)
    if(IS_ABSOLUTE "${lib}")
      get_filename_component(dir "${lib}" DIRECTORY)
      get_filename_component(name "${lib}" NAME_WE)
      string(REGEX REPLACE "^lib" "" name "${name}")
      list(APPEND flags "-L${dir}" "-l${name}")
    elseif(lib MATCHES "^-")
      list(APPEND flags "${lib}")
    elseif(lib)
      list(APPEND flags "-l${lib}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES flags)
  list(JOIN flags " " flags)
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()

# MPI: Requires the MPI's own .pc when one matches (the usual case, and
# then `pkg-config relay` follows that MPI's module), else its flags.
set(RELAY_PC_REQUIRES "")
set(RELAY_PC_MPI_CFLAGS "")
set(RELAY_PC_MPI_LIBS "")
_relay_matching_pc(_relay_mpi_pc "ompi-c;mpich;impi;mvapich2;mpi-c;ompi;mpi" "${MPI_C_INCLUDE_DIRS}")
if(_relay_mpi_pc)
  set(RELAY_PC_REQUIRES "${_relay_mpi_pc}")
else()
  foreach(d IN LISTS MPI_C_INCLUDE_DIRS)
    string(APPEND RELAY_PC_MPI_CFLAGS " -I${d}")
  endforeach()
  _relay_pc_libs(RELAY_PC_MPI_LIBS ${MPI_C_LIBRARIES})
  string(PREPEND RELAY_PC_MPI_LIBS " ")
endif()
message(STATUS "relay: relay.pc takes MPI from ${_relay_mpi_pc}${RELAY_PC_MPI_LIBS}")

# HDF5 is private (only librelay.a's consumers link it). With the shared
# library installed, -L/-l in Libs.private: pkg-config resolves
# Requires.private for --cflags too, so a shared consumer would need HDF5's
# .pc at hand. With the static library alone, Requires its .pc when one
# matches (every consumer links it then).
set(RELAY_PC_REQUIRES_PRIVATE "")
set(RELAY_PC_LIBS_PRIVATE "")
_relay_matching_pc(_relay_hdf5_pc "hdf5-serial;hdf5-openmpi;hdf5-mpich;hdf5"
  "${HDF5_C_INCLUDE_DIRS};${HDF5_INCLUDE_DIRS}")
if(_relay_hdf5_pc AND NOT RELAY_BUILD_SHARED)
  set(RELAY_PC_REQUIRES_PRIVATE "${_relay_hdf5_pc}")
else()
  set(_relay_hdf5_libs "")
  foreach(lib IN LISTS HDF5_C_LIBRARIES)
    get_filename_component(name "${lib}" NAME_WE)
    if(name MATCHES "^libhdf5")
      list(APPEND _relay_hdf5_libs "${lib}")
    endif()
  endforeach()
  if(NOT _relay_hdf5_libs)
    set(_relay_hdf5_libs hdf5)
  endif()
  _relay_pc_libs(RELAY_PC_LIBS_PRIVATE ${_relay_hdf5_libs})
endif()
# No CUDA: relay loads its runtime with dlopen (libdl before glibc 2.34).
if(RELAY_HAVE_CUDA)
  foreach(_lib IN LISTS CMAKE_DL_LIBS)
    string(APPEND RELAY_PC_LIBS_PRIVATE " -l${_lib}")
  endforeach()
endif()
message(STATUS "relay: relay.pc takes HDF5 from ${_relay_hdf5_pc}${RELAY_PC_LIBS_PRIVATE}")
string(APPEND RELAY_PC_LIBS_PRIVATE " -lpthread")
string(STRIP "${RELAY_PC_LIBS_PRIVATE}" RELAY_PC_LIBS_PRIVATE)
if(NOT RELAY_BUILD_SHARED)
  # Only librelay.a is installed: plain `pkg-config --libs relay` must
  # bring its dependencies as well.
  string(APPEND RELAY_PC_MPI_LIBS " ${RELAY_PC_LIBS_PRIVATE}")
  if(RELAY_PC_REQUIRES_PRIVATE)
    string(APPEND RELAY_PC_REQUIRES " ${RELAY_PC_REQUIRES_PRIVATE}")
  endif()
endif()

configure_file("${PROJECT_SOURCE_DIR}/cmake/relay.pc.in" "${PROJECT_BINARY_DIR}/relay.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/relay.pc" DESTINATION "${RELAY_PC_DIR}")
