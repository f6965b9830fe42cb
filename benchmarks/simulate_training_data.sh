#!/bin/sh
# The simulated multi-coil data the shipped weights are trained on (see benchmarks/train_shipped.py).
#
# Training: the Colin27 brain's axial and sagittal stacks, simulated eight times with a different
# coil array (2 to 16 loop coils), noise level (SNR 20 to 100) and matrix size each, six of the
# eight with a synthetic scalp and skull around the skull-stripped brain (--head, a new random
# subject each time; real head scans have a bright fat ring that stripped brains lack), plus the
# small real magnitude images of other contrasts (dipy diffusion b=0 and T1 slices, matplotlib's
# sagittal head, pydicom's abdomen). A model that sees one coil array and one SNR learns that
# array (measured: trained on one 8-coil SNR-30 array, unet and varnet barely beat zero-filled on
# the real 8-coil brain; without --head, they fell 4 dB behind TV on the real brain, whose
# scalp they had never seen: benchmarks/domain_gap.py). Validation: Colin27's coronal stack with
# a head, another coil array.
# Held out from all of it: the ICBM152 template (`kspacekit demo`'s data) and the real k-space in
# ../shared/data/kspace (the reported real-data results).
# Usage, from the repository root: sh benchmarks/simulate_training_data.sh [OUTPUT_DIR]
set -eu
KS=.venv/bin/kspacekit
IMAGES=../shared/data/images
OUT=${1:-sim_data}
SCRATCH=$OUT/.runs
rm -rf "$SCRATCH" "$OUT/multicoil_train" "$OUT/multicoil_val"
mkdir -p "$OUT/multicoil_train" "$OUT/multicoil_val"

run=0
for setting in "8 30 192 192 --head" "8 60 224 176 --head" "8 100 192 192" "4 40 176 224 --head" \
               "12 50 208 208 --head" "2 20 160 160" "2 60 192 192 --head" "16 40 224 192 --head"; do
    set -- $setting
    run=$((run + 1))
    $KS simulate --source "$IMAGES/colin27_ch2better.nii.gz" --orientation axial --orientation sagittal \
        --slices-per-volume 40 --coils "$1" --snr "$2" --shape "$3" "$4" ${5:-} --seed "$run" \
        --split 1 0 0 --output "$SCRATCH/colin27_$run"
    for file in "$SCRATCH/colin27_$run"/multicoil_train/*.h5; do
        mv "$file" "$OUT/multicoil_train/run${run}_$(basename "$file")"
    done
done
for setting in "8 30 1" "4 60 2" "2 40 3"; do
    set -- $setting
    $KS simulate --source "$IMAGES/dipy_S0_10slices.nii.gz" --source "$IMAGES/dipy_t1_coronal_slice.npy" \
        --source "$IMAGES/matplotlib_s1045.ima.gz" --source "$IMAGES/pydicom_examples_overlay.dcm" \
        --coils "$1" --snr "$2" --shape 192 192 --seed "$((100 + $3))" --split 1 0 0 --split-by volume \
        --output "$SCRATCH/other_$3"
    for file in "$SCRATCH/other_$3"/multicoil_train/*.h5; do
        mv "$file" "$OUT/multicoil_train/other$3_$(basename "$file")"
    done
done
$KS simulate --source "$IMAGES/colin27_ch2better.nii.gz" --orientation coronal --slices-per-volume 60 --head \
    --coils 8 --snr 50 --shape 192 192 --seed 1000 --split 0 1 0 --output "$SCRATCH/val"
mv "$SCRATCH/val"/multicoil_val/*.h5 "$OUT/multicoil_val/"
rm -rf "$SCRATCH"
