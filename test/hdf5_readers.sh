#!/bin/bash
# Runs test_hdf5_readers (the run command, given after the script and the
# Python check) with its spill files kept in a directory of its own, then
# reads what it left with h5dump and with h5py (hdf5_readers.py): plain
# bytes and arrays need no special handling. Skips (77) when h5py is
# absent, after the h5dump checks.
# usage: hdf5_readers.sh <hdf5_readers.py> <run command...>
set -u
py=$1
shift
fail() { echo "hdf5_readers: FAIL: $*" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/relay-hdf5-readers-XXXXXX") || fail "no temporary directory"
trap 'chmod -R u+w "$dir"; rm -rf "$dir"' EXIT

RELAY_SPILL_DIR=$dir RELAY_SPILL_KEEP=1 RELAY_STORE_BUDGET=0 "$@" "$dir" || fail "the run failed"
spill=$(ls "$dir"/relay-*-0.h5) || fail "no spill file of rank 0 kept in $dir"
read -r _ bytes < <(grep '^bytes ' "$dir/expect.txt")

if command -v h5dump >/dev/null; then
    out=$(h5dump -d "/$bytes" "$spill" 2>&1) || fail "h5dump of $spill:/$bytes: $out"
    echo "$out" | head -n 30
    grep -q "H5T_STD_U8LE" <<<"$out" || fail "h5dump: the bytes are not uint8"
    grep -q '"bytes"' <<<"$out" || fail "h5dump: no relay_dtype \"bytes\""
    out=$(h5dump "$dir/saved.h5" 2>&1) || fail "h5dump of saved.h5: $out"
    grep -q "relay_version" <<<"$out" || fail "h5dump: saved.h5 has no relay_version"
else
    echo "hdf5_readers: no h5dump (hdf5-tools): its checks are skipped" >&2
fi

for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import h5py" 2>/dev/null; then
        "$p" "$py" "$dir" || fail "h5py read other values or attributes"
        echo "hdf5_readers: PASS"
        exit 0
    fi
done
echo "hdf5_readers: SKIP: no python3 with h5py (python3-h5py)" >&2
exit 77
