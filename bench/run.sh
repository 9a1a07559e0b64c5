#!/usr/bin/env bash
# Runs the event-issuer benchmark: `make bench` calls this after building.
#
# Installs the tools it needs from the Debian archive when missing (wrk,
# nginx, kcat, gnuplot; needs root then) and the npm packages of tests/e2e
# (for ajv), builds the helper programs in build/bench with the release
# build's compiler flags, and runs bench/bench.py, which writes
# bench/results/<UTC time>/report.md and the plots. Everything listens on
# 127.0.0.1. Settings come from the environment
# (BENCH_DURATION, BENCH_ROUNDS, BENCH_SCENARIOS, ...; see docs/benchmark.md);
# BENCH_TIMEOUT (seconds, default 1800) bounds the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

install_missing() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v kcat >/dev/null || missing+=(kcat)
    command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
    command -v taskset >/dev/null || missing+=(util-linux)
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        echo "bench: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
    echo "bench: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build_helpers() {
    local flags
    flags=$(make -s -f Makefile -f bench/flags.mk bench-flags)
    mkdir -p build/bench
    # shellcheck disable=SC2086 # flags is a list of words
    cc $flags -o build/bench/sqlite_baseline bench/sqlite_baseline.c -lsqlite3
    # shellcheck disable=SC2086
    cc $flags -o build/bench/idle_conns bench/idle_conns.c
    # A release copy of the Kafka tests' mock cluster; the Makefile builds
    # that one with ASan only.
    # shellcheck disable=SC2046,SC2086 # lists of words
    cc $flags $(pkg-config --cflags rdkafka) -o build/bench/mock-kafka \
        tests/kafka/mock_cluster.c $(pkg-config --libs rdkafka)
    # The validation scenario's program links the release objects of src/,
    # so make builds it and any object that is out of date.
    make -s -f Makefile -f bench/flags.mk build/bench/validate_bench
}

# ajv for the validation scenario comes from the end-to-end tests' packages.
# Without them (or npm) that scenario skips and prints why.
install_node_packages() {
    case " ${BENCH_SCENARIOS:-validation} " in *" validation "*) ;; *) return 0 ;; esac
    [ -d tests/e2e/node_modules ] && return 0
    if ! command -v npm >/dev/null; then
        echo "bench: npm is not installed, so the validation scenario will skip" >&2
        return 0
    fi
    echo "bench: installing the packages of tests/e2e (npm ci)"
    (cd tests/e2e && npm ci --no-audit --no-fund) ||
        echo "bench: npm ci in tests/e2e failed, so the validation scenario will skip" >&2
}

# Stops what bench.py started and did not stop itself, by the process ids
# it listed in the pid file.
stop_leftovers() {
    [ -f "$pid_file" ] || return 0
    local pids
    pids=$(cat "$pid_file")
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086 # one id per word
        kill -TERM $pids 2>/dev/null || true
        sleep 2
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    rm -f "$pid_file"
}

install_missing
build_helpers
install_node_packages

# 10,000 idle connections need as many descriptors in the client and in the
# server. Root may raise the hard limit, and other users get the hard limit.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $(( ${BENCH_IDLE_CONNECTIONS:-10000} + 1024 )) ]; then
    echo "bench: the open file limit is $(ulimit -n), too low for the connections scenario" >&2
fi

results="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$results"
pid_file="$results/.pids"
trap stop_leftovers EXIT

status=0
timeout --foreground -k 30 "${BENCH_TIMEOUT:-1800}" \
    python3 bench/bench.py "$results" "$pid_file" || status=$?
if [ "$status" -eq 124 ]; then
    echo "bench: stopped after BENCH_TIMEOUT=${BENCH_TIMEOUT:-1800} seconds" >&2
fi
exit "$status"
