#!/usr/bin/env bash
# The job scripts in hpc-jobs/ outside Slurm: srun and mpirun are stubs that
# record their command lines, so this checks what each script launches for
# the variables Slurm and the user set (sizes, launcher flags, GPUs per task
# or per node). .ci/slurm.sh runs the same scripts under a real Slurm.
# Usage: hpc_jobs.sh <repository root>
set -u
jobs="$1/hpc-jobs"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/build/apps"
for stub in srun mpirun; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/launched"\n' "$stub" "$tmp" >"$tmp/bin/$stub"
    chmod +x "$tmp/bin/$stub"
done
# gpu.sbatch runs relay-gpu-saxpy only where the build has it.
: >"$tmp/build/apps/relay-gpu-saxpy"
chmod +x "$tmp/build/apps/relay-gpu-saxpy"
apps="$tmp/build/apps"
failed=0

# run NAME WANT-RC SCRIPT [VAR=value...]: run SCRIPT with a clean Slurm-like
# environment plus the variables; its launches end up in $tmp/launched.
run() {
    local name="$1" want="$2" script="$3" rc
    shift 3
    : >"$tmp/launched"
    env -i PATH="$tmp/bin:$PATH" HOME="$tmp" SLURM_JOB_ID=1 SLURM_NTASKS=3 \
        SLURM_CPUS_PER_TASK=2 RELAY_BUILD="$tmp/build" "$@" \
        bash "$jobs/$script" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL $name: exit code $rc, want $want"
        sed 's/^/    | /' "$tmp/out"
        failed=1
    fi
}

# expect NAME LINE...: the launches were exactly these lines, in order.
expect() {
    local name="$1"
    shift
    local want=("$@")
    if ! diff <(((${#want[@]})) && printf '%s\n' "${want[@]}") "$tmp/launched" >"$tmp/diff"; then
        echo "FAIL $name: launched (> got, < want):"
        sed 's/^/    | /' "$tmp/diff"
        failed=1
    else
        echo "ok   $name"
    fi
}

run nested-srun 0 nested.sbatch RELAY_SRUN_FLAGS=--mpi=pmix
expect nested-srun "srun --cpus-per-task=2 --mpi=pmix $apps/relay-nested"

run nested-mpirun 0 nested.sbatch RELAY_LAUNCH=mpirun RELAY_MPIRUN_FLAGS="--bind-to none"
expect nested-mpirun "mpirun --map-by slot:PE=2 --bind-to none $apps/relay-nested"

run pi-sizes 0 pi.sbatch PI_TASKS=8 PI_SAMPLES=1000 RELAY_SRUN_FLAGS=--mpi=pmix
expect pi-sizes "srun --cpus-per-task=2 --mpi=pmix $apps/relay-pi -n 8 -m 1000"

run pi-defaults 0 pi.sbatch
expect pi-defaults "srun --cpus-per-task=2 $apps/relay-pi -n 1024 -m 10000000"

# One GPU per rank, as the script asks by default.
run gpu-per-task 0 gpu.sbatch SLURM_GPUS_PER_TASK=1 RELAY_SRUN_FLAGS=--mpi=pmix
expect gpu-per-task \
    "srun --cpus-per-task=2 --gpus-per-task=1 --mpi=pmix $apps/relay-circular" \
    "srun --cpus-per-task=2 --gpus-per-task=1 --mpi=pmix $apps/relay-gpu-saxpy -n 16777216"

# Submitted with --gpus-per-task=0 --gres=gpu:1: the step asks for the
# node's GPU, which every rank then sees.
run gpu-per-node 0 gpu.sbatch SLURM_GPUS_PER_TASK=0 SLURM_GPUS_ON_NODE=1 SAXPY_N=4096
expect gpu-per-node \
    "srun --cpus-per-task=2 --gres=gpu:1 $apps/relay-circular" \
    "srun --cpus-per-task=2 --gres=gpu:1 $apps/relay-gpu-saxpy -n 4096"

run gpu-no-saxpy 0 gpu.sbatch SAXPY_N=0
expect gpu-no-saxpy "srun --cpus-per-task=2 --gpus-per-task=1 $apps/relay-circular"
if ! grep -q '^relay-gpu-saxpy not run (SAXPY_N=0)$' "$tmp/out"; then
    echo "FAIL gpu-no-saxpy: the script does not say it skipped relay-gpu-saxpy"
    failed=1
fi

run bad-launcher 2 nested.sbatch RELAY_LAUNCH=aprun
expect bad-launcher

exit "$failed"
