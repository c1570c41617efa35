#!/usr/bin/env bash
# Runs on a GPU host (no GStreamer, no Rust) from a folder made by gpu-bundle.sh:
# unpacks Debian 12's GStreamer into /tmp/savant-gst, then checks that the plugin
# loads for the host's Python, runs a numpy stage, that nvcodec's CUDA elements load,
# then the per-buffer overhead and CUDA benchmarks (benches/pyfunc_overhead.rs,
# benches/cuda.rs, unless --no-bench) and the CUDA tests (tests/cuda.rs). Without a
# GPU the CUDA part is skipped with a message.
#
#   VIRTUAL_ENV=/opt/torch/.venv ./gpu-test.sh [--no-bench | --no-cuda-bench]
#   (a venv with numpy, CuPy and PyTorch; --no-cuda-bench leaves out benches/cuda.rs)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root=/tmp/savant-gst
mkdir -p "$root"
for deb in "$here"/deb/*.deb; do dpkg -x "$deb" "$root"; done
lib="$root/usr/lib/x86_64-linux-gnu"
# Only the plugins the checks use: the others would need libraries the host lacks.
keep="coreelements videotestsrc videoconvertscale videoconvert videoscale app nvcodec \
typefindfunctions videoparsersbad isomp4 playback"
for plugin in "$lib"/gstreamer-1.0/libgst*.so; do
    name=$(basename "$plugin" .so); name=${name#libgst}
    case " $keep " in *" $name "*) ;; *) rm -f "$plugin" ;; esac
done
rm -f "$root/registry.bin"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GST_PLUGIN_SYSTEM_PATH="$lib/gstreamer-1.0"
export GST_PLUGIN_SCANNER="$lib/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner"
export GST_REGISTRY="$root/registry.bin"
export GST_PLUGIN_PATH="$here/plugin"
export PATH="$root/usr/bin:$PATH"
# Debian's GL libraries complain on every start without one (containers have none).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$root/xdg}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
stages="$here/stages"
mkdir -p "$stages"

# What the host lacks beyond the bundle shows here first.
for f in "$root/usr/bin/gst-launch-1.0" "$here/plugin/libgstsavant.so" \
         "$lib/gstreamer-1.0/libgstnvcodec.so" "$lib/gstreamer-1.0/libgstvideotestsrc.so"; do
    missing=$(ldd "$f" 2>/dev/null | grep "not found" || true)
    [ -z "$missing" ] || echo "$(basename "$f") lacks: $missing"
done
echo "== $(gst-launch-1.0 --gst-version | head -1); python: ${VIRTUAL_ENV:-system}"
gst-inspect-1.0 savantpyfunc | grep -E "Filename|Version" 
cat >"$stages/numpy_stage.py" <<'PY'
import numpy as np
def process_frame(frame):
    frame.attributes["mean"] = float(np.asarray(frame).mean())
PY
if ! GST_DEBUG=savantpython:4 gst-launch-1.0 -q videotestsrc num-buffers=30 \
    ! video/x-raw,format=RGBA,width=640,height=480 \
    ! savantpyfunc module="$stages/numpy_stage.py" ! fakesink >"$root/numpy.log" 2>&1; then
    cat "$root/numpy.log"
    echo "numpy stage: FAILED"
    exit 1
fi
grep -o "Python [0-9.]* (built against.*" "$root/numpy.log" || true
echo "numpy stage: ok"

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no GPU here: CUDA checks skipped"
    exit 0
fi
nvidia-smi -L
gst-inspect-1.0 cudaupload | grep -E "Long-name" 
gst-inspect-1.0 nvh264dec | grep -E "Long-name" || echo "no nvh264dec (no NVDEC)"
# A CUDA frame straight from gst-launch, as a user would run it.
cat >"$stages/cuda_launch.py" <<'PY'
import cupy
def process_frame(frame):
    assert frame.memory == "cuda"
    assert int(cupy.asarray(frame)[..., 3].min()) == 255
PY
gst-launch-1.0 -q videotestsrc num-buffers=30 \
    ! video/x-raw,format=RGBA,width=640,height=480 ! cudaupload \
    ! "video/x-raw(memory:CUDAMemory)" ! savantpyfunc module="$stages/cuda_launch.py" \
    ! cudadownload ! fakesink
echo "gst-launch with a CUDA frame stage: ok"

# tests/cuda.rs and benches/cuda.rs, built on Debian 12 by gpu-bundle.sh.
export SAVANT_PLUGIN_DIR="$here/plugin" SAVANT_BENCH_STAGES="$here/stages"
if [ "${1:-}" != "--no-bench" ]; then
    # The per-buffer cost over identity on a host with cores to spare (no GPU work).
    echo "== per-buffer overhead (benches/pyfunc_overhead.rs)"
    "$here/bin/pyfunc-overhead"
fi
export SAVANT_TEST_H264="$here/data/megamind-1080p.h264"
if [ "${1:-}" != "--no-bench" ] && [ "${1:-}" != "--no-cuda-bench" ]; then
    echo "== CUDA benchmark"
    "$here/bin/cuda-bench"
fi
echo "== CUDA tests"
# A crash shows where Python was.
PYTHONFAULTHANDLER=1 "$here/bin/cuda-tests" --test-threads=1 --nocapture
