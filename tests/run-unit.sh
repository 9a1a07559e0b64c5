#!/usr/bin/env bash
# Runs each cmocka test binary given as an argument and prints one summary
# line, "N passed, N failed", counted from cmocka's own result lines.
set -u
passed=0
failed=0
status=0
for test_binary in "$@"; do
    echo "== ${test_binary##*/}"
    output=$("$test_binary" 2>&1)
    rc=$?
    printf '%s\n' "$output"
    ok=$(printf '%s\n' "$output" | grep -c '^\[       OK \]')
    bad=$(printf '%s\n' "$output" | grep -c '^\[  FAILED  \] [^0-9]')
    passed=$((passed + ok))
    failed=$((failed + bad))
    if [ "$rc" -ne 0 ]; then
        status=1
        # A crash or a failure before any test ran still counts as one.
        [ "$bad" -gt 0 ] || failed=$((failed + 1))
    fi
done
echo "unit: $passed passed, $failed failed"
exit "$status"
