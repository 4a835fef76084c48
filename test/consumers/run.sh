#!/usr/bin/env bash
# The case functions are called by name (case_$c), not unreachable:
# shellcheck disable=SC2317
# Out-of-tree consumers of an installed relay, as a scientific code builds
# them: installs this build into a temporary prefix, builds the consumers
# of apps/ in every way a user links relay, runs each under mpiexec with 2
# ranks and checks what it prints.
#
# Cases (each a function case_<name>; builds run in parallel):
#   cmake_shared    find_package(relay), relay::relay (librelay.so): C, C++
#   cmake_static    find_package(relay COMPONENTS static), relay::relay_static
#   pc_shared       pkg-config --cflags --libs relay with the plain C and C++
#                   compilers (no mpicc/mpicxx): MPI's flags come from relay.pc
#   pc_static       the same with pkg-config --static and librelay.a
# With a Fortran compiler (--fc) and relay's Fortran binding installed,
# each case also builds apps/consumer_fortran: relay::relay_fortran(_static)
# with CMake, relay-fortran.pc with pkg-config.
# Adding a language (Fortran, say) is one more function that builds its
# consumer into $work/<case>/ and writes the binaries to run, one a line,
# to $work/<case>/run.list, plus its name in CASES: the consumer prints
# "square(7) = 49" on rank 0 like the others.
#
# Usage: run.sh --build DIR --source DIR --mpiexec EXE [--np-flag -n]
#               [--preflags "..."] [--cc CC] [--cxx CXX] [--fc FC] [--mpi-c-compiler MPICC]
#               [--static-libs "..."] [--sanitize ON|OFF]
#               [--shared 1|0] [--static 1|0]   (which libraries were built)
# Exits 77 when it cannot apply (a sanitizer build: its library needs the
# sanitizer's runtime in every consumer).
set -euo pipefail

build="" source="" mpiexec="" np_flag="-n" preflags="" cc="cc" cxx="" fc="" mpicc=""
static_libs="" sanitize="OFF" shared=1 static=1
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build="$2" ;;
    --source) source="$2" ;;
    --mpiexec) mpiexec="$2" ;;
    --np-flag) np_flag="$2" ;;
    --preflags) preflags="$2" ;;
    --cc) cc="$2" ;;
    --cxx) cxx="$2" ;;
    --fc) fc="$2" ;;
    --mpi-c-compiler) mpicc="$2" ;;
    --static-libs) static_libs="$2" ;;
    --sanitize) sanitize="$2" ;;
    --shared) shared="$2" ;;
    --static) static="$2" ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
case "$sanitize" in
ON | on | TRUE | 1)
    echo "sanitizer build: its librelay needs the sanitizer runtime in every consumer" >&2
    exit 77
    ;;
esac
# Absolute: each case builds from its own directory.
build="$(cd "$build" && pwd)" source="$(cd "$source" && pwd)"
command -v pkg-config >/dev/null || { echo "pkg-config not found" >&2; exit 77; }

work="$(mktemp -d "${TMPDIR:-/tmp}/relay-consumers.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
pcfile="$(find "$prefix" -name relay.pc | head -1)"
libdir="$(dirname "$(dirname "$pcfile")")"
PKG_CONFIG_PATH="$(dirname "$pcfile")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
# The Fortran consumer, where relay was installed with its binding.
if [ -n "$fc" ] && ! pkg-config --exists relay-fortran; then fc=""; fi

cmake_args=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release)
[ -n "$mpicc" ] && cmake_args+=(-DMPI_C_COMPILER="$mpicc")

# $1: case directory; $2: source folder under apps/; $3: ON for static.
cmake_consumer() {
    cmake -S "$source/apps/$2" -B "$1/$2" "${cmake_args[@]}" -DRELAY_CONSUMER_STATIC="$3"
    cmake --build "$1/$2"
}

# $1: case name; $2: ON for the static libraries. Every language there is.
cmake_case() {
    local d="$work/$1"
    cmake_consumer "$d" consumer "$2"
    echo "$d/consumer/relay-consumer" >>"$d/run.list"
    if [ -n "$fc" ]; then
        cmake_consumer "$d" consumer_fortran "$2"
        echo "$d/consumer_fortran/relay-consumer-fortran" >>"$d/run.list"
    fi
    if [ -n "$cxx" ]; then
        cmake_consumer "$d" consumer_cxx "$2"
        echo "$d/consumer_cxx/relay-consumer-cxx" >>"$d/run.list"
    fi
}

case_cmake_shared() { cmake_case cmake_shared OFF; }
case_cmake_static() { cmake_case cmake_static ON; }

