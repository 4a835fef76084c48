#!/usr/bin/env bash
# Start a single-node Slurm on this machine and run every job script in
# hpc-jobs/ with sbatch, shrunk to the machine, checking each job's output.
# Needs root and the Debian packages slurmctld slurmd slurm-client munge
# (which bring slurm-wlm-basic-plugins, holding the pmix plugin), installed
# here when missing. Uses a build that already exists (default build/, or
# the first argument), run after .ci/deps.sh and the normal pass's build:
#   bash .ci/slurm.sh [build-dir]
# Everything it starts (its own munged, slurmctld, slurmd) listens on its own
# socket and ports and keeps its configuration, state and logs under
# $RELAY_SLURM_DIR (default /tmp/relay-slurm); all of it is stopped and
# removed on exit, failure included, and a run killed before it could clean
# up is cleaned up by the next one. The run writes nothing under /etc
# (SLURM_CONF points at the private slurm.conf).
# Variables: RELAY_SLURM_DIR, RELAY_SLURM_PORT (slurmctld's port; slurmd
# uses the next), RELAY_SLURM_CPUS (CPUs the node declares, default the
# larger of nproc and 4, so that 3 ranks of 1 CPU fit on a 2-core machine),
# RELAY_SLURM_TIMEOUT (seconds a job may take, default 120),
# RELAY_SLURM_KEEP=1 (leave the daemons running and the directory in place,
# to look at by hand).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd)"

BUILD="$(realpath "${1:-build}")"
DIR="${RELAY_SLURM_DIR:-/tmp/relay-slurm}"
PORT="${RELAY_SLURM_PORT:-16817}"
JOB_TIMEOUT="${RELAY_SLURM_TIMEOUT:-120}"
HOST="$(hostname -s)"
CPUS="${RELAY_SLURM_CPUS:-$(($(nproc) > 4 ? $(nproc) : 4))}"

