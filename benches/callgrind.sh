#!/usr/bin/env bash
# Instructions per buffer on the streaming thread, under callgrind, for
#   videotestsrc ! video/x-raw,format=RGBA,width=64,height=64 ! STAGE ! fakesink
# with STAGE a trivial savantpyfunc, a savantdrawfunc with a trivial hook, and
# `identity` (the baseline). Two runs per pipeline, N1 and N2 buffers, so start-up
# cancels: (I(N2) - I(N1)) / (N2 - N1). The streaming thread is the one that ran
# the most instructions.
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

# Instructions of the busiest thread for one run of $2 buffers through stage $1.
instructions() {
    local out="$work/cg.$RANDOM"
    # shellcheck disable=SC2086
    GST_PLUGIN_PATH=$plugin_dir valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out" gst-launch-1.0 -q videotestsrc num-buffers="$2" \
        ! video/x-raw,format=RGBA,width=64,height=64 ! $1 ! fakesink \
        >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
    grep -h '^totals:\|^summary:' "$out"-* | awk '{print $2}' | sort -n | tail -1
}

for stage in \
    "identity" \
    "savantpyfunc module=$stages/trivial.py" \
    "savantdrawfunc module=$work/draw_trivial.py"; do
    a=$(instructions "$stage" "$n1")
    b=$(instructions "$stage" "$n2")
    printf '%-14s %8d instructions per buffer (streaming thread)\n' \
        "${stage%% *}" $(((b - a) / (n2 - n1)))
done
