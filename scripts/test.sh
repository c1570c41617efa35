#!/usr/bin/env bash
# Builds the plugin, its examples and tests, and runs every test. Installs missing
# Debian/Ubuntu packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
# The tests also start a Prometheus server (tests/metrics.rs) and the brokers
# savantpublish sends to (tests/publish.rs), on loopback.
SAVANT_APT_PACKAGES="$SAVANT_APT_PACKAGES prometheus mosquitto redis-server nats-server"
savant_install_deps
# The host tests load target/debug/libgstsavant.so and run the example binaries.
cargo build --all-targets
cargo test
