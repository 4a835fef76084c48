#!/usr/bin/env bash
# Build relay against MPICH (build-mpich/) and run its tests there, beside
# Open MPI, the default MPI of the other passes. Needs the Debian packages
# mpich and libmpich-dev besides those of .ci/deps.sh; Open MPI stays the
# system's default mpicc/mpirun, MPICH is named explicitly (mpicc.mpich,
# mpiexec.mpich). Self-contained on a fresh Debian 12 machine once those
# are installed:
#   bash .ci/mpich.sh          # the core subset (CI)
#   bash .ci/mpich.sh all      # every unit and mpi test
# The core subset runs each multi-rank test program and app
# once, at the rank count that exercises most, with what depends on the
# launcher: crash reports, a rank given up while stopped, idle CPU with 4
# ranks on 2 cores; and the out-of-tree consumers (C, C++, Fortran; CMake
# and pkg-config; shared and static), C++ and Fortran tests. Left out for time: the memory test and the benchmarks,
# and the one-process unit tests but one (they start no mpiexec). "all" leaves out only label "nodes" (the same tests again, a node
# per rank: ctest --test-dir build-mpich -L nodes). On a 2-core machine
# shared with other builds: core subset 57 s, all 280 s; the build before
# them about 3.5 minutes (CUDA found; less without).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/deps.sh
for tool in mpicc.mpich mpiexec.mpich; do
    if ! command -v "$tool" >/dev/null; then
        echo "mpich: $tool not found: install the Debian packages mpich libmpich-dev" >&2
        exit 1
    fi
done
JOBS="$(nproc)"
start=$SECONDS

echo "== MPICH build: build-mpich/ ($(mpichversion 2>/dev/null | head -n 1 | tr -s ' \t' ' '))"
cmake -S . -B build-mpich -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_SANITIZE=OFF \
    -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_APPS=ON -DRELAY_FUZZ=OFF \
    -DMPI_C_COMPILER="$(command -v mpicc.mpich)" \
    -DMPIEXEC_EXECUTABLE="$(command -v mpiexec.mpich)"
cmake --build build-mpich -j"$JOBS"

# One MPI per program: a test linked with MPICH and Open MPI both would
# crash or hang in ways that say nothing about relay.
libs="$(ldd build-mpich/test/test_api)"
if ! grep -q 'libmpich\.so' <<<"$libs" || grep -q 'libmpi\.so' <<<"$libs"; then
    echo "mpich: build-mpich/test/test_api is not linked with MPICH alone:" >&2
    echo "$libs" >&2
    exit 1
fi
echo "== MPICH build linked with $(grep -o 'libmpich\.so[.0-9]*' <<<"$libs") only"

CORE='^(api_serial|api_np4|bad_input_np3|nested_np2_cpus1|refs_in_objects_np3|remote_refs_np3'
CORE+='|causal_refs_np4|ray_cancel_np2|large_object_np3|dataflow_(chain|spill|deadlock|moved|shared)_np3'
CORE+='|errors_timeouts_np2|finalize_(refused|stuck)_np3|ray_wait_np2|idle_cpu_np4'
CORE+='|spill_(workload|corrupt)_np3|actors_np3|ray_returns_np2|resources_(cpu|threads)_np3'
CORE+='|ray_sched_np2|app_(nested|pi|metg|circular|cholesky)_np3|app_heat_np4|ray_actors_np2|crash_(segv|exit)_np3'
CORE+='|rank_lost_stopped_np3|worker_handoff_np2'
CORE+='|clock_np3|gather_np3|trace_full_np3|trace_pi_np3|trace_circular_np3|summary_np3'
CORE+='|cluster_resources_np3'
# Linking from other languages and projects, against this MPI.
CORE+='|consumers|exported_symbols|cpp_headers|cpp_api_cxx(11|20)_np2'
CORE+='|fortran_(constants|api_np3|pi_vs_c)|hdf5_readers_np2|no_cudart_np2)$'
select=(-R "$CORE")
if [ "${1:-core}" = all ]; then
    select=(-LE "fuzz|nodes")
fi
tests=$SECONDS
status=0
ctest --test-dir build-mpich --output-on-failure --no-tests=error "${select[@]}" || status=$?
echo "== MPICH pass (${1:-core}): tests $((SECONDS - tests)) s, whole script $((SECONDS - start)) s," \
    "ctest exit status $status"
exit $status
