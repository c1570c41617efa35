#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (src/fuzzing.rs says what each drives), each
# for SECONDS (default 600), two at a time, with the module YAML and draw specs of
# tests/fixtures and examples/ as seeds. Stable toolchain: cargo-fuzz needs only
# RUSTC_BOOTSTRAP=1 (../shared/DESIGN.md, section 5). Not part of CI.
#
#   ./scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(metadata module_yaml draw_spec caps_text)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
export RUSTC_BOOTSTRAP=1
(cd fuzz && cargo fuzz build -O)

mkdir -p fuzz/corpus/module_yaml fuzz/corpus/draw_spec fuzz/corpus/caps_text fuzz/corpus/metadata
cp tests/fixtures/savant/module.yml tests/fixtures/savant/deepstream.yml fuzz/corpus/module_yaml/
cp tests/fixtures/savant/draw_spec.yml examples/ball_draw.yml fuzz/corpus/draw_spec/
printf 'video/x-raw,format=RGBA,width=64,height=48,framerate=30/1' > fuzz/corpus/caps_text/rgba
printf 'video/x-raw(memory:SystemMemory),format=NV12,width=[1,8],height=4' > fuzz/corpus/caps_text/nv12

# libFuzzer's own limits: a leak is not a finding here (the interpreter and
# GStreamer keep process-lifetime allocations), memory and time are.
run() {
    local target=$1
    (cd fuzz && ASAN_OPTIONS=detect_leaks=0 cargo fuzz run -O "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 > "artifacts/$target.log" 2>&1) && echo "$target: no finding" \
        || echo "$target: FINDING (fuzz/artifacts/$target.log)"
}
mkdir -p fuzz/artifacts
i=0
for target in "${targets[@]}"; do
    run "$target" &
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
for target in "${targets[@]}"; do
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "fuzz/artifacts/$target.log" \
        | sed "s/^/$target /"
done
