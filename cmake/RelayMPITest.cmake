# Registers relay's tests with CTest, so every test is launched the same way.
#
# relay_add_mpi_test(NAME <name> TARGET <exe> NP <ranks>
#                    [TIMEOUT <seconds>] [ARGS <arg>...] [ENV <VAR=value>...]
#                    [LABELS <label>...])
#   Runs ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} <ranks> --oversubscribe
#   ${MPIEXEC_PREFLAGS} <exe> ${MPIEXEC_POSTFLAGS} <args>, labelled "mpi".
#
# relay_add_unit_test(NAME <name> TARGET <exe> [TIMEOUT <seconds>]
#                     [ARGS <arg>...] [ENV <VAR=value>...] [LABELS <label>...])
#   Runs <exe> <args> as one process without mpirun (an MPI singleton),
#   labelled "unit".
#
# Both set PROCESSORS, a TIMEOUT (default 120 s, so a hang fails fast),
# SKIP_RETURN_CODE 77 (a test that needs something absent skips) and an
# ENVIRONMENT that lets Open MPI run as root (containers, CI) and
# oversubscribe, plus the sanitizer options when RELAY_SANITIZE is ON. ENV
# entries come after those, so a test can override them.
include_guard(GLOBAL)

function(_relay_test_environment out_var)
  # Containers usually forbid the ptrace-based single-copy (CMA) transfers of
  # Open MPI's shared-memory transport, which large-object tests rely on.
  set(env
    OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1
    OMPI_MCA_btl_vader_single_copy_mechanism=none)
  if(RELAY_SANITIZE)
    # Leak detection stays on; the suppression files name Open MPI and its
    # dependencies only, never relay. use_tls=0: GCC 12's LeakSanitizer
    # misreads glibc 2.36's dynamic TLS of the modules Open MPI loads and
    # crashes at exit; without TLS as roots it is only stricter.
    list(APPEND env
      "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:detect_odr_violation=0:suppressions=${PROJECT_SOURCE_DIR}/test/asan.supp"
      "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/test/lsan.supp:print_suppressions=0:use_tls=0"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endif()
  set(${out_var} "${env}" PARENT_SCOPE)
endfunction()

function(_relay_test_properties name processors label)
  cmake_parse_arguments(P "" "TIMEOUT" "ENV;LABELS" ${ARGN})
  if(NOT P_TIMEOUT)
    set(P_TIMEOUT 120)
  endif()
  _relay_test_environment(env)
  list(APPEND env ${P_ENV})
  set(labels ${label} ${P_LABELS})
  set_tests_properties(${name} PROPERTIES
    PROCESSORS ${processors}
    TIMEOUT ${P_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "${env}"
    LABELS "${labels}")
endfunction()

function(relay_add_mpi_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "" "NAME;TARGET;NP;TIMEOUT" "ARGS;ENV;LABELS")
  if(NOT T_NAME OR NOT T_TARGET OR NOT T_NP)
    message(FATAL_ERROR "relay_add_mpi_test: NAME, TARGET and NP are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relay_add_mpi_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT MPIEXEC_EXECUTABLE)
    message(FATAL_ERROR "relay_add_mpi_test: MPIEXEC_EXECUTABLE is not set (find_package(MPI))")
  endif()
  add_test(NAME ${T_NAME}
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} --oversubscribe
            ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
  _relay_test_properties(${T_NAME} ${T_NP} mpi TIMEOUT "${T_TIMEOUT}" ENV ${T_ENV}
    LABELS ${T_LABELS})
endfunction()

function(relay_add_unit_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "" "NAME;TARGET;TIMEOUT" "ARGS;ENV;LABELS")
  if(NOT T_NAME OR NOT T_TARGET)
    message(FATAL_ERROR "relay_add_unit_test: NAME and TARGET are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relay_add_unit_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  add_test(NAME ${T_NAME} COMMAND $<TARGET_FILE:${T_TARGET}> ${T_ARGS})
  _relay_test_properties(${T_NAME} 1 unit TIMEOUT "${T_TIMEOUT}" ENV ${T_ENV}
    LABELS ${T_LABELS})
endfunction()
