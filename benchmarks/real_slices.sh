#!/bin/sh
# Every method on every real fully sampled slice in ../shared/data, >= 6 fastMRI random-mask draws
# per acceleration (4x: 8 % centre, 8x: 4 % centre), fastMRI metrics on unit-max RSS targets:
#   - espirit_brain_full_8ch, 1-D masks along its last axis and (transposed) along the other one
#   - the twix GRE phantom (2 channels), masks along its phase-encode axis
# Coil maps and lambdas come from the undersampled data only; the learned models use the shipped
# weights, trained on simulated Colin27 data (never on these slices).
# Usage, from the repository root: sh benchmarks/real_slices.sh [OUTPUT_DIR] [SEEDS] [METHODS]
set -eu
KS=.venv/bin/kspacekit
DATA=../shared/data/kspace
OUT=${1:-real_slices}
SEEDS=${2:-6}
METHODS=${3:-zero-filled,sense,grappa,tv,wavelet,unet,varnet}
mkdir -p "$OUT/data"
$KS convert "$DATA/espirit_brain_full_8ch.cfl" "$OUT/data/brain_pe_last.h5" --overwrite
$KS convert "$DATA/espirit_brain_full_8ch.cfl" "$OUT/data/brain_pe_first.h5" --pe-axis 1 --overwrite
$KS convert "$DATA/twixtools_gre_phantom_2ch_kspace_derived.npy" "$OUT/data/twix_phantom.h5" \
    --coil-axis 0 --pe-axis 1 --overwrite
$KS benchmark --data "$OUT/data" --methods "$METHODS" --seeds "$SEEDS" --output "$OUT/report" --overwrite \
    --title "kspacekit on real k-space: ESPIRiT brain (both phase-encode axes) and twix phantom, $SEEDS mask draws"
# Per real slice (file): mean ± std over the mask draws, from the benchmark's results.csv.
.venv/bin/python - "$OUT/report/results.csv" <<'PY'
import csv
import sys
from collections import defaultdict
from statistics import mean, stdev

rows = defaultdict(list)
with open(sys.argv[1]) as f:
    for row in csv.DictReader(f):
        rows[(row["file"], float(row["acceleration"]), row["method"])].append(row)
print("| slice | acc. | method | PSNR (dB) | SSIM | draws |")
print("|---|---|---|---|---|---|")
for (file, acceleration, method), draws in sorted(rows.items()):
    psnr = [float(r["psnr"]) for r in draws]
    ssim = [float(r["ssim"]) for r in draws]
    spread = lambda values: stdev(values) if len(values) > 1 else 0.0
    print(f"| {file} | {acceleration:g}x | {method} | {mean(psnr):.2f} ± {spread(psnr):.2f} | "
          f"{mean(ssim):.3f} ± {spread(ssim):.3f} | {len(draws)} |")
PY
