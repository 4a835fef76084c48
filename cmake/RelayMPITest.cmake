# Registers relay's tests with CTest, so every test is launched the same way.
#
# relay_add_mpi_test(NAME <name> TARGET <exe> NP <ranks>
#                    [TIMEOUT <seconds>] [ARGS <arg>...] [ENV <VAR=value>...]
#                    [LABELS <label>...] [NO_TSAN <reason>] [RECOVERY]
#                    [WRAPPER <command>...])
#   Runs ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} <ranks>
#   ${RELAY_MPIEXEC_FLAGS} ${MPIEXEC_PREFLAGS} <exe> ${MPIEXEC_POSTFLAGS}
#   <args>, labelled "mpi". RELAY_MPIEXEC_FLAGS depends on the MPI
#   (RELAY_MPI_FLAVOUR, from mpiexec --version): Open MPI's --oversubscribe,
#   nothing for MPICH's Hydra.
#   With RELAY_TEST_NODES ON (the default) it also registers <name>_nodes,
#   labelled "nodes" (not "mpi"): the same run with every rank a node of its
#   own (RELAY_NODES=rank) and MPI's messages over TCP loopback where the
#   MPI can be told so (RELAY_NODES_MPIEXEC_FLAGS): one machine run as
#   several nodes. RECOVERY adds the mpiexec flags that keep the other
#   ranks running when one dies (RELAY_RECOVERY_MPIEXEC_FLAGS: Open MPI's
#   --enable-recovery, Hydra's -disable-auto-cleanup),
#   for tests of lost ranks. WRAPPER runs <command>... <mpiexec line>
#   instead of the mpiexec line itself: a script that judges the run by
#   what the ranks print when mpiexec's status cannot say.
#
# relay_add_unit_test(NAME <name> TARGET <exe> [TIMEOUT <seconds>]
#                     [ARGS <arg>...] [ENV <VAR=value>...] [LABELS <label>...]
#                     [NO_TSAN <reason>])
#   Runs <exe> <args> as one process without mpirun (an MPI singleton),
#   labelled "unit".
#
# Both set PROCESSORS, a TIMEOUT (default 120 s, so a hang fails fast),
# SKIP_RETURN_CODE 77 (a test that needs something absent skips) and an
# ENVIRONMENT that lets Open MPI run as root (containers, CI) and
# oversubscribe (other MPIs ignore those variables), plus the sanitizer
# options when RELAY_SANITIZE is ON. ENV
# entries come after those, so a test can override them.
#
# With RELAY_TSAN ON every test is also labelled "tsan", runs with
# TSAN_OPTIONS (test/tsan.supp, halt on the first report) and has its
# TIMEOUT multiplied by RELAY_TSAN_TIMEOUT_FACTOR: ThreadSanitizer makes
# the code several times slower. A test given NO_TSAN <reason> cannot run
# under ThreadSanitizer for a reason outside relay: it gets no "tsan" label
# and is disabled in that build (CTest lists it as not run), with the reason
# kept in the test's definition.
include_guard(GLOBAL)

set(RELAY_TSAN_TIMEOUT_FACTOR 4 CACHE STRING
  "Multiplier of every test's TIMEOUT when RELAY_TSAN is ON")
mark_as_advanced(RELAY_TSAN_TIMEOUT_FACTOR)
option(RELAY_TEST_NODES "Also run each mpi test with every rank a node of its own (label nodes)" ON)

# Which MPI launches the tests, read once from `mpiexec --version`: each
# launcher takes its own flags (MPICH's Hydra rejects Open MPI's).
#   openmpi  Open MPI's mpirun/prterun
#   hydra    MPICH's Hydra and its derivatives (Intel MPI, MVAPICH2)
#   other    anything else: no extra flags at all
if(MPIEXEC_EXECUTABLE AND NOT DEFINED CACHE{RELAY_MPI_FLAVOUR})
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version
    OUTPUT_VARIABLE _relay_mpiexec_version ERROR_VARIABLE _relay_mpiexec_version
    RESULT_VARIABLE _relay_mpiexec_rc TIMEOUT 30)
  if(_relay_mpiexec_version MATCHES "Open MPI|OpenRTE|open-mpi")
    set(_relay_flavour openmpi)
  elseif(_relay_mpiexec_version MATCHES "HYDRA|Hydra|MPICH|Intel\\(R\\) MPI")
    set(_relay_flavour hydra)
  else()
    set(_relay_flavour other)
  endif()
  set(RELAY_MPI_FLAVOUR "${_relay_flavour}" CACHE STRING
    "The launcher of the tests (openmpi, hydra or other), from mpiexec --version")
  mark_as_advanced(RELAY_MPI_FLAVOUR)
  message(STATUS "relay: tests launched by ${MPIEXEC_EXECUTABLE} (${_relay_flavour})")