say() { echo "slurm: $*"; }
die() {
    echo "slurm: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
# What it needs beyond .ci/deps.sh (the recommended extra plugins are not;
# Slurm's PMIx plugin opens libpmix.so, which libopenmpi-dev brings).
PACKAGES=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for cmd in munged mungekey slurmctld slurmd sbatch scontrol sinfo squeue scancel; do
    command -v "$cmd" >/dev/null || die "$cmd not found: install ${PACKAGES[*]}"
done
for app in relay-nested relay-pi relay-circular; do
    [ -x "$BUILD/apps/$app" ] || die "$BUILD/apps/$app not found: build first (cmake --build $BUILD)"
done

source .ci/env.sh

# Stop the processes a run started, named by the pid files it wrote, and only
# while the pid still belongs to one of them.
stop_pidfile() {
    local file="$1" pid
    alive "$file" || return 0
    pid="$(cat "$file")"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# alive PIDFILE: the process it names runs with an argument under $DIR, so
# it is one this script started (here or in a run killed before its trap).
alive() {
    [ -s "$1" ] && tr '\0' '\n' <"/proc/$(cat "$1")/cmdline" 2>/dev/null | grep -qF "$DIR/"
}

stop_all() {
    # Cancel every job of this private cluster first: with
    # proctrack/linuxproc, job steps would outlive slurmd.
    if alive "$DIR/slurmctld.pid"; then
        SLURM_CONF="$DIR/slurm.conf" timeout 10 scancel --partition=ci 2>/dev/null || true
        for _ in $(seq 80); do
            [ -z "$(SLURM_CONF="$DIR/slurm.conf" timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    # slurmd before slurmctld, munged last: both daemons authenticate through it.
    stop_pidfile "$DIR/slurmd.pid"
    stop_pidfile "$DIR/slurmctld.pid"
    stop_pidfile "$DIR/munge/munged.pid"
}

cleanup() {
    local rc=$?
    if [ "${RELAY_SLURM_KEEP:-0}" = 1 ]; then
        say "kept running: export SLURM_CONF=$DIR/slurm.conf; logs in $DIR"
        exit "$rc"
    fi
    local t=$SECONDS
    stop_all
    say "stopped in $((SECONDS - t)) s"
    if pgrep -af "$DIR/" >&2; then
        echo "slurm: the processes above are still running" >&2
        ((rc)) || rc=1
    fi
    rm -rf "$DIR"
    exit "$rc"
}

# A previous run that was killed before its trap ran: stop what it started.
if [ -e "$DIR" ]; then
    # Only ever remove a directory this script made (it holds the marker).
    [ -e "$DIR/.relay-ci-slurm" ] || [ -z "$(ls -A "$DIR")" ] ||
        die "$DIR exists and is not a directory of an earlier run: set RELAY_SLURM_DIR elsewhere"
    say "cleaning up a previous run in $DIR"
    stop_all
    rm -rf "$DIR"
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
mkdir -p "$DIR"
: >"$DIR/.relay-ci-slurm"
mkdir "$DIR"/{state,spool,out}
chmod 755 "$DIR"
# munged insists on a private key directory and a socket everyone can reach.
mkdir -m 700 "$DIR/munge"
mungekey --create --keyfile="$DIR/munge/munge.key"
munged --socket="$DIR/munge.sock" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed"

# GPUs: the NVIDIA device files (where a container shows some of a
# machine's GPUs, they need not start at /dev/nvidia0).
mapfile -t GPU_FILES < <(find /dev -maxdepth 1 -regex '/dev/nvidia[0-9]+' | sort -V)
GPUS=${#GPU_FILES[@]}
GRES_NODE=""
GRES_TYPES=""
FAKE_GPUS=0
if [ -n "${RELAY_SLURM_GPUS:-}" ] && ((RELAY_SLURM_GPUS != GPUS)); then
    # GPUs without devices behind them, to try the GPU job's submission where
    # there is none: Slurm wants a file per GPU (and logs that it is no
    # device); relay-circular then schedules virtual GPUs.
    GPUS="$RELAY_SLURM_GPUS"
    FAKE_GPUS=1
    mkdir "$DIR/fake-gpu"
    for ((i = 0; i < GPUS; i++)); do : >"$DIR/fake-gpu/$i"; done
    echo "AutoDetect=off" >"$DIR/gres.conf"
    ((GPUS == 0)) || echo "Name=gpu File=$DIR/fake-gpu/[0-$((GPUS - 1))]" >>"$DIR/gres.conf"
elif ((GPUS > 0)); then
    echo "AutoDetect=off" >"$DIR/gres.conf"
    printf 'Name=gpu File=%s\n' "${GPU_FILES[@]}" >>"$DIR/gres.conf"
fi
if ((GPUS > 0)); then
    GRES_NODE="Gres=gpu:$GPUS"
    GRES_TYPES="GresTypes=gpu"
fi

MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 9 / 10240))
: >"$DIR/plugstack.conf"
cat >"$DIR/slurm.conf" <<EOF
# Single-node Slurm for relay's CI (.ci/slurm.sh); everything under $DIR.
ClusterName=relayci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.sock
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# The node may declare more CPUs than it has (RELAY_SLURM_CPUS).
SlurmdParameters=config_overrides
MinJobAge=600
# A cancelled job's processes get SIGKILL 5 s after SIGTERM (not 30), so a
# run stopped midway cleans up quickly.
KillWait=5
$GRES_TYPES
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB $GRES_NODE State=UNKNOWN
PartitionName=ci Nodes=$HOST Default=YES MaxTime=30 State=UP
EOF
export SLURM_CONF="$DIR/slurm.conf"

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
say "waiting for node $HOST ($CPUS CPUs, $GPUS GPUs) to be idle"
state=""
for _ in $(seq 120); do
    state="$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)"
    case "$state" in idle | inval | drain* | down*) break ;; esac
    sleep 0.5
done
if [ "$state" != idle ]; then
    tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
    die "node state '$state', not idle"
fi
say "Slurm up in $((SECONDS - T0)) s"

FAILED=()

# job NAME SCRIPT [VAR=value | /REGEX/]... -- [sbatch option]...: submit
# SCRIPT from the repository root with the variables set, wait for it, and
# check that it completed with exit code 0, printed a line matching each
# /REGEX/ (extended) exactly once, and printed no relay error.
job() {
    local name="$1" script="$2" envs=() expects=() id out t=$SECONDS
    shift 2
    while (($#)) && [ "$1" != -- ]; do
        case "$1" in
        /*/) expects+=("${1:1:${#1}-2}") ;;
        *) envs+=("$1") ;;
        esac
        shift
    done
    shift
    out="$DIR/out/$name.out"
    if ! id="$(env "${envs[@]}" RELAY_BUILD="$BUILD" sbatch --parsable --chdir="$REPO" \
        --output="$out" --time=5 "$@" "$script")"; then
        say "FAIL $name (sbatch refused it)"
        FAILED+=("$name")
        return
    fi
    local info="" st="" ec="" ok=1 n
    while :; do
        info="$(scontrol -o show job "$id" 2>/dev/null || true)"
        st="$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2 || true)"
        case "$st" in PENDING | CONFIGURING | RUNNING | COMPLETING | "") ;; *) break ;; esac
        if ((SECONDS - t >= JOB_TIMEOUT)); then
            st="$st, timed out after $JOB_TIMEOUT s"
            break
        fi
        sleep 0.5
    done
    ec="$(grep -o ' ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2 || true)"
    [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] || ok=0
    local missing=() e
    for e in "${expects[@]}"; do
        n="$(grep -cE "$e" "$out" 2>/dev/null || true)"
        [ "$n" = 1 ] || missing+=("/$e/ (seen ${n:-0} times)")
    done
    ((${#missing[@]} == 0)) || ok=0
    # relay's own errors, and the apps' (each prefixed with the app's name;
    # the scripts' first line is not one).
    if grep -E '^\[relay [0-9.]+ r[0-9?]+ [^]]*\] error|^relay-[a-z-]+: ' "$out" 2>/dev/null |
        grep -vqE '^relay-[a-z-]+: job '; then
        ok=0
    fi
    LAST_JOB_ID="$id"
    if ((ok)); then
        say "PASS $name (job $id, $((SECONDS - t)) s)"
    else
        say "FAIL $name (job $id: state ${st:-?}, exit code ${ec:-?}${missing[*]:+, want once each: ${missing[*]}})"
        FAILED+=("$name")
        scancel "$id" 2>/dev/null || true
    fi
    sed 's/^/    | /' "$out" 2>/dev/null || true
}

# trace_of NAME FILE: the job NAME left the timeline FILE (RELAY_TRACE),
# and it is a valid trace of 3 ranks (test/trace_check.py, when python3
# is here).
trace_of() {
    local name="$1" file="$2"
    if [ ! -s "$file" ]; then
        say "FAIL $name: no trace file $file"
        FAILED+=("$name-trace")
    elif command -v python3 >/dev/null && ! python3 "$REPO/test/trace_check.py" "$file" --ranks 3 \
        --min-flows 1; then
        say "FAIL $name: $file is not a valid trace"
        FAILED+=("$name-trace")
    else
        say "PASS $name left its timeline in $file"
    fi
}

# Open MPI started by srun needs Slurm's PMIx plugin: --mpi=pmix.
PMIX=RELAY_SRUN_FLAGS=--mpi=pmix
PI_SIZE=(PI_TASKS=32 PI_SAMPLES=200000)

NESTED_OK='/^get\(h\(\)\) -> \[1, 1, 1, 1\]$/'
PI_OK='/^tasks run: .* on 3 ranks$/'
job nested-srun hpc-jobs/nested.sbatch "$NESTED_OK" "$PMIX" -- --nodes=1 --ntasks=3 --cpus-per-task=1
# With a timeline named after the job ("%j": its id), as a user would ask.
job pi-srun hpc-jobs/pi.sbatch "$PI_OK" "$PMIX" "${PI_SIZE[@]}" \
    RELAY_TRACE="$DIR/out/relay-trace-%j.json" -- --nodes=1 --ntasks-per-node=3 --cpus-per-task=1
trace_of pi-srun "$DIR/out/relay-trace-$LAST_JOB_ID.json"
# Open MPI's mpirun inside the allocation: it reads the allocation and starts
# its daemons with srun, so it needs no PMI plugin.
job nested-mpirun hpc-jobs/nested.sbatch "$NESTED_OK" RELAY_LAUNCH=mpirun -- --nodes=1 --ntasks=3 --cpus-per-task=1
job pi-mpirun hpc-jobs/pi.sbatch "$PI_OK" RELAY_LAUNCH=mpirun "${PI_SIZE[@]}" -- --nodes=1 --ntasks-per-node=3 --cpus-per-task=1

if ((GPUS == 0)); then
    say "SKIP gpu.sbatch: no GPU on this node (no /dev/nvidia<N>)"
else
    GPU_OK=('/^get\(g\(\)\) returned/' '/^g2 \(1 GPU\) waited/')
    if ((FAKE_GPUS)); then
        GPU_OK+=(SAXPY_N=0 '/^relay-gpu-saxpy not run/')
    elif [ -x "$BUILD/apps/relay-gpu-saxpy" ]; then
        GPU_OK+=(SAXPY_N=1048576 '/^saxpy on rank [0-9]+, GPU [0-9]+: .* 0 of 1048576 elements wrong$/')
    else
        GPU_OK+=('/^relay-gpu-saxpy was not built/')
    fi
    if ((GPUS >= 2)); then
        # One GPU per rank, as the script asks (the driver's goes unused).
        job gpu-srun hpc-jobs/gpu.sbatch "${GPU_OK[@]}" "$PMIX" -- \
            --nodes=1 --ntasks="$((GPUS > 4 ? 4 : GPUS))" --cpus-per-task=1
    else
        # One GPU for two ranks: the node's GPU, dealt out by relay to the worker.
        job gpu-srun hpc-jobs/gpu.sbatch "${GPU_OK[@]}" "$PMIX" -- \
            --nodes=1 --ntasks=2 --cpus-per-task=1 --gpus-per-task=0 --gres=gpu:1
    fi
fi

say "done in $((SECONDS - T0)) s"
if ((${#FAILED[@]})); then
    for f in "$DIR"/slurmctld.log "$DIR"/slurmd.log; do
        echo "== tail of $f"
        tail -n 30 "$f" || true
    done
    die "failed: ${FAILED[*]}"
fi
