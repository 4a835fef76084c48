#!/usr/bin/env bash
# Build relay and run the seed's nested-tasks example on 3 ranks.
# Self-contained on a fresh Debian 12 machine:
#   bash .ci/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash .ci/deps.sh
source .ci/env.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target relay-nested
echo "== mpirun --oversubscribe -np 3 build/apps/relay-nested"
mpirun --oversubscribe -np 3 build/apps/relay-nested
