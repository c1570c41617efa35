#!/usr/bin/env bash
# The demo: finds the ball of videotestsrc (or of the video file given as $1) with
# numpy in a savantpyfunc, draws it (box, two-line label, central dot) with
# savantdrawfunc, writes out/ball.webm and a PNG snapshot, and prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
savant_install_deps
cargo build --release
mkdir -p out

if [ $# -ge 1 ]; then
    source_desc="filesrc location=$1 ! decodebin ! videoconvert ! videoscale"
else
    source_desc="videotestsrc pattern=ball num-buffers=300"
fi

GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}" \
gst-launch-1.0 -e $source_desc \
    ! video/x-raw,format=RGBA,width=640,height=480,framerate=30/1 \
    ! savantpyfunc module=examples/ball.py class-name=BallFinder kwargs="{threshold: 200}" \
    ! savantqueue length=4 \
    ! savantdrawfunc draw-spec=examples/ball_draw.yml \
    ! tee name=t \
    t. ! queue ! videoconvert ! vp8enc deadline=1 ! webmmux ! filesink location=out/ball.webm \
    t. ! queue ! videorate drop-only=true ! video/x-raw,framerate=1/1 ! videoconvert ! pngenc \
       ! multifilesink location=out/ball-%02d.png

echo "wrote $PWD/out/ball.webm and $PWD/out/ball-*.png"
