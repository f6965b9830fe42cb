#!/usr/bin/env bash
# Wheels of the packages kspacekit's GPU check needs and the GPU machines' image lacks (its python3
# is 3.12 with torch, numpy, scipy, h5py, numba, typer, rich, pytest and hypothesis, but neither ptwt,
# PyWavelets nor fastmri), saved into .whl/ (git-ignored through .git/info/exclude) to be carried there.
# Run once, here, where the package index is reachable:  bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl PyWavelets==1.9.0 ptwt==1.0.1 fastmri==0.3.0
