#!/usr/bin/env bash
# Build relay with ThreadSanitizer (build-tsan/, RELAY_TSAN=ON) and run all
# of its CTest suites there: unit and mpi tests and the apps, every one
# labelled "tsan" unless it says why it cannot run under ThreadSanitizer.
# Self-contained on a fresh Debian 12 machine:
#   bash .ci/tsan.sh
# It is slow: ThreadSanitizer runs the code several times slower (the test
# timeouts are raised to match). On a 2-core machine shared with other
# builds, the 66 tests took 709 s (12 min for the whole script with the
# build already there); the normal suite took 117 s on the same machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/deps.sh
source .ci/env.sh
JOBS="$(nproc)"

echo "== ThreadSanitizer build: build-tsan/ (RELAY_TSAN=ON)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DRELAY_TSAN=ON -DRELAY_SANITIZE=OFF \
    -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_APPS=ON "${RELAY_CI_OPENMPI[@]}"
cmake --build build-tsan -j"$JOBS"

# GCC 12's ThreadSanitizer cannot map its shadow memory when the kernel
# randomises mmap with more than 28 bits (newer kernels' default) and the
# process dies at start; run the suite without address randomisation then.
RUN=()
bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)"
if [ "$bits" -gt 28 ]; then
    echo "== vm.mmap_rnd_bits is $bits: running the suite with setarch -R"
    RUN=(setarch "$(uname -m)" -R)
fi
start=$SECONDS
# The fuzz tests run in the normal pass (they build their own tree), and so
# do the nodes tests (the mpi tests again, a node per rank: they would
# double this pass).
# -j2: the one-process tests two at a time, the others alone (see test.sh).
"${RUN[@]}" ctest --test-dir build-tsan --output-on-failure -LE "fuzz|nodes" -j2
echo "== ThreadSanitizer suite: $((SECONDS - start)) s"
