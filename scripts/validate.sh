#!/usr/bin/env bash
# GstValidate's scenarios on savantmux/savantdemux pipelines of 1, 2 and 3 sources
# (identity or a savantpyfunc between them), beside GStreamer's own elements in the
# same shape (funnel ! identity ! tee, a queue and a sink per source), RUNS times
# each, JOBS at once (the pipelines mostly wait on the clock). Prints one line per
# (pipeline, sources, scenario): runs without an issue, runs with issues (any that
# gst-validate reports), criticals among them, hangs (no end within 180 s) and
# crashes (a signal); then every distinct issue with the runs it came up in.
# Not part of CI: gst-validate is not packaged by Debian (../shared/DESIGN.md, 6).
#
#   VALIDATE=/tmp/gstvalidate ./scripts/validate.sh [RUNS] [JOBS] [OUT]
#
# The plugin is taken from GST_PLUGIN_PATH (default target/release).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
jobs=${2:-2}
out=${3:-/tmp/validate-runs}
prefix=${VALIDATE:-/tmp/gstvalidate}
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GST_VALIDATE_PLUGIN_PATH="$prefix/lib/gstreamer-1.0/validate"
export GST_VALIDATE_SCENARIOS_PATH="$prefix/share/gstreamer-1.0/validate/scenarios"
export GST_PLUGIN_PATH="${GST_PLUGIN_PATH:-$PWD/target/release}"
validate="$prefix/bin/gst-validate-1.0"
scenarios="play_15s seek_forward seek_backward seek_with_stop scrub_forward_seeking \
fast_forward reverse_playback pause_resume change_state_intensive"
stage_py="$out/validate_stage.py"
mkdir -p "$out"
printf 'def process_frame(frame):\n    pass\n' > "$stage_py"

# 100 s sources: seek_backward and fast_forward re-seek forever once a short source
# ends before their last action (a quirk of the 1.22 tool).
src='videotestsrc num-buffers=3000 ! video/x-raw,format=RGBA,width=64,height=48,framerate=30/1'
pipeline() {
    local kind=$1 n=$2 i p=""
    case $kind in
        funnel) # the same shape with GStreamer's own elements: N in, N sinks out
            p="funnel name=m ! identity ! tee name=t"
            for ((i = 0; i < n; i++)); do p+=" $src ! m.sink_$i t. ! queue ! fakesink sync=true"; done ;;
        mux-identity|mux-pyfunc)
            local stage=identity
            [ "$kind" = mux-pyfunc ] && stage="savantpyfunc module=$stage_py"
            p="savantmux name=m ! $stage ! savantdemux name=d"
            for ((i = 0; i < n; i++)); do
                p+=" $src ! m.sink_$i d.src_sink_$i ! fakesink sync=true"
            done ;;
    esac
    echo "$p"
}

one() { # kind n scenario run
    local log="$out/$1-$2-$3-$4.log"
    # shellcheck disable=SC2046
    timeout -k 5 180 "$validate" --set-scenario="$3" $(pipeline "$1" "$2") > "$log" 2>&1
    echo "rc=$?" >> "$log"
}
export -f one pipeline
export out src stage_py validate

for kind in mux-identity mux-pyfunc funnel; do
    for n in 1 2 3; do
        for s in $scenarios; do
            for ((r = 1; r <= runs; r++)); do echo "$kind $n $s $r"; done
        done
    done
done | xargs -P "$jobs" -L 1 bash -c 'one "$@"' _

printf '%-13s %-2s %-22s %5s %6s %9s %5s %7s\n' pipeline n scenario clean issues criticals hangs crashes
for kind in mux-identity mux-pyfunc funnel; do
    for n in 1 2 3; do
        for s in $scenarios; do
            clean=0 issues=0 criticals=0 hangs=0 crashes=0
            for log in "$out/$kind-$n-$s-"*.log; do
                rc=$(sed -n 's/^rc=//p' "$log" | tail -1)
                found=$(sed -n 's/^Issues found: //p' "$log" | tail -1)
                case $rc in
                    124|137) hangs=$((hangs + 1)) ;;
                    13[0-9]|14[0-9]|15[0-9]) crashes=$((crashes + 1)) ;;
                    0) if [ "${found:-0}" = 0 ]; then clean=$((clean + 1)); else issues=$((issues + 1)); fi ;;
                    *) issues=$((issues + 1)) ;;
                esac
                grep -q "critical :" "$log" && criticals=$((criticals + 1))
            done
            printf '%-13s %-2s %-22s %5s %6s %9s %5s %7s\n' "$kind" "$n" "$s" "$clean" "$issues" "$criticals" "$hangs" "$crashes"
        done
    done
done
echo
echo "Issues (runs in which each came up):"
for kind in mux-identity mux-pyfunc funnel; do
    grep -hE "^ +(critical|issue|warning) : " "$out/$kind-"*.log 2>/dev/null \
        | sed 's/^ *//' | sort | uniq -c | sed "s/^/$kind /"
done
