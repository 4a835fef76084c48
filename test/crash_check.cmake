# Runs test_crash <SCENARIO> on 3 ranks and checks what the job printed: the
# job must die (non-zero exit); rank 2's report names the task, its
# function, the rank, the host and the signal (or exit status) and is
# followed by a backtrace; rank 0 printed the same report before mpirun
# killed it. Scenario "off" (RELAY_CRASH_REPORT=0) must print no report.
#   cmake -DLAUNCH=<mpiexec|-n|3|...> -DEXE=<test_crash> -DSCENARIO=<s> -P crash_check.cmake
# LAUNCH is the mpiexec line before the program, its words separated by |.
foreach(v LAUNCH EXE SCENARIO)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "crash_check.cmake: ${v} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" launch "${LAUNCH}")
execute_process(COMMAND ${launch} ${EXE} ${SCENARIO}
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 90)
set(all "${out}\n${err}")
message("---- the job printed (exit: ${rc}) ----\n${all}\n----")

# Functions, not macros: a macro would read the regexes' backslashes again.
set(failures "")
function(expect what regex)
  if(NOT all MATCHES "${regex}")
    set(failures "${failures}  missing: ${what} (/${regex}/)\n" PARENT_SCOPE)
  endif()
endfunction()
function(refuse what regex)
  if(all MATCHES "${regex}")
    set(failures "${failures}  unexpected: ${what} (/${regex}/)\n" PARENT_SCOPE)
  endif()
endfunction()

if(rc EQUAL 0)
  string(APPEND failures "  the job exited 0: the crash did not end it\n")
endif()
expect("the task's own start line" "test_crash: task starts on rank 2")
refuse("the driver's get returning" "the get returned")

set(signal_of_segv SIGSEGV)
set(signal_of_off SIGSEGV)
set(signal_of_handler SIGSEGV)
set(signal_of_overflow SIGSEGV)
set(signal_of_abort SIGABRT)
set(signal_of_fpe SIGFPE)
set(signal_of_bus SIGBUS)
set(signal_of_method SIGSEGV)
set(fn "crash_${SCENARIO}")
set(who "rank 2 \\(host [^,()]+, pid [0-9]+\\): task '${fn}_task' \\(function '${fn}'\\)")
if(SCENARIO STREQUAL "method")
  set(who "rank 2 \\(host [^,()]+, pid [0-9]+\\): actor method 'crash_method_task' \\(function 'boom'\\)")
endif()
if(SCENARIO STREQUAL "exit")
  set(what "${who} called exit\\(3\\)")
elseif(DEFINED signal_of_${SCENARIO})
  set(what "${who} crashed: ${signal_of_${SCENARIO}}")
else()
  message(FATAL_ERROR "crash_check.cmake: unknown scenario ${SCENARIO}")
endif()

if(SCENARIO STREQUAL "off")
  refuse("a report although RELAY_CRASH_REPORT=0" "crashed: |relay: rank 0 reports")
else()
  expect("rank 2's report" "(^|\n)relay: ${what}")
  # backtrace_symbols_fd: "binary(symbol+0x1f)[0x55d0c0a1b2c3]" (Open MPI's
  # own handler's lines begin with "[host:pid]": not relay's).
  expect("a backtrace line" "(^|\n)[^[\n][^\n]*\\[0x[0-9a-f]+\\]")
  expect("rank 0's report" "relay: rank 0 reports: ${what}")
endif()
if(SCENARIO STREQUAL "handler")
  expect("the program's own handler's marker" "test_crash: the program's own SIGSEGV handler ran")
endif()

if(failures)
  message(FATAL_ERROR "crash_check.cmake ${SCENARIO}:\n${failures}")
endif()
message("crash_check.cmake ${SCENARIO}: PASS")
