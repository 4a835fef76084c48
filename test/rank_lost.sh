#!/usr/bin/env bash
# Runs test_rank_lost, in which rank 2 dies on purpose, and decides from
# what the survivors print: mpirun's own status tells of the dead rank.
# Passes when ranks 0 and 1 both print their PASS line and rank 2 does
# not (it died; in scenario "quiet" nobody dies and all three must).
# Open MPI keeps the survivors only with mpirun --enable-recovery. MPICH's
# Hydra (-disable-auto-cleanup) keeps them too, but MPICH 4.0's ch4:ucx
# ends the whole job at the first message a survivor sends to the dead
# rank; there only the scenarios where no rank dies unannounced run (quiet:
# nobody dies; stopped: rank 2 is given up while stopped and leaves alone),
# and the others skip (77), as they do with any other MPI.
# With RELAY_SUMMARY=1 and RELAY_TRACE=<file> a run where rank 2 dies
# must also leave rank 0's summary, rank 2 in it marked "(no report", and
# the trace file, written from the ranks that reported (not rank 2).
# Usage: rank_lost.sh <scenario> <mpiexec> <mpiexec args...>
set -u
scenario=$1
shift
version=$("$1" --version 2>&1)
if grep -qiE "open mpi|openrte|open-mpi" <<<"$version"; then
    :
elif grep -qE "HYDRA|Hydra" <<<"$version"; then
    if [ "$scenario" != quiet ] && [ "$scenario" != stopped ]; then
        echo "rank_lost: SKIP: under MPICH (Hydra) a message to a dead rank ends the" \
            "whole job (MPICH 4.0 ch4:ucx aborts, even with MPI_ERRORS_RETURN and" \
            "-disable-auto-cleanup), so no rank can be lost with the others going on"
        exit 77
    fi
else
    echo "rank_lost: SKIP: needs Open MPI's mpirun --enable-recovery to keep the" \
        "survivors of a dead rank running ($1 is another MPI)"
    exit 77
fi
trace=${RELAY_TRACE:-}
[ -n "$trace" ] && rm -f "$trace"
out=$(timeout -k 5 100 "$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "rank_lost $scenario: FAIL: timed out (a survivor hung)"
    exit 1
fi
if grep -q "^rank_lost: SKIP" <<<"$out"; then exit 77; fi
# In "head" rank 0 dies: each worker must find it lost and end the job.
if [ "$scenario" = head ]; then
    n=$(grep -cE "rank 0 \(host .*\) lost: no message for" <<<"$out")
    if [ "$n" -lt 1 ] || grep -q "PASS" <<<"$out"; then
        echo "rank_lost head: FAIL: no worker reported rank 0 lost"
        exit 1
    fi
    echo "rank_lost head: PASS ($n worker(s) found rank 0 lost; mpirun exited $rc)"
    exit 0
fi
status=0
# In "stopped" rank 2 was only stopped: when it resumes it must hear that it
# was given up and leave alone, not end the job.
if [ "$scenario" = stopped ]; then
    if ! grep -q "rank 0 found this rank (2) lost" <<<"$out"; then
        echo "rank_lost stopped: FAIL: rank 2 never heard it was given up"
        status=1
    fi
    if grep -qiE "aborting|MPI_ABORT" <<<"$out"; then
        echo "rank_lost stopped: FAIL: the job was aborted"
        status=1
    fi
fi
# In "quiet" nobody dies, and nobody may be taken for lost.
survivors="0 1"
[ "$scenario" = quiet ] && survivors="0 1 2"
if [ "$scenario" = quiet ] && grep -qE "error: rank [0-9]+ \(host .*\) lost" <<<"$out"; then
    echo "rank_lost $scenario: FAIL: a living rank was taken for lost"
    status=1
fi
for r in $survivors; do
    if ! grep -q "^rank_lost $scenario: rank $r PASS" <<<"$out"; then
        echo "rank_lost $scenario: FAIL: rank $r printed no PASS line"
        status=1
    fi
done
if [ "$scenario" != quiet ] && grep -q "^rank_lost $scenario: rank 2 PASS" <<<"$out"; then
    echo "rank_lost $scenario: FAIL: rank 2 was meant to die"
    status=1
fi
if [ "${RELAY_SUMMARY:-0}" = 1 ] && [ "$scenario" != quiet ] &&
    ! grep -qE "^ +2  \(no report" <<<"$out"; then
    echo "rank_lost $scenario: FAIL: rank 0 printed no summary with rank 2 marked \"(no report\""
    status=1
fi
if [ -n "$trace" ] && [ "$scenario" != quiet ]; then
    if [ ! -s "$trace" ]; then
        echo "rank_lost $scenario: FAIL: rank 0 wrote no trace file ($trace)"
        status=1
    elif ! grep -q '"ranks":3,' "$trace" || ! grep -qE '"ranks_traced":[12],' "$trace" ||
        grep -q '"name":"rank 2 (' "$trace"; then
        echo "rank_lost $scenario: FAIL: the trace is not that of ranks 0 (and 1) of 3:"
        tail -c 400 "$trace"
        status=1
    elif command -v python3 >/dev/null 2>&1 &&
        ! python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$trace"; then
        echo "rank_lost $scenario: FAIL: the trace is not valid JSON"
        status=1
    fi
fi
[ $status = 0 ] && echo "rank_lost $scenario: PASS (mpirun exited $rc)"
exit $status
