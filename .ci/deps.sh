#!/usr/bin/env bash
# Install what relay needs to build and test on Debian 12 (or Ubuntu).
# Does nothing when every package is already installed.
set -euo pipefail

# clang and its runtime libraries (libFuzzer) build the fuzz targets.
PACKAGES=(build-essential cmake openmpi-bin libopenmpi-dev libhdf5-dev hdf5-tools pkg-config gfortran mpich libmpich-dev python3-h5py libopenblas-dev liblapacke-dev
    clang libclang-rt-dev)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} == 0)); then
    echo "deps: ${PACKAGES[*]} already installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
