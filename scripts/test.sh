#!/usr/bin/env bash
# Builds the plugin, its examples and tests, and runs every test. Installs missing
# Debian/Ubuntu packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
# The tests also start a Prometheus server (tests/metrics.rs) and the brokers
# savantpublish sends to (tests/publish.rs), on loopback.
SAVANT_APT_PACKAGES="$SAVANT_APT_PACKAGES prometheus mosquitto redis-server nats-server python3-pip"
savant_install_deps
# Python's OpenTelemetry API and SDK, for the test of spans a stage makes itself
# (tests/metrics.rs): PyPI packages (Debian has none), pure Python, kept beside the
# build and named to the tests, which then require them.
otel="$PWD/target/python-otel"
if ! PYTHONPATH="$otel" /usr/bin/python3 -c "import opentelemetry.sdk.trace" 2>/dev/null; then
    /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --target "$otel" \
        opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2
fi
export SAVANT_TEST_OTEL_PYTHONPATH="$otel"
# The host tests load target/debug/libgstsavant.so and run the example binaries.
cargo build --all-targets
cargo test
