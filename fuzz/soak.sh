#!/usr/bin/env bash
# Soak test (not part of make check): builds the release binary, runs
# steady mixed load against it for MINUTES (default 10) and samples its
# RSS every 10 s into build/soak/TIME/rss.csv, then prints the curve.
# SOAK_RATE sets the requests per second (default 300).
#
# Usage: fuzz/soak.sh [MINUTES]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
minutes=${1:-10}

make -s all
out="build/soak/$(date -u +%Y%m%dT%H%M%SZ)"
exec node fuzz/soak.mjs build/event-issuer "$minutes" "$out"
