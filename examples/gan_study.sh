#!/usr/bin/env bash
# The course's GAN study, reproduced on simulated single-coil data and sized for 2 CPU cores.
#
# The original compared losses (L1, MSE, BCE, SSIM, KL) and optimizers (Adam, Adagrad, AdamW) for a
# GAN (U-Net generator, convolutional discriminator) by validation SSIM per epoch and per fold,
# 3-fold cross-validation by volume, on fastMRI single-coil knees. Here: the same grid, for the GAN
# and for the plain U-Net, on random-ellipse phantoms (closed-form k-space, 64x64, complex noise at
# SNR 20), 4x fastMRI random masks, small networks and 5 epochs. Simulated data: the ranking says
# which settings learn these images, not how they do on knees.
#
#   bash examples/gan_study.sh [OUTPUT_FOLDER]     # about 15 minutes on 2 cores (both sweeps at once)
#
# Writes OUTPUT/{gan,unet}/sweep.csv, sweep.png, sweep.html (and one run folder per configuration).
set -euo pipefail
out="${1:-gan_study}"
kspacekit="${KSPACEKIT:-kspacekit}"
export OMP_NUM_THREADS=1  # one core per sweep

$kspacekit simulate --phantom ellipses --volumes 12 --slices 4 --coils 1 --shape 64 64 --snr 20 \
    --split 1 0 0 --seed 0 -o "$out/data"

common=(--train "$out/data/singlecoil_train" --folds 3 --epochs 5 --lr 1e-3 --seed 0
        --losses l1,mse,bce,ssim,kl --optimizers adam,adagrad,adamw
        --model-option chans=8 --model-option num_pool_layers=3
        --keep best --no-progress --no-tensorboard --device cpu)
$kspacekit sweep --model gan "${common[@]}" --model-option disc_chans=16 -o "$out/gan" > "$out/gan.log" 2>&1 &
gan=$!
$kspacekit sweep --model unet "${common[@]}" -o "$out/unet" > "$out/unet.log" 2>&1
wait "$gan"
tail -n 1 "$out/gan.log" "$out/unet.log"
