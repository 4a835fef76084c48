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
