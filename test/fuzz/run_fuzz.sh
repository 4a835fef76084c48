#!/bin/sh
# Fuzz a relay libFuzzer target for a while on a copy of its seed corpus:
# the CTest test fuzz_dispatch, and the way to run it by hand.
#
#   run_fuzz.sh --exe PATH                       a target already built, or
#   run_fuzz.sh --clang CLANG --source DIR --build DIR --target NAME
#                                                build it first, with CLANG, in
#                                                the build tree DIR (kept: the
#                                                next run only rebuilds what changed)
#   common: --corpus DIR (seeds, left untouched) --work DIR (scratch: the
#           growing corpus, and artifacts/ where findings are written)
#           [--seconds N] (default 30) [-- extra libFuzzer options]
#   or, instead of fuzzing: --replay DIR   run the target once on every file
#           of DIR (README.md aside), the inputs of crashes/ (CTest's
#           fuzz_regressions); --corpus is not needed then
#
# Environment: RELAY_FUZZ_TIMEOUT (seconds one input may take, default 10:
# more is a hang), RELAY_FUZZ_JOBS (build jobs, default 2).
#
# Exit: 0 nothing found; 1 a finding (crash, leak, timeout, out of memory:
# the input is in WORK/artifacts/) or a failed build; 77 (CTest's skip) when
# fuzzing is unavailable: no clang, or a clang without libFuzzer.
set -u

exe= clang= source= build= target= corpus= work= seconds=30 replay=
while [ $# -gt 0 ]; do
    case "$1" in
    --exe) exe=$2; shift 2 ;;
    --clang) clang=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --target) target=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --replay) replay=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run_fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if { [ -z "$corpus" ] && [ -z "$replay" ]; } || [ -z "$work" ] ||
    { [ -z "$exe" ] && [ -z "$target" ]; }; then
    echo "run_fuzz.sh: --corpus or --replay, --work and --exe or --target are required" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work" || exit 1

if [ -z "$exe" ]; then
    if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
        echo "run_fuzz.sh: no clang: fuzzing skipped"
        exit 77
    fi
    # libFuzzer ships apart from clang on some systems.
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n ? 0 : 0; }\n' \
        >"$work/probe.c"
    if ! "$clang" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" \
        >"$work/probe.log" 2>&1; then
        echo "run_fuzz.sh: $clang cannot build libFuzzer targets: fuzzing skipped"
        cat "$work/probe.log"
        exit 77
    fi
    echo "== configuring and building $target with $clang in $build"
    cmake -S "$source" -B "$build" -DCMAKE_C_COMPILER="$clang" -DRELAY_FUZZ=ON \
        -DRELAY_BUILD_TESTS=OFF -DRELAY_BUILD_APPS=OFF -DRELAY_CUDA=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$work/configure.log" 2>&1 || {
        cat "$work/configure.log"
        echo "run_fuzz.sh: configuring the clang build failed"
        exit 1
    }
    cmake --build "$build" --target "$target" -j "${RELAY_FUZZ_JOBS:-2}" || {
        echo "run_fuzz.sh: building $target with clang failed"
        exit 1
    }
    exe=$build/test/fuzz/$target
fi

# One process, no mpirun: Open MPI still wants consent to run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:suppressions=$here/../asan.supp}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0:use_tls=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ -n "$replay" ]; then
    # Every input once, in name order (the names have no blanks); the first
    # crash, leak or hang stops the run.
    inputs=$(ls "$replay" | grep -v '^README.md$' | sed "s|^|$replay/|")
    if [ -z "$inputs" ]; then
        echo "run_fuzz.sh: no input in $replay"
        exit 1
    fi
    rm -rf "$work/artifacts"
    mkdir -p "$work/artifacts" || exit 1
    echo "== replaying $(echo "$inputs" | wc -l) inputs of $replay with $exe"
    # shellcheck disable=SC2086
    "$exe" -timeout="${RELAY_FUZZ_TIMEOUT:-10}" -error_exitcode=1 -timeout_exitcode=1 \
        -artifact_prefix="$work/artifacts/" "$@" $inputs
    rc=$?
    [ $rc -eq 0 ] || echo "run_fuzz.sh: an input of $replay crashed, leaked or hung (exit $rc)"
    exit $rc
fi

# The target's corpus grows: fuzz a copy, never the seeds in the source tree.
rm -rf "$work/corpus" "$work/artifacts"
mkdir -p "$work/corpus" "$work/artifacts" || exit 1
cp "$corpus"/* "$work/corpus/" 2>/dev/null

# libFuzzer reports its own findings with exit code 77 unless told
# otherwise: CTest would read that as a skip.
echo "== fuzzing $exe for $seconds s"
"$exe" -max_total_time="$seconds" -timeout="${RELAY_FUZZ_TIMEOUT:-10}" -max_len=4096 \
    -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$@" "$work/corpus"
rc=$?
if [ $rc -ne 0 ]; then
    echo "run_fuzz.sh: $exe found a problem (exit $rc); inputs:"
    ls -l "$work/artifacts"
    echo "replay one with: $exe <input>"
    exit 1
fi
exit 0
