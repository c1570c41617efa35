# Sourced by demo.sh and test.sh: installs the Debian/Ubuntu packages gst-savant needs
# when any is missing (as root, or through sudo).
SAVANT_APT_PACKAGES="pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
gstreamer1.0-plugins-bad gstreamer1.0-libav python3-dev python3-numpy python3-opencv \
python3-gi python3-gst-1.0 gstreamer1.0-python3-plugin-loader \
opencv-data opencv-doc"

savant_install_deps() {
    local missing=()
    for pkg in $SAVANT_APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    if ! command -v cargo >/dev/null; then
        echo "cargo not found: install a Rust toolchain (1.92 or newer), e.g. with rustup" >&2
        return 1
    fi
}
