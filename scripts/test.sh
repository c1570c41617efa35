#!/usr/bin/env bash
# Builds the plugin, its examples and tests, and runs every test. Installs missing
# Debian/Ubuntu packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
savant_install_deps
# The host tests load target/debug/libgstsavant.so and run the example binaries.
cargo build --all-targets
cargo test
