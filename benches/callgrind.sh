#!/usr/bin/env bash
# Instructions per buffer on the streaming thread, under callgrind, for
#   videotestsrc pattern=black ! video/x-raw,format=RGBA,width=64,height=64 ! STAGE ! fakesink
# with STAGE a trivial savantpyfunc (also with the savantmetrics tracer on, and
# with every frame's span sent to a collector that is not there), a
# savantdrawfunc with a trivial hook, and `identity` (the baseline). Two runs per pipeline, N1 and N2 buffers, so start-up
# cancels: (I(N2) - I(N1)) / (N2 - N1). The streaming thread is the thread whose
# count grew most between the two runs (threads are numbered in creation order).
#
#   benches/callgrind.sh [N1 N2]     (needs valgrind; builds the release plugin)
set -euo pipefail
cd "$(dirname "$0")/.."
n1=${1:-2000}
n2=${2:-12000}
cargo build --release --quiet
plugin_dir=$PWD/target/release
stages=$PWD/benches/stages
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'def draw(frame, artist):\n    pass\n' > "$work/draw_trivial.py"
# A trivial stage whose module imported Python's opentelemetry API (scripts/test.sh
# puts it in target/python-otel): the stage span is made current around each call.
printf 'import opentelemetry.trace\ndef process_frame(frame):\n    pass\n' > "$work/otel_trivial.py"
otel=$PWD/target/python-otel

# Instructions per thread ("NN count" lines) for one run of $2 buffers through $1,
# with GST_TRACERS=$3.
instructions() {
    local out="$work/cg.$RANDOM"
    # shellcheck disable=SC2086
    PYTHONPATH=$otel GST_TRACERS=${3:-} GST_PLUGIN_PATH=$plugin_dir valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out" gst-launch-1.0 -q videotestsrc pattern=black num-buffers="$2" \
        ! video/x-raw,format=RGBA,width=64,height=64 ! $1 ! fakesink \
        >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
    for f in "$out"-*; do
        printf '%s %s\n' "${f##*-}" "$(grep -h '^totals:\|^summary:' "$f" | awk '{print $2}' | tail -1)"
    done
}

for row in \
    "identity||identity" \
    "savantpyfunc||savantpyfunc module=$stages/trivial.py" \
    "+metrics|savantmetrics(port=0)|savantpyfunc module=$stages/trivial.py" \
    "+spans 1.0|savantmetrics(port=0,otlp-endpoint=\"http://127.0.0.1:9\")|savantpyfunc module=$stages/trivial.py" \
    "+spans, Python|savantmetrics(port=0,otlp-endpoint=\"http://127.0.0.1:9\")|savantpyfunc module=$work/otel_trivial.py" \
    "+0.1, Python|savantmetrics(port=0,otlp-endpoint=\"http://127.0.0.1:9\",trace-ratio=0.1)|savantpyfunc module=$work/otel_trivial.py" \
    "savantdrawfunc||savantdrawfunc module=$work/draw_trivial.py"; do
    IFS='|' read -r label tracers stage <<<"$row"
    instructions "$stage" "$n1" "$tracers" > "$work/a"
    instructions "$stage" "$n2" "$tracers" > "$work/b"
    per_buffer=$(join "$work/a" "$work/b" | awk -v d=$((n2 - n1)) \
        '{ g = ($3 - $2) / d; if (g > best) best = g } END { printf "%d", best }')
    printf '%-14s %8d instructions per buffer (streaming thread)\n' "$label" "$per_buffer"
done
