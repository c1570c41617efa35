#!/usr/bin/env bash
# Builds gst-savant and runs its whole test suite on Debian 13 (GStreamer 1.26,
# Python 3.13, Debian's numpy/OpenCV/PyGObject) inside a Debian 13 root made with
# debootstrap from Debian's own archive. Needs root. The host's Rust toolchain
# (~/.cargo, ~/.rustup) is bind-mounted; the root is kept in $SAVANT_DEBIAN13_ROOT
# (default /var/cache/gst-savant-trixie) and reused by later runs.
#
#   ./scripts/test-debian13.sh            # the whole suite, with the `analytics` feature
#   ./scripts/test-debian13.sh CMD...     # CMD in the source tree inside the root
set -euo pipefail
cd "$(dirname "$0")/.."

root="${SAVANT_DEBIAN13_ROOT:-/var/cache/gst-savant-trixie}"
mirror="${SAVANT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ "$(id -u)" -ne 0 ]; then
    echo "test-debian13.sh needs root (debootstrap, chroot, bind mounts)" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

# The packages the Debian 12 suite uses (scripts/deps.sh), by their Debian 13 names.
packages="ca-certificates gcc libc6-dev pkg-config libgstreamer1.0-dev \
libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev gstreamer1.0-tools gstreamer1.0-plugins-base \
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav python3-dev \
python3-numpy python3-opencv python3-gi python3-gst-1.0 \
gstreamer1.0-python3-plugin-loader opencv-data opencv-doc valgrind cargo-c prometheus \
mosquitto redis-server nats-server"

if [ ! -x "$root/usr/bin/apt-get" ]; then
    debootstrap --variant=minbase trixie "$root" "$mirror"
fi

mounts=()
cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -l "${mounts[$i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT
bind() {
    mkdir -p "$root$2"
    # A run killed before its cleanup (SIGKILL) leaves its mounts: /src would still
    # be the old checkout (gone, so mounting on it fails).
    while mountpoint -q "$root$2" 2>/dev/null || ! [ -d "$root$2/." ]; do
        umount -l "$root$2" 2>/dev/null || break
    done
    mount --bind "$1" "$root$2"
    mounts+=("$root$2")
}
bind /proc /proc
bind /dev /dev
bind "$HOME/.cargo" /root/.cargo
bind "$HOME/.rustup" /root/.rustup
bind "$PWD" /src
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The host's CA bundle (with any CA the host's network needs for the registries):
# cargo in the root fetches crates the host's build did not (gstreamer-analytics).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/host-ca-certificates.crt" 2>/dev/null || true

run() {
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/bin:/bin \
        CARGO_TARGET_DIR=/root/target-debian13 LANG=C.UTF-8 \
        CARGO_HTTP_CAINFO=/etc/host-ca-certificates.crt "$@"
}
# dpkg-query -W alone succeeds for packages dpkg merely knows of: check the status.
run bash -c "[ \$(dpkg-query -W -f='\${Status}\n' $packages 2>/dev/null | grep -c 'ok installed') -eq $(echo $packages | wc -w) ] || \
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
     --no-install-recommends $packages)"
echo "Debian $(cat "$root/etc/debian_version"), $(run gst-launch-1.0 --gst-version | head -1), $(run python3 --version)"
export_env="cd /src && export PYO3_PYTHON=/usr/bin/python3 CARGO_INCREMENTAL=0"
# Python's OpenTelemetry packages from PyPI, as scripts/test.sh installs them (pure
# Python: the same folder serves Python 3.13).
if [ -d target/python-otel/opentelemetry ]; then
    export_env="$export_env SAVANT_TEST_OTEL_PYTHONPATH=/src/target/python-otel"
fi
if [ $# -gt 0 ]; then
    run bash -c "$export_env && $(printf '%q ' "$@")"
    exit
fi
# GStreamer 1.26 has GstAnalytics: the suite runs with the feature that uses it.
run bash -c "$export_env && cargo build --all-targets --features analytics && \
    cargo test --no-fail-fast --features analytics && \
    cargo clippy --all-targets --features analytics -- -D warnings"

# The install path of the README: cargo-c puts the plugin into GStreamer's plugin
# directory, where gst-inspect and gst-launch find it without GST_PLUGIN_PATH. Debian
# 13's cargo-c runs the host's toolchain (first on PATH). The root is scratch space,
# so installing into its /usr is what a user's machine would see.
plugindir=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
run bash -c "$export_env && cargo cinstall --release --library-type=cdylib --features analytics \
    --prefix=/usr --libdir=/usr/lib/x86_64-linux-gnu && \
    env -u GST_PLUGIN_PATH gst-inspect-1.0 savantpyfunc | grep -q 'Filename *$plugindir/libgstsavant.so' && \
    env -u GST_PLUGIN_PATH gst-launch-1.0 -q videotestsrc num-buffers=3 \
        ! savantpyfunc module=examples/ball.py class-name=BallFinder ! fakesink && \
    rm -f $plugindir/libgstsavant.so && echo 'cargo cinstall: gst-inspect-1.0 and gst-launch-1.0 found the plugin'"
