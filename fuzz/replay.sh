#!/usr/bin/env bash
# Runs the saved inputs of fuzz/regressions/TARGET/ through each target
# given as an argument, built with fuzz/replay.c under ASan + UBSan
# (build/asan/fuzz/replay-TARGET). Called by `make fuzz-replay`.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

failed=0
inputs=0
for target in "$@"; do
    folder="fuzz/regressions/$target"
    [ -d "$folder" ] || continue
    count=$(find "$folder" -type f | wc -l)
    [ "$count" -gt 0 ] || continue
    if ! output=$("build/asan/fuzz/replay-$target" "$folder" 2>&1); then
        echo "$output"
        echo "fuzz-replay: $target failed"
        failed=$((failed + 1))
    fi
    inputs=$((inputs + count))
done
echo "fuzz-replay: $inputs saved inputs of $# targets, $failed targets failed"
[ "$failed" -eq 0 ]
