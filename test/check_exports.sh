#!/usr/bin/env bash
# Checks the symbols librelay.so exports: the API only. Every defined
# dynamic symbol must start with relay_ but not relay__ (internals are
# hidden), and a few the API declares must be there.
# Usage: check_exports.sh <librelay.so>
set -euo pipefail
lib="$1"
syms="$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u)"
status=0
bad="$(grep -v '^relay_' <<<"$syms" || true)"
internal="$(grep '^relay__' <<<"$syms" || true)"
if [ -n "$bad" ]; then
    echo "exported symbols outside the API (not relay_*):" >&2
    echo "$bad" | head -20 >&2
    status=1
fi
if [ -n "$internal" ]; then
    echo "$(wc -l <<<"$internal") internal relay__* symbols exported, e.g.:" >&2
    echo "$internal" | head -10 >&2
    status=1
fi
for want in relay_init relay_finalize relay_submit relay_get relay_put relay_release \
    relay_strerror relay_last_error relay_actor_create relay_ctx_fail relay_cluster_resources \
    relay_available_resources; do
    if ! grep -qx "$want" <<<"$syms"; then
        echo "missing from the exports: $want" >&2
        status=1
    fi
done
echo "$(wc -l <<<"$syms") symbols exported"
exit "$status"
