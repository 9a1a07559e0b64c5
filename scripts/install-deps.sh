#!/usr/bin/env bash
# Installs what building and testing event-issuer needs on Debian 12:
# the compiler and libraries, the tools the tests drive (curl, kcat,
# valgrind, and the Prometheus Python client that parses /metrics),
# clang 14 with libFuzzer for make fuzz, Node.js and npm for the
# end-to-end tests, and the end-to-end tests' npm packages. Safe to run
# again. Runs as root, or through sudo otherwise.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
else
    as_root=(sudo)
fi

packages=(
    build-essential
    pkg-config
    libmicrohttpd-dev
    libsqlite3-dev
    sqlite3
    librdkafka-dev
    libcmocka-dev
    libcurl4-openssl-dev
    libssl-dev
    curl
    kcat
    valgrind
    python3-prometheus-client
    clang
    libclang-rt-14-dev
)

# A Node.js that is already installed (this machine image has Node.js 20
# with its npm) is kept: installing Debian's nodejs and npm next to it
# would replace or conflict with it. Debian 12's Node.js 18 is enough for
# the tests and their CloudEvents SDK version.
if ! command -v node >/dev/null 2>&1; then
    packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    packages+=(npm)
fi

echo "install-deps: apt-get install ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${packages[@]}"

# node --test --test-concurrency needs Node.js 18.19 or later.
if ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
              process.exit(major > 18 || (major === 18 && minor >= 19) ? 0 : 1)'; then
    echo "install-deps: Node.js $(node --version) is too old; the end-to-end tests need 18.19 or later" >&2
    exit 1
fi

echo "install-deps: npm ci in tests/e2e (Node.js $(node --version), npm $(npm --version))"
cd "$repo_root/tests/e2e"
npm ci --no-audit --no-fund
