#!/usr/bin/env bash
# Runs each fuzz target given as an argument for FUZZ_SECONDS seconds
# (default 60), one after another, and prints per target the executions,
# libFuzzer's coverage counters (cov: edges, ft: features) and the
# crashes. Inputs that crash, leak or time out are saved in
# build/fuzz/crashes/TARGET/ and make the script exit 1 after every
# target has run. New inputs go to build/fuzz/work/TARGET/, which later
# runs start from. Called by `make fuzz`, after `make fuzz-build`.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
seconds=${FUZZ_SECONDS:-60}
build=build/fuzz

node fuzz/build-corpus.mjs "$build/corpus" || exit 1

# Each target's dictionary is the concatenation of these files.
dictionaries() {
    case "$1" in
        json | problem) echo fuzz/dict/json.dict ;;
        ce_binary) echo fuzz/dict/cloudevents.dict ;;
        ce_structured | ce_batch) echo fuzz/dict/json.dict fuzz/dict/cloudevents.dict ;;
        schema) echo fuzz/dict/json.dict fuzz/dict/schema.dict ;;
        server) echo fuzz/dict/http.dict fuzz/dict/cloudevents.dict fuzz/dict/json.dict ;;
    esac
}

# Inputs up to this size. The server's limits are 4 and 8 KiB, so larger
# requests reach its 413 paths.
max_len() {
    case "$1" in
        server) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

failed=()
summary=()
for target in "$@"; do
    work="$build/work/$target"
    crashes="$build/crashes/$target"
    log="$build/logs/$target.log"
    mkdir -p "$work" "$crashes" "$build/logs" "$build/dict"
    # shellcheck disable=SC2046
    cat $(dictionaries "$target") >"$build/dict/$target.dict"
    marker="$build/logs/$target.started"
    touch "$marker"

    echo "fuzz: $target for $seconds s (log: $log)"
    "$build/bin/$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
        -rss_limit_mb=4096 -max_len="$(max_len "$target")" -dict="$build/dict/$target.dict" \
        -artifact_prefix="$crashes/" "$work" "$build/corpus/$target" >"$log" 2>&1
    status=$?

    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    new_crashes=$(find "$crashes" -type f -newer "$marker" | wc -l)
    line="fuzz $target: ${executions:-0} executions in $seconds s, ${coverage:-cov: ? ft: ?}, crashes: $new_crashes"
    echo "$line"
    summary+=("$line")
    if [ "$status" -ne 0 ] || [ "$new_crashes" -gt 0 ]; then
        grep -m1 -E 'ERROR: |check failed' "$log" | sed 's/^/    /'
        find "$crashes" -type f -newer "$marker" | sed 's/^/    saved: /'
        failed+=("$target")
    fi
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}; replay an input with build/fuzz/bin/TARGET FILE, then save it in fuzz/regressions/TARGET/"
    exit 1
fi
echo "fuzz: no crashes"
