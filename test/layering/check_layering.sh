#!/usr/bin/env bash
# Reads which of relay's source files calls which from the symbols of the
# static library, and checks the layering the README describes:
#   - no two files in different role folders call each other both ways;
#   - a file calls only into its own role or the roles below it
#     (base < proto < transport < head, node < client);
#   - base/init.c (relay_init / relay_finalize) is the composition root: it
#     starts and stops every part, so it may call any of them, and none may
#     call it.
# Usage: check_layering.sh <librelay.a> <src dir> [--graph]
# Prints each violation and exits 1 when there is any; --graph prints every
# edge "from -> to (symbols)" as well.
set -euo pipefail
lib="$1"
src="$2"
graph="${3:-}"

# member (foo.c.o) -> role/foo.c
declare -A path_of
while IFS= read -r f; do
    rel="${f#"$src"/}"
    path_of["$(basename "$f").o"]="$rel"
done < <(find "$src" -name '*.c')

nm -A --defined-only "$lib" 2>/dev/null |
    awk '$(NF-1) ~ /^[TDBRCVW]$/ { split($1, a, ":"); print a[2], $NF }' | sort -u >"${TMPDIR:-/tmp}/relay-defs.$$"
nm -A -u "$lib" 2>/dev/null |
    awk '{ split($1, a, ":"); print a[2], $NF }' | sort -u >"${TMPDIR:-/tmp}/relay-uses.$$"
trap 'rm -f "${TMPDIR:-/tmp}/relay-defs.$$" "${TMPDIR:-/tmp}/relay-uses.$$"' EXIT

# from to symbol, for every use of a symbol another member defines
edges=$(awk 'NR == FNR { def[$2] = $1; next }
             ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' \
    "${TMPDIR:-/tmp}/relay-defs.$$" "${TMPDIR:-/tmp}/relay-uses.$$")

role_level() {
    case "$1" in
    base) echo 0 ;; proto) echo 1 ;; transport) echo 2 ;;
    head | node) echo 3 ;; client) echo 4 ;; root) echo 5 ;; *) echo 9 ;;
    esac
}

declare -A seen
while read -r from to sym; do
    [ -n "$from" ] || continue
    pf="${path_of[$from]:-?/$from}"
    pt="${path_of[$to]:-?/$to}"
    key="$pf $pt"
    if [ -z "${seen[$key]:-}" ]; then seen[$key]="$sym"; else seen[$key]+=",$sym"; fi
done <<<"$edges"

violations=$(for key in "${!seen[@]}"; do
    read -r pf pt <<<"$key"
    rf="${pf%%/*}"
    rt="${pt%%/*}"
    [ "$pf" = base/init.c ] && rf=root
    [ "$pt" = base/init.c ] && rt=root
    [ "$graph" = --graph ] && echo "$pf -> $pt (${seen[$key]})" >&2
    if [ "$rf" != "$rt" ]; then
        if [ -n "${seen["$pt $pf"]:-}" ] && [[ "$pf" < "$pt" ]]; then
            echo "both ways across roles: $pf <-> $pt (${seen[$key]} / ${seen["$pt $pf"]})"
        fi
        lf=$(role_level "$rf")
        lt=$(role_level "$rt")
        if ((lt > lf)) || { ((lt == lf)) && [ "$rf" != "$rt" ]; }; then
            echo "calls up: $pf -> $pt (${seen[$key]})"
        fi
    fi
done | sort)
if [ -n "$violations" ]; then
    echo "$violations"
    exit 1
fi
echo "layering: no file calls up, and no two roles call each other both ways"
