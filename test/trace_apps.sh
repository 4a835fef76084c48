#!/bin/bash
# The RELAY_TRACE tests (test/CMakeLists.txt registers them):
#
#   trace_apps.sh --selftest <trace_check_selftest.py>
#       runs the checker's own test with python3.
#   trace_apps.sh <trace_check.py> <trace.json> [checker options] -- <run command...>
#       runs the command with RELAY_TRACE=<trace.json> (a stale file is
#       removed first), fails if it fails or writes no trace, then checks
#       the trace with trace_check.py and the options given. The extra
#       option --tasks-from-output passes --tasks N, N from the line
#       "tasks run: N ..." the run printed (relay-pi). Under RELAY_NODES
#       (the _nodes variant, same arguments) the file is <trace>_nodes.json,
#       so the two can run at once. The trace is kept for a viewer.
#   trace_apps.sh --untraced -- <run command...>
#       runs the command with RELAY_TRACE unset in an empty directory of
#       its own, which must still be empty of trace files afterwards.
#
# Skips (77) where no python3 runs the checker; a missing trace always fails.
set -u
me=trace_apps
fail() { echo "$me: FAIL: $*" >&2; exit 1; }

python=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c "import json" 2>/dev/null; then
        python=$p
        break
    fi
done
skip_without_python() {
    [ -n "$python" ] && return
    echo "$me: SKIP: no python3 to run $1" >&2
    exit 77
}

if [ "${1:-}" = "--selftest" ]; then
    skip_without_python "$2"
    exec "$python" "$2"
fi

if [ "${1:-}" = "--untraced" ]; then
    [ "${2:-}" = "--" ] || fail "usage: trace_apps.sh --untraced -- <run command...>"
    shift 2
    dir=$(mktemp -d "$PWD/trace-untraced-XXXXXX") || fail "no directory of its own in $PWD"
    trap 'rm -rf "$dir"' EXIT
    (cd "$dir" && env -u RELAY_TRACE "$@") || fail "the run failed (exit $?)"
    # relay-trace-*.json, or a trace under any other name.
    found=$(cd "$dir" && ls -d ./*.json 2>/dev/null)
    [ -z "$found" ] || fail "RELAY_TRACE unset, yet the run wrote $found in its working directory"
    echo "$me: PASS: no trace file without RELAY_TRACE"
    exit 0
fi

[ $# -ge 3 ] || fail "usage: trace_apps.sh <trace_check.py> <trace.json> [options] -- <command...>"
checker=$1
trace=$2
shift 2
opts=()
tasks_from_output=0
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    if [ "$1" = "--tasks-from-output" ]; then tasks_from_output=1; else opts+=("$1"); fi
    shift
done
[ "${1:-}" = "--" ] || fail "no -- before the run command"
shift
if [ -n "${RELAY_NODES:-}" ]; then trace=${trace%.json}_nodes.json; fi

rm -f "$trace" || fail "cannot remove the old $trace"
log=$(mktemp "${TMPDIR:-/tmp}/relay-trace-log-XXXXXX") || fail "no temporary file"
trap 'rm -f "$log"' EXIT
RELAY_TRACE=$trace "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || fail "the run failed (exit $rc)"
[ -s "$trace" ] || fail "no trace file written at $trace"
if [ "$tasks_from_output" = 1 ]; then
    n=$(sed -n 's/^tasks run: \([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$n" ] || fail "the run printed no \"tasks run: N\" line"
    opts+=(--tasks "$n")
fi
skip_without_python "$checker"
echo "$me: $python $checker $trace ${opts[*]+${opts[*]}}"
"$python" "$checker" "$trace" ${opts[@]+"${opts[@]}"} || fail "the trace at $trace breaks the format"
echo "$me: PASS (the trace is kept at $trace: open it in ui.perfetto.dev)"
