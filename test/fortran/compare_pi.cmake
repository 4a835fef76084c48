# relay-pi-fortran must print the estimate relay-pi prints for the same
# parameters (same generator, same tasks).
#   cmake -DMPIEXEC=... -DNP=3 [-DFLAGS=a|b] -DC_EXE=... -DF_EXE=... -P compare_pi.cmake
# FLAGS: the launcher's own flags (RELAY_MPIEXEC_FLAGS), separated by |.
string(REPLACE "|" ";" flags "${FLAGS}")
foreach(v C_EXE F_EXE)
  execute_process(COMMAND ${MPIEXEC} -n ${NP} ${flags} ${${v}} -n 7 -m 30001
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${${v}} failed (${rc}):\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "pi ~= ([0-9.]+)")
    message(FATAL_ERROR "${${v}} printed no estimate:\n${out}")
  endif()
  set(pi_${v} "${CMAKE_MATCH_1}")
endforeach()
if(NOT pi_C_EXE STREQUAL pi_F_EXE)
  message(FATAL_ERROR "relay-pi says ${pi_C_EXE}, relay-pi-fortran ${pi_F_EXE}")
endif()
message(STATUS "both estimate pi ~= ${pi_F_EXE}")