case_pc_shared() {
    local d="$work/pc_shared"
    # shellcheck disable=SC2046
    "$cc" "$source/apps/consumer/consumer.c" -o "$d/consumer-c" \
        $(pkg-config --cflags --libs relay) -Wl,-rpath,"$libdir"
    echo "$d/consumer-c" >>"$d/run.list"
    if [ -n "$cxx" ]; then
        # The issue's own failure: plain g++ and pkg-config, no mpicxx.
        # shellcheck disable=SC2046
        "$cxx" "$source/apps/consumer_cxx/consumer.cpp" -o "$d/consumer-cxx" \
            $(pkg-config --cflags --libs relay) -Wl,-rpath,"$libdir"
        echo "$d/consumer-cxx" >>"$d/run.list"
    fi
    if [ -n "$fc" ]; then
        # shellcheck disable=SC2046
        "$fc" "$source/apps/consumer_fortran/consumer.f90" -o "$d/consumer-fortran" \
            $(pkg-config --cflags --libs relay-fortran) -Wl,-rpath,"$libdir"
        echo "$d/consumer-fortran" >>"$d/run.list"
    fi
}

# librelay.a by name: -lrelay would take librelay.so, which sits beside it.
static_pc_libs() {
    pkg-config --static --libs "${1:-relay}" |
        sed -e 's/-lrelay_fortran\b/-l:librelay_fortran.a/' -e 's/-lrelay\b/-l:librelay.a/'
}

case_pc_static() {
    local d="$work/pc_static"
    # shellcheck disable=SC2046,SC2086
    "$cc" "$source/apps/consumer/consumer.c" -o "$d/consumer-c" \
        $(pkg-config --cflags relay) $(static_pc_libs) $static_libs
    echo "$d/consumer-c" >>"$d/run.list"
    if [ -n "$cxx" ]; then
        # shellcheck disable=SC2046,SC2086
        "$cxx" "$source/apps/consumer_cxx/consumer.cpp" -o "$d/consumer-cxx" \
            $(pkg-config --cflags relay) $(static_pc_libs) $static_libs
        echo "$d/consumer-cxx" >>"$d/run.list"
    fi
    if [ -n "$fc" ]; then
        # shellcheck disable=SC2046,SC2086
        "$fc" "$source/apps/consumer_fortran/consumer.f90" -o "$d/consumer-fortran" \
            $(pkg-config --cflags relay-fortran) $(static_pc_libs relay-fortran) $static_libs
        echo "$d/consumer-fortran" >>"$d/run.list"
    fi
}

CASES=(cmake_shared pc_shared)
if [ "$static" = 1 ]; then
    CASES+=(cmake_static pc_static)
fi

# Build every case at once, each into its own log.
declare -A pids
for c in "${CASES[@]}"; do
    mkdir -p "$work/$c"
    : >"$work/$c/run.list"
    # Each in its own directory: a Fortran compiler writes the program's
    # module files into the current one, and two at once trip on each other.
    (cd "$work/$c" && "case_$c" >build.log 2>&1) &
    pids[$c]=$!
done
failed=0
for c in "${CASES[@]}"; do
    if ! wait "${pids[$c]}"; then
        echo "== $c: build FAILED" >&2
        cat "$work/$c/build.log" >&2
        failed=1
    fi
done
[ "$failed" -eq 0 ] || exit 1

# Then run each binary, one mpiexec at a time, and check how it linked.
for c in "${CASES[@]}"; do
    while IFS= read -r exe; do
        # The library the program calls: librelay.so, or librelay_fortran.so
        # for Fortran (which needs librelay.so itself; the program names it
        # too unless the linker drops unused libraries, --as-needed).
        lib='librelay'
        case "$exe" in *fortran) lib='librelay_fortran' ;; esac
        needed="$(readelf -d "$exe" | grep -c "NEEDED.*\\[$lib\\.so" || true)"
        # Without librelay.so, relay::relay and -lrelay are librelay.a.
        want=1
        case "$c" in *static) want=0 ;; esac
        [ "$shared" = 1 ] || want=0
        if [ "$needed" -ne "$want" ]; then
            echo "== $c: $exe: $lib.so needed $needed times, expected $want" >&2
            failed=1
        fi
        # mpiexec reads stdin: keep it off the list being read.
        # shellcheck disable=SC2086
        if out="$(timeout 60 "$mpiexec" "$np_flag" 2 $preflags "$exe" 2>&1 </dev/null)" &&
            grep -q '^square(7) = 49$' <<<"$out"; then
            echo "== $c: $(basename "$exe"): ok"
        else
            echo "== $c: $exe FAILED:" >&2
            echo "$out" >&2
            failed=1
        fi
    done <"$work/$c/run.list"
done
exit "$failed"
