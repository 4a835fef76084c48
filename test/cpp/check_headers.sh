#!/usr/bin/env bash
# Compiles relay.h (as C++) and relay.hpp with each C++ compiler found and
# each standard it takes, -Wall -Wextra -pedantic -Werror, and links nothing:
# a warning or an error in the headers fails the test.
# Usage: check_headers.sh <relay include dir> <MPI include dirs, ;-separated>
set -euo pipefail
inc="$1"
IFS=';' read -r -a mpi_dirs <<<"$2"
flags=(-I"$inc")
for d in "${mpi_dirs[@]}"; do [ -n "$d" ] && flags+=(-I"$d"); done

src="$(mktemp --suffix=.cpp)"
trap 'rm -f "$src"' EXIT
cat >"$src" <<'CPP'
#include "relay.hpp"
int main()
{
    relay_ref_t r = RELAY_REF_NULL;
    relay_actor_t a = RELAY_ACTOR_NULL;
    int x = 1;
    relay_arg_t args[2] = {relay_arg_value(&x, sizeof x), relay::arg(x)};
    relay::ref owned(r);
    return static_cast<int>(a.id + args[0].size + args[1].size) + (owned ? 1 : 0);
}
CPP

tried=0
for cxx in g++ clang++; do
    command -v "$cxx" >/dev/null || continue
    for std in 11 14 17 20; do
        # A standard the compiler does not know is not the headers' fault.
        echo 'int main(){}' | "$cxx" -std=c++$std -x c++ -fsyntax-only - 2>/dev/null || continue
        echo "$cxx -std=c++$std"
        "$cxx" -std=c++$std -Wall -Wextra -pedantic -Werror "${flags[@]}" -fsyntax-only "$src"
        tried=$((tried + 1))
    done
done
if [ "$tried" -eq 0 ]; then
    echo "no C++ compiler (g++, clang++) found" >&2
    exit 77
fi
echo "relay.h and relay.hpp clean under $tried compiler/standard pairs"
