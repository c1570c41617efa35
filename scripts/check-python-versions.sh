#!/usr/bin/env bash
# Type-checks the crate against the C API of every Python it supports (3.11, 3.12,
# 3.13: GIL builds), whichever of them this machine has: PyO3 reads the target
# interpreter from a config file (PYO3_CONFIG_FILE), so no such Python needs to be
# installed. The version-gated FFI (src/python/thread_state.rs) is what differs.
# Debian 12 (3.11) and Debian 13 (3.13) also build and run the whole suite
# (scripts/test.sh, scripts/test-debian13.sh); 3.12 is checked here only.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/python-versions"
mkdir -p "$dir"
for version in 3.11 3.12 3.13; do
    scripts/pyo3-config.sh "$version" >"$dir/pyo3-$version.cfg"
    echo "checking against the C API of Python $version"
    PYO3_CONFIG_FILE="$PWD/$dir/pyo3-$version.cfg" CARGO_TARGET_DIR="$dir/target" \
        cargo check --lib --quiet
done
