# Compares relay.h's constants (printed by C_EXE) with module relay's
# (printed by F_EXE): every C constant must be in the module with the same
# value, except those the binding leaves out on purpose (EXEMPT).
#   cmake -DC_EXE=... -DF_EXE=... -P check_constants.cmake
cmake_policy(SET CMP0057 NEW)
set(EXEMPT
  # relay_arg_kind_t: relay_arg_value and relay_arg_ref set the kind, and
  # Fortran names are case-insensitive (they would clash with them).
  RELAY_ARG_VALUE RELAY_ARG_REF)
foreach(v C_EXE F_EXE)
  execute_process(COMMAND ${${v}} OUTPUT_VARIABLE out_${v} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${${v}} failed: ${rc}")
  endif()
endforeach()
string(REGEX MATCHALL "[^\n]+" c_lines "${out_C_EXE}")
string(REGEX MATCHALL "[^\n]+" f_lines "${out_F_EXE}")
list(LENGTH c_lines n)
if(n LESS 60)
  message(FATAL_ERROR "only ${n} constants read from relay.h: the parser lost some")
endif()
set(bad "")
foreach(line IN LISTS c_lines)
  string(REGEX MATCH "^[A-Z0-9_]+" name "${line}")
  if(name IN_LIST EXEMPT)
    continue()
  endif()
  if(NOT line IN_LIST f_lines)
    string(APPEND bad "  relay.h: ${line}\n")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "constants missing from module relay or with another value:\n${bad}"
    "module relay says:\n${out_F_EXE}")
endif()
message(STATUS "${n} constants of relay.h match module relay")
