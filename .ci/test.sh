#!/usr/bin/env bash
# Build relay and run its CTest suites: with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/), with ThreadSanitizer
# (build-tsan/, .ci/tsan.sh), the core subset against MPICH (build-mpich/,
# .ci/mpich.sh), then a normal optimised build (build/), whose Slurm job
# scripts run under a single-node Slurm (.ci/slurm.sh, as root) and which
# alone also runs the fuzz tests (label "fuzz": they build their own clang
# tree and fuzz the record decoders for a bounded time) and the nodes tests
# (label "nodes": the mpi tests again with every rank a node of its own,
# which would double the sanitizer passes; run them there by hand with
# ctest -L nodes). The normal pass runs last so that the last lines printed
# are its ctest summary.
# Self-contained on a fresh Debian 12 machine:
#   bash .ci/test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/deps.sh
source .ci/env.sh
JOBS="$(nproc)"
# ctest -j2 (here, in tsan.sh): the one-process tests (PROCESSORS 1: unit
# tests, np1 runs) go two at a time; every other test asks for as many
# processors as it starts ranks (2 or more, consumers and the fuzz test 2)
# and so still runs alone, whatever the machine; idle_cpu and
# worker_handoff are RUN_SERIAL besides. Two, not nproc: on a larger
# machine nproc would put multi-rank tests side by side, whose waits are
# sized for a machine they have to themselves.
CTEST_JOBS=2

echo "== sanitizer build: build-asan/ (RELAY_SANITIZE=ON)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRELAY_SANITIZE=ON \
    -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_APPS=ON "${RELAY_CI_OPENMPI[@]}"
cmake --build build-asan -j"$JOBS"
ctest --test-dir build-asan --output-on-failure -LE "fuzz|nodes" -j"$CTEST_JOBS"

bash .ci/tsan.sh

# The core tests again against MPICH (build-mpich/).
bash .ci/mpich.sh

echo "== release build: build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAY_SANITIZE=OFF \
    -DRELAY_BUILD_TESTS=ON -DRELAY_BUILD_APPS=ON "${RELAY_CI_OPENMPI[@]}"
cmake --build build -j"$JOBS"
# The Slurm job scripts of hpc-jobs/ under a single-node Slurm (root only:
# it starts munged, slurmctld and slurmd).
if [ "$(id -u)" -eq 0 ]; then
    bash .ci/slurm.sh build
else
    echo "== Slurm jobs skipped: .ci/slurm.sh needs root"
fi
ctest --test-dir build --output-on-failure -j"$CTEST_JOBS"
