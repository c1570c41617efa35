#!/usr/bin/env bash
# Runs tests/hostile_*.rs under AddressSanitizer (stable toolchain with
# RUSTC_BOOTSTRAP=1, ../shared/DESIGN.md section 5). Not part of CI.
#
# hostile_buffers runs in one process: its test binary and the plugin code it links
# are instrumented. hostile_runtime's cases run in child processes (gst-launch-1.0,
# a C app, PyGObject apps) that load libgstsavant.so by GST_PLUGIN_PATH: they get
# the instrumented cdylib, which needs an ASan runtime loaded first, so the plain
# test binary is run from the instrumented target folder (tests find the plugin
# next to their binary) with GCC's libasan preloaded, which every child inherits.
# Any report fails the child, and so the test; reports also land in $OUT.
#
#   ./scripts/asan.sh [OUT]   (default /tmp/asan)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/asan}
target=x86_64-unknown-linux-gnu
asan_dir=${ASAN_TARGET_DIR:-target-asan}
libasan=$(gcc -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "libasan not found (install gcc's libasan)" >&2; exit 1; }
mkdir -p "$out"

asan_build() {
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR="$asan_dir" \
        cargo "$@" --target "$target"
}
asan_build build --lib
asan_build test --test hostile_buffers --no-run
buffers=$(find "$asan_dir/$target/debug/deps" -name 'hostile_buffers-*' -type f -executable | head -1)
ASAN_OPTIONS="detect_leaks=0:log_path=$out/buffers" "$buffers"

plain=$(cargo test --test hostile_runtime --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*hostile_runtime[^"]*\)".*/\1/p' | head -1)
cp "$plain" "$asan_dir/$target/debug/deps/hostile_runtime-plain"
registry=$(mktemp -d)
GST_REGISTRY="$registry/registry.bin" LD_PRELOAD="$libasan" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$out/runtime" \
    "$asan_dir/$target/debug/deps/hostile_runtime-plain" --test-threads=1
rm -rf "$registry"
if ls "$out"/* >/dev/null 2>&1; then
    echo "AddressSanitizer reports in $out:" >&2
    ls "$out" >&2
    exit 1
fi
echo "no AddressSanitizer report"