endif()

# mpiexec flags of every mpi test: the tests start more ranks than a small
# machine has cores. Open MPI refuses that without --oversubscribe; Hydra
# places any number of ranks on the local host as it is.
if(MPIEXEC_EXECUTABLE AND NOT DEFINED CACHE{RELAY_MPIEXEC_FLAGS})
  set(_relay_flags "")
  if(RELAY_MPI_FLAVOUR STREQUAL "openmpi")
    set(_relay_flags --oversubscribe)
  endif()
  set(RELAY_MPIEXEC_FLAGS "${_relay_flags}" CACHE STRING
    "mpiexec flags of every mpi test (before MPIEXEC_PREFLAGS)")
  mark_as_advanced(RELAY_MPIEXEC_FLAGS)
endif()

# The mpiexec flags that keep MPI's messages between the ranks of one
# machine off shared memory, as between nodes. Open MPI: its TCP transport,
# on loopback (which Open MPI leaves out by default). Hydra: MPICH's
# MPIR_CVAR_NOLOCAL, every rank as if on a node of its own (messages take
# the network module, whose own transports may still be shared memory).
# Not UCX over TCP (UCX_TLS=tcp): MPICH 4.0's ch4:ucx then hangs in
# MPI_Finalize, now and then, when two ranks never exchanged a message
# and reach it at different times (a plain MPI program does it too). Other
# MPIs get none: relay's side of the mode still runs.
if(MPIEXEC_EXECUTABLE AND NOT DEFINED CACHE{RELAY_NODES_MPIEXEC_FLAGS})
  set(_relay_nodes_flags "")
  if(RELAY_MPI_FLAVOUR STREQUAL "openmpi")
    set(_relay_nodes_flags --mca btl self,tcp --mca btl_tcp_if_include 127.0.0.1/8)
  elseif(RELAY_MPI_FLAVOUR STREQUAL "hydra")
    set(_relay_nodes_flags -genv MPIR_CVAR_NOLOCAL 1)
  endif()
  set(RELAY_NODES_MPIEXEC_FLAGS "${_relay_nodes_flags}" CACHE STRING
    "mpiexec flags of the nodes tests: MPI messages between ranks of one machine as between nodes")
  mark_as_advanced(RELAY_NODES_MPIEXEC_FLAGS)
endif()

# The mpiexec flags that keep the survivors running when a rank dies:
# Open MPI's --enable-recovery (its default is to kill the whole job),
# Hydra's -disable-auto-cleanup. Other MPIs get none: the tests that need
# them skip there (test/rank_lost.sh says which and why).
if(MPIEXEC_EXECUTABLE AND NOT DEFINED CACHE{RELAY_RECOVERY_MPIEXEC_FLAGS})
  set(_relay_recovery_flags "")
  if(RELAY_MPI_FLAVOUR STREQUAL "openmpi")
    set(_relay_recovery_flags --enable-recovery)
  elseif(RELAY_MPI_FLAVOUR STREQUAL "hydra")
    set(_relay_recovery_flags -disable-auto-cleanup)
  endif()
  set(RELAY_RECOVERY_MPIEXEC_FLAGS "${_relay_recovery_flags}" CACHE STRING
    "mpiexec flags that keep the other ranks running when one dies (tests of lost ranks)")
  mark_as_advanced(RELAY_RECOVERY_MPIEXEC_FLAGS)
