# Installation of the Fortran binding's CMake targets (relay::relay_fortran,
# loaded by relayConfig.cmake when present) and of relay-fortran.pc.
# Included after RelayPackage.cmake when the binding is built.
if(RELAY_BUILD_SHARED)
  install(EXPORT relayFortranTargets NAMESPACE relay:: FILE relayFortranTargets.cmake
    DESTINATION "${RELAY_INSTALL_CMAKEDIR}")
endif()
if(RELAY_BUILD_STATIC)
  install(EXPORT relayFortranStaticTargets NAMESPACE relay:: FILE relayFortranStaticTargets.cmake
    DESTINATION "${RELAY_INSTALL_CMAKEDIR}")
endif()

if(IS_ABSOLUTE "${RELAY_FORTRAN_MODDIR}")
  set(RELAY_PC_MODDIR "${RELAY_FORTRAN_MODDIR}")
else()
  set(RELAY_PC_MODDIR "\${prefix}/${RELAY_FORTRAN_MODDIR}")
endif()
set(RELAY_PC_FORTRAN_LIBS "-L\${libdir} -lrelay_fortran")
configure_file("${PROJECT_SOURCE_DIR}/cmake/relay-fortran.pc.in"
  "${PROJECT_BINARY_DIR}/relay-fortran.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/relay-fortran.pc" DESTINATION "${RELAY_PC_DIR}")
