#!/bin/sh
# Regenerate the seed corpus of the fuzz targets (test/fuzz/corpus/) from
# records relay really sends: run programs under mpirun with the capture
# interposer preloaded (capture.c), then keep, for each record type, the
# smallest and the largest record captured (more of the kinds that come in
# many shapes), plus a few whole messages.
#
#   make_corpus.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR: a clang fuzz build with the tests, for instance
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DRELAY_FUZZ=ON -DRELAY_CUDA=OFF
#   cmake --build build-fuzz -j2
# OUT_DIR: default test/fuzz/corpus beside this script (replaced).
#
# Records come first from fuzz_corpus_driver (corpus_driver.c), whose tasks
# are the fuzz targets' own functions; the kinds it cannot provoke come
# from existing tests: PING and PONG (causal_refs: a ref used before its
# maker's record arrived), CANCEL (resources threads: a deadlock victim
# already queued at its rank), FETCH_ERR (spill corrupt: a holder that
# cannot read an object back), SUBSCRIBE, OBJECT, RECALL and RECALLED
# (dataflow alternate and moved: tasks placed ahead of their inputs, taken
# back), CRASH and CRASH_ACK (crash segv), RANK_LOST (rank_lost noretry,
# under --enable-recovery). Every record type of the table (RELAY__RECORD_MAP in
# src/proto/records.h) must have been captured. File names: <record>-N,
# smallest first; msg-N: messages of several records. The ids in them are
# then rewritten as rank 0's (rank0_ids.c): the target is a one-rank job.
set -eu

[ $# -ge 1 ] || { echo "usage: make_corpus.sh BUILD_DIR [OUT_DIR]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
out=${2:-$here/corpus}
lib=$build/test/fuzz/librelay_capture.so
for f in "$lib" "$build/test/fuzz/fuzz_corpus_driver" "$build/test/fuzz/fuzz_rank0_ids" \
    "$build/test/test_causal_refs" "$build/test/test_resources" "$build/test/test_spill" \
    "$build/test/test_dataflow" "$build/test/test_crash" "$build/test/test_rank_lost"; do
    [ -e "$f" ] || { echo "make_corpus.sh: $f missing: build $build first" >&2; exit 1; }
done

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
cap=$(mktemp -d)
trap 'rm -rf "$cap"' EXIT

capture() {
    tag=$1
    shift
    echo "== capturing $tag: $*"
    if ! mpirun -np 3 --oversubscribe -x LD_PRELOAD="$lib" -x RELAY_FUZZ_CAPTURE_DIR="$cap" \
        -x RELAY_FUZZ_CAPTURE_TAG="$tag" "$@" >"$cap/$tag.log" 2>&1; then
        cat "$cap/$tag.log"
        echo "make_corpus.sh: $tag failed" >&2
        exit 1
    fi
}
capture drv -x RELAY_INLINE_MAX=1024 -x RELAY_NUM_GPUS=1 -x RELAY_RESOURCES=fuzzres=4 \
    "$build/test/fuzz/fuzz_corpus_driver"
capture causal -x RELAY_INLINE_MAX=1024 "$build/test/test_causal_refs"
capture threads "$build/test/test_resources" threads
capture corrupt "$build/test/test_spill" corrupt
capture alternate "$build/test/test_dataflow" alternate
capture moved "$build/test/test_dataflow" moved
# CRASH and CRASH_ACK come from a job whose task crashes, RANK_LOST from one
# that loses a rank and goes on: these jobs end with a non-zero status.
capture_dying() {
    tag=$1
    shift
    echo "== capturing $tag (the job dies): $*"
    mpirun -np 3 --oversubscribe -x LD_PRELOAD="$lib" -x RELAY_FUZZ_CAPTURE_DIR="$cap" \
        -x RELAY_FUZZ_CAPTURE_TAG="$tag" "$@" >"$cap/$tag.log" 2>&1 || true
}
capture_dying crash "$build/test/test_crash" segv
capture_dying lost --enable-recovery -x RELAY_RANK_TIMEOUT=2 "$build/test/test_rank_lost" noretry

# Files matching a pattern, smallest first.
by_size() {
    for f in "$cap"/$1; do
        [ -e "$f" ] && echo "$(wc -c <"$f") $f"
    done | sort -n | cut -d' ' -f2
}

rm -rf "$out"
mkdir -p "$out"
# n files spread evenly over a list sorted by size (all when fewer).
spread() {
    total=$(echo "$2" | grep -c .)
    k=0
    while [ $k -lt "$1" ] && [ $k -lt "$total" ]; do
        if [ "$1" -ge "$total" ] || [ "$1" -eq 1 ]; then
            i=$((k + 1))
        else
            i=$((1 + k * (total - 1) / ($1 - 1)))
        fi
        echo "$2" | sed -n "${i}p"
        k=$((k + 1))
    done
}
# The record types in the order of the table, RELAY__RECORD_MAP
# (src/proto/records.h): type = position, from 1.
names=$(sed -n 's/^ *X(\([A-Z_]*\), *[A-Z0-9]*).*/\1/p' "$here/../../src/proto/records.h" |
    tr 'A-Z' 'a-z')
[ -n "$names" ] || { echo "make_corpus.sh: no record table in records.h" >&2; exit 1; }
# SUBMIT, TASK and DONE come in many shapes (kinds of task, options,
# arguments): more of them are kept.
t=0
for name in $names; do
    t=$((t + 1))
    files=$(by_size "$t.drv.*")
    [ -n "$files" ] || files=$(by_size "$t.*")
    if [ -z "$files" ]; then
        echo "make_corpus.sh: no $name record (type $t) was captured" >&2
        exit 1
    fi
    case $name in
    submit) keep=$(spread 16 "$files") ;;
    task) keep=$(spread 8 "$files") ;;
    done) keep=$(spread 4 "$files") ;;
    *)
        first=$(echo "$files" | head -n 1)
        last=$(echo "$files" | tail -n 1)
        keep=$first
        [ "$(wc -c <"$first")" -eq "$(wc -c <"$last")" ] || keep="$first $last"
        ;;
    esac
    # A constructor (the one record whose function is the class) carries
    # fields no other kind has: keep the smallest if the spread missed it.
    if [ "$name" = submit ] || [ "$name" = task ]; then
        ctor=$(for f in $files; do grep -q FuzzCounter "$f" && { echo "$f"; break; }; done)
        [ -z "$ctor" ] || echo "$keep" | grep -qx "$ctor" || keep="$keep $ctor"
    fi
    k=0
    for f in $keep; do
        k=$((k + 1))
        cp "$f" "$out/$name-$k"
    done
done
# Whole messages of the driver: the smallest, the largest and two between.
msgs=$(by_size "msg.drv.*")
n=$(echo "$msgs" | grep -c . || true)
k=0
for i in 1 $((n / 3 + 1)) $((2 * n / 3 + 1)) "$n"; do
    [ "$n" -gt 0 ] || break
    f=$(echo "$msgs" | sed -n "${i}p")
    k=$((k + 1))
    cp "$f" "$out/msg-$k"
done
# The target runs one rank: ids of ranks 1 and 2 become ids of rank 0.
"$build/test/fuzz/fuzz_rank0_ids" "$out"/*
echo "make_corpus.sh: $(ls "$out" | wc -l) seeds in $out"