endif()

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
  if(RELAY_TSAN)
    # The suppressions name Open MPI only, never relay. Open MPI copies
    # message bytes on whichever thread progresses MPI (the program's own
    # MPI calls included), deep in uninstrumented code where TSan often
    # cannot restore the stack, so no suppression by module could match:
    # ignore_noninstrumented_modules=1 has TSan ignore the memory accesses
    # uninstrumented libraries make through interceptors (their locks are
    # still tracked). Every access relay's own code makes is still checked.
    list(APPEND env
      "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/test/tsan.supp halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1")
  endif()
  set(${out_var} "${env}" PARENT_SCOPE)
endfunction()

function(_relay_test_properties name processors label)
  cmake_parse_arguments(P "" "TIMEOUT;NO_TSAN" "ENV;LABELS" ${ARGN})
  if(NOT P_TIMEOUT)
    set(P_TIMEOUT 120)
  endif()
  _relay_test_environment(env)
  list(APPEND env ${P_ENV})
  set(labels ${label} ${P_LABELS})
  if(RELAY_TSAN)
    math(EXPR P_TIMEOUT "${P_TIMEOUT} * ${RELAY_TSAN_TIMEOUT_FACTOR}")
    if(P_NO_TSAN)
      set_tests_properties(${name} PROPERTIES DISABLED TRUE)
    else()
      list(APPEND labels tsan)
    endif()
  endif()
  set_tests_properties(${name} PROPERTIES
    PROCESSORS ${processors}
    TIMEOUT ${P_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "${env}"
    LABELS "${labels}")
endfunction()

function(relay_add_mpi_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "RECOVERY" "NAME;TARGET;NP;TIMEOUT;NO_TSAN"
    "ARGS;ENV;LABELS;WRAPPER")
  if(NOT T_NAME OR NOT T_TARGET OR NOT T_NP)
    message(FATAL_ERROR "relay_add_mpi_test: NAME, TARGET and NP are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relay_add_mpi_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT MPIEXEC_EXECUTABLE)
    message(FATAL_ERROR "relay_add_mpi_test: MPIEXEC_EXECUTABLE is not set (find_package(MPI))")
  endif()
  set(recovery "")
  if(T_RECOVERY)
    set(recovery ${RELAY_RECOVERY_MPIEXEC_FLAGS})
  endif()
  add_test(NAME ${T_NAME}
    COMMAND ${T_WRAPPER} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${RELAY_MPIEXEC_FLAGS}
            ${recovery} ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS}
            ${T_ARGS})
  _relay_test_properties(${T_NAME} ${T_NP} mpi TIMEOUT "${T_TIMEOUT}" NO_TSAN "${T_NO_TSAN}"
    ENV ${T_ENV} LABELS ${T_LABELS})
  if(RELAY_TEST_NODES)
    add_test(NAME ${T_NAME}_nodes
      COMMAND ${T_WRAPPER} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP}
              ${RELAY_MPIEXEC_FLAGS} ${recovery} ${RELAY_NODES_MPIEXEC_FLAGS} ${MPIEXEC_PREFLAGS}
              $<TARGET_FILE:${T_TARGET}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    _relay_test_properties(${T_NAME}_nodes ${T_NP} nodes TIMEOUT "${T_TIMEOUT}"
      NO_TSAN "${T_NO_TSAN}" ENV ${T_ENV} RELAY_NODES=rank LABELS ${T_LABELS})
  endif()
endfunction()

function(relay_add_unit_test)
  cmake_parse_arguments(PARSE_ARGV 0 T "" "NAME;TARGET;TIMEOUT;NO_TSAN" "ARGS;ENV;LABELS")
  if(NOT T_NAME OR NOT T_TARGET)
    message(FATAL_ERROR "relay_add_unit_test: NAME and TARGET are required")
  endif()
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "relay_add_unit_test(${T_NAME}): unknown arguments ${T_UNPARSED_ARGUMENTS}")
  endif()
  add_test(NAME ${T_NAME} COMMAND $<TARGET_FILE:${T_TARGET}> ${T_ARGS})
  _relay_test_properties(${T_NAME} 1 unit TIMEOUT "${T_TIMEOUT}" NO_TSAN "${T_NO_TSAN}"
    ENV ${T_ENV} LABELS ${T_LABELS})
endfunction()
