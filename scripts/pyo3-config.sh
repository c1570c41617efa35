#!/usr/bin/env bash
# Prints a PyO3 build config (PYO3_CONFIG_FILE) for CPython VERSION, a shared GIL
# build, so the crate builds against that Python's C API without running it:
#
#   scripts/pyo3-config.sh VERSION [LIB_DIR] > pyo3.cfg
#
# LIB_DIR: where the linker finds libpythonVERSION.so (unset: type-checking only).
set -euo pipefail
version="$1"
cat <<CFG
implementation=CPython
version=$version
shared=true
abi3=false
lib_name=python$version
${2:+lib_dir=$2
}pointer_width=64
build_flags=
suppress_build_script_link_lines=false
CFG
