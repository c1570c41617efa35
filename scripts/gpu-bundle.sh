#!/usr/bin/env bash
# Packs what a GPU host without GStreamer or a Rust toolchain needs to run the
# plugin into one folder (default .gpu/): libgstsavant.so built for that host's
# Python (default 3.12, as on Ubuntu 24.04), the GStreamer 1.22 runtime from Debian
# 12's packages (core, base, good, bad with nvcodec, tools), the CUDA tests and
# benchmark (tests/cuda.rs, benches/cuda.rs) with their stages and an H.264 clip, the
# per-buffer overhead benchmark (benches/pyfunc_overhead.rs: a quiet host's wall
# clock), and scripts/gpu-test.sh. Run on Debian 12 as root (apt-get download).
#
#   ./scripts/gpu-bundle.sh [DIR]
#
# The host's Python is described, not run: SAVANT_TARGET_PYTHON_* (defaults for
# Ubuntu 24.04's /usr/bin/python3.12). libpython is linked through a stub with the
# host library's soname, so the real one loads there.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.gpu}"
version="${SAVANT_TARGET_PYTHON_VERSION:-3.12}"
export SAVANT_TARGET_PYTHON_VERSION="$version"
export SAVANT_TARGET_PYTHON_HOME="${SAVANT_TARGET_PYTHON_HOME:-/usr}"
export SAVANT_TARGET_PYTHON_EXECUTABLE="${SAVANT_TARGET_PYTHON_EXECUTABLE:-/usr/bin/python$version}"
export SAVANT_TARGET_PYTHON_SONAME="${SAVANT_TARGET_PYTHON_SONAME:-libpython$version.so.1.0}"
mkdir -p "$out/deb" "$out/plugin" target/gpu-python
stub="$PWD/target/gpu-python"
# A library with the host's soname and no symbols: the plugin records it as needed,
# and the dynamic loader binds the symbols to the host's real libpython.
echo 'void savant_libpython_stub(void) {}' > "$stub/stub.c"
cc -shared -o "$stub/libpython$version.so" -Wl,-soname,"$SAVANT_TARGET_PYTHON_SONAME" "$stub/stub.c"
scripts/pyo3-config.sh "$version" "$stub" >"$stub/pyo3.cfg"
# The link arguments go to the plugin alone (cargo rustc), not to build scripts.
PYO3_CONFIG_FILE="$stub/pyo3.cfg" CARGO_TARGET_DIR=target/gpu \
    cargo rustc --release --lib --crate-type cdylib -- \
    -C link-arg=-L"$stub" -C link-arg=-Wl,--no-as-needed -C link-arg=-lpython"$version"
# The plugin must name libpython (as a build against the real one does): the stub
# has none of its symbols, so --as-needed would drop it.
readelf -d target/gpu/release/libgstsavant.so | grep -q "NEEDED.*$SAVANT_TARGET_PYTHON_SONAME"
cp target/gpu/release/libgstsavant.so "$out/plugin/"

# The CUDA tests and benchmark: GStreamer's API only (no libpython), so the binaries
# built here run there; they load the plugin from SAVANT_PLUGIN_DIR.
mkdir -p "$out/bin" "$out/stages" "$out/data"
executable() { # cargo arguments... -> the path of the one executable built
    cargo test --no-run --message-format=json "$@" 2>/dev/null \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
strip -o "$out/bin/cuda-tests" "$(executable --test cuda)"
strip -o "$out/bin/cuda-bench" "$(executable --bench cuda)"
strip -o "$out/bin/pyfunc-overhead" "$(executable --bench pyfunc_overhead)"
cp benches/stages/gpu_frames.py benches/stages/trivial.py benches/stages/asarray.py "$out/stages/"
# Real video for nvh264dec: opencv-doc's Megamind.avi (720x528), scaled to 1080p and
# encoded with openh264 (gst-plugins-bad), 240 frames.
clip="$out/data/megamind-1080p.h264"
if [ ! -s "$clip" ]; then
    gst-launch-1.0 -q filesrc location=/usr/share/doc/opencv-doc/examples/data/Megamind.avi \
        ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=I420,width=1920,height=1080 \
        ! identity eos-after=240 ! openh264enc bitrate=4000000 ! h264parse \
        ! video/x-h264,stream-format=byte-stream ! filesink location="$clip"
fi

packages="libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 libgstreamer-plugins-bad1.0-0 \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-tools \
liborc-0.4-0 libunwind8 libdw1 libelf1 libgudev-1.0-0 libjpeg62-turbo libpng16-16 libvpx7 \
libopus0 libogg0 libvorbis0a libvorbisenc2 libtheora0 libgraphene-1.0-0 libcairo2 \
libpango-1.0-0 libpangocairo-1.0-0 libpangoft2-1.0-0 libglib2.0-0 libffi8 libpcre2-8-0 \
libmount1 libblkid1 libselinux1 zlib1g libgstreamer-gl1.0-0 libegl1 libgl1 libglx0 libglvnd0 \
libgles2 libopengl0 libx11-6 libx11-xcb1 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 libgbm1 \
libdrm2 libwayland-client0 libwayland-egl1 libwayland-cursor0 libxext6 libxdamage1 \
libxfixes3 libxxf86vm1 libxshmfence1 libxcb-glx0 libxcb-dri2-0 libxcb-dri3-0 \
libxcb-present0 libxcb-sync1 libxcb-xfixes0 libxcb-randr0 libexpat1 libwayland-server0"
(cd "$out/deb" && rm -f ./*.deb && apt-get download $packages >/dev/null)
cp scripts/gpu-test.sh "$out/"
du -sh "$out"
