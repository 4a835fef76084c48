# shellcheck shell=bash
# Sourced by the .ci scripts: Open MPI settings for CI machines and containers.
# Running as root (CI containers) needs Open MPI's explicit consent.
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The tests start more ranks than a small CI machine has cores.
export OMPI_MCA_rmaps_base_oversubscribe=1
# Containers usually forbid the ptrace-based single-copy (CMA) transfers of
# Open MPI's shared-memory transport; copy through shared memory instead.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# CMake arguments naming Open MPI: with MPICH installed too (.ci/mpich.sh),
# the plain mpicc and mpirun are whichever Debian's alternatives choose
# (Open MPI by priority, unless someone set them to MPICH).
# shellcheck disable=SC2034 # used by the scripts that source this file
RELAY_CI_OPENMPI=()
# shellcheck disable=SC2034
if command -v mpicc.openmpi >/dev/null && command -v mpirun.openmpi >/dev/null; then
    RELAY_CI_OPENMPI=(-DMPI_C_COMPILER="$(command -v mpicc.openmpi)"
        -DMPIEXEC_EXECUTABLE="$(command -v mpirun.openmpi)")
fi
