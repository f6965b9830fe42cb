"""Physics: centred FFTs, the SENSE forward model, sampling masks, coil maps and calibration kernels.

The spine every method uses, classical and learned alike: torch tensors (batch, coils, H, W),
complex64, on CPU or CUDA.
"""
