#!/bin/bash
# A CPU-only program built against relay with CUDA needs no libcudart:
#  1. neither the program nor relay's library (when shared) names
#     libcudart among its NEEDED entries, nor pulls it in through another;
#  2. the program starts and runs tasks with the directory that holds
#     libcudart hidden (an empty tmpfs over it, in a mount namespace of
#     its own), and relay says it found no CUDA runtime. Root only: skipped
#     (77) elsewhere, or where the namespace or the mount is refused.
# usage: no_cudart.sh <relay library> <libcudart's directory> <program> <run command...>
set -u
lib=$1 dir=$2 prog=$3
shift 3
skip() { echo "no_cudart: SKIP: $*" >&2; exit 77; }
fail() { echo "no_cudart: FAIL: $*" >&2; exit 1; }

command -v readelf >/dev/null || skip "no readelf"
for f in "$prog" "$lib"; do
    case $f in *.a) continue ;; esac
    needed=$(readelf -d "$f" | grep NEEDED) || true
    echo "$f needs:"$'\n'"$needed"
    if grep -q libcudart <<<"$needed"; then fail "$f has libcudart among its NEEDED"; fi
    if ldd "$f" | grep libcudart; then fail "$f loads libcudart through a library it needs"; fi
done

[ "$(id -u)" = 0 ] || skip "not root: cannot hide $dir in a mount namespace"
command -v unshare >/dev/null || skip "no unshare"
unshare --mount --fork true 2>/dev/null || skip "unshare --mount is refused here"
# The toolkit's directory and wherever the loader's cache finds libcudart.
hide=$( (realpath -e "$dir"; ldconfig -p | sed -n 's/.*libcudart.* => \(.*\)$/\1/p' |
    xargs -r -n1 dirname | xargs -r realpath -e) 2>/dev/null | sort -u | tr '\n' ' ')
echo "hiding: $hide"
# shellcheck disable=SC2016
out=$(RELAY_LOG_LEVEL=3 unshare --mount --fork bash -c '
    for d in $0; do
        mount -t tmpfs -o size=64k relay-no-cudart "$d" || exit 77
        if ls "$d"/libcudart* 2>/dev/null; then echo "libcudart still there"; exit 1; fi
    done
    exec "$@"' "$hide" "$@" 2>&1)
rc=$?
echo "$out" | grep -v "debug:" | tail -n 40
echo "$out" | grep "gpu:"
[ $rc = 77 ] && skip "cannot mount a tmpfs over $dir"
[ $rc = 0 ] || fail "the program failed with libcudart hidden (exit $rc)"
grep -q "cpu_only: PASS" <<<"$out" || fail "the program did not finish"
grep -q "no CUDA runtime" <<<"$out" || fail "relay did not say it found no CUDA runtime"
echo "no_cudart: PASS"
