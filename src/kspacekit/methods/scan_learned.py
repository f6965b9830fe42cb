"""``scan-learned``: a reconstruction learned from the scan's own measured samples only.

No training database: for each slice a small model (:class:`kspacekit.models.scan_specific.SliceWiseBlend`)
learns how to combine (and, with ``hidden > 0``, convolutionally correct) the compressed-sensing
reconstructions (``tv``, ``wavelet``) and the zero-filled image of that slice, judged only by how
well it predicts measured k-space that its inputs never saw (k-space cross-validation, as in
SSDU / zero-shot self-supervised learning, Yaman et al.):

1. The sampled lines (points for 2-D patterns) outside the calibration centre are split into
   ``folds`` disjoint hold-out sets (:func:`kspacekit.physics.holdout.kfold_splits`). For every
   fold the inputs are reconstructed from the other folds' samples only.
2. The model maps a fold's inputs to a magnitude image whose k-space, through the coil model
   ``S e^{i phi}`` (ESPIRiT maps times the low-resolution phase), is compared with the fold's
   held-out samples (squared error normalised by their energy).
3. Step 0 is one CS reconstruction: the blend starts with all its weight on the one of
   ``tv``/``wavelet`` with the lower cross-validated error (a correction network starts at zero).
4. Stopping needs no ground truth: the model is trained (Adam) on all folds but the last for
   ``steps`` steps; the step with the lowest error on the last fold (step 0 included) is the
   number of steps. The model is then refitted from the same start on all folds for that many
   steps and applied to the inputs reconstructed from all measured samples.
5. The output keeps every measured sample: the image's coil k-space (through the coil model)
   with the measured samples put back, combined by root-sum-of-squares.

The defaults (3 folds, at most 60 steps, lr 1e-2, no correction network) were fixed on
simulated slices; the correction network (``hidden`` channels, ``layers`` deep) is an option
because, there, its stopping step sometimes fell after it had started to ruin the image
(BENCHMARKS.md, "scan-learned"). Fallback: a slice with too few samples outside the calibration
centre to hold out a fold gets ``wavelet``; a slice whose fit turns non-finite keeps its best
finite step (at worst step 0). Never NaN. Each slice is fitted separately (its own parameters,
split and stopping step), so a batch gives every slice the image it gets alone.
"""

from __future__ import annotations

import copy
import sys
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.methods.base import ReconMeta, ReconstructionMethod, create_method, register
from kspacekit.models.scan_specific import SliceWiseBlend
from kspacekit.physics.coils import estimate_maps, lowres_maps
from kspacekit.physics.fft import crop_or_pad, fft2c, ifft2c, rss
from kspacekit.physics.holdout import kfold_splits
from kspacekit.runtime import progress_bar

INPUT_METHODS = ("tv", "wavelet", "zero-filled")
"""The reconstructions the network combines; the first two are the candidate start points."""
FALLBACK = "wavelet"
"""The result for a slice whose samples cannot be split (too few outside the calibration centre)."""


@dataclass
class _Folds:
    """Inputs reconstructed per fold (F, B, I, H, W), the folds' hold-out masks (F, B, 1|H, 1|W)."""

    inputs: Tensor
    validation: Tensor


@register("scan-learned")
class ScanLearned(ReconstructionMethod):
    """Scan-specific self-supervised reconstruction. Options: folds, steps, hidden, layers, lr,
    seed, progress (a progress bar on a terminal)."""

    def __init__(
        self,
        folds: int = 3,
        steps: int = 60,
        hidden: int = 0,
        layers: int = 3,
        lr: float = 1e-2,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if folds < 2 or steps < 0 or hidden < 0 or layers < 1 or not lr > 0:
            raise KspaceKitError(
                f"scan-learned needs folds >= 2, steps >= 0, hidden >= 0, layers >= 1 and lr > 0, "
                f"got {folds}, {steps}, {hidden}, {layers} and {lr}"
            )
        self.folds, self.steps, self.hidden, self.layers, self.lr = folds, steps, hidden, layers, lr
        self.seed = seed
        self.progress = progress
        self.inputs = {name: create_method(name) for name in INPUT_METHODS}
        self.last_steps: list[int] = []
        """The number of fitting steps each slice of the last batch took (0: a CS reconstruction)."""

    def reconstruct(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        mask = mask.expand(kspace.shape[0], *mask.shape[1:])
        full_meta = ReconMeta(tuple(kspace.shape[-2:]), meta.num_low_frequencies, meta.acceleration)
        full_inputs = self._input_images(kspace, mask, full_meta)
        image = full_inputs[:, INPUT_METHODS.index(FALLBACK)].clone()
        steps = [0] * kspace.shape[0]
        splits = [self._splits(mask[b : b + 1]) for b in range(kspace.shape[0])]
        usable = [b for b, split in enumerate(splits) if split is not None]
        if usable:
            index = torch.tensor(usable, device=kspace.device)
            fitted, fitted_steps = self._fit(
                kspace[index], mask[index], [splits[b] for b in usable], full_inputs[index], full_meta
            )
            image[index] = fitted
            for b, count in zip(usable, fitted_steps):
                steps[b] = count
        self.last_steps = steps
        return crop_or_pad(image.clamp_min(0), meta.target_size).float().nan_to_num(0.0, 0.0, 0.0)

    def _splits(self, mask: Tensor) -> list[tuple[Tensor, Tensor]] | None:
        """(fit, validation) masks of one slice, or None where its samples cannot be split."""
        try:
            return [(s.fit, s.validation) for s in kfold_splits(mask, self.folds, self.seed)]
        except KspaceKitError:
            return None

    def _input_images(self, kspace: Tensor, mask: Tensor, meta: ReconMeta) -> Tensor:
        """(B, I, H, W) magnitude images of the input methods."""
        return torch.stack([method(kspace * mask, mask, meta) for method in self.inputs.values()], 1)

    def _fold_inputs(
        self, kspace: Tensor, splits: list[list[tuple[Tensor, Tensor]]], meta: ReconMeta
    ) -> _Folds:
        """Every fold's inputs, reconstructed from its fit samples only, in one batch per method."""
        fit = torch.stack([torch.cat([s[f][0] for s in splits]) for f in range(self.folds)])
        validation = torch.stack([torch.cat([s[f][1] for s in splits]) for f in range(self.folds)])
        batch = kspace.unsqueeze(0).expand(self.folds, *kspace.shape).flatten(0, 1)
        images = self._input_images(batch, fit.flatten(0, 1), meta)
        return _Folds(images.view(self.folds, kspace.shape[0], *images.shape[1:]), validation)

    def _fit(
        self,
        kspace: Tensor,
        mask: Tensor,
        splits: list[list[tuple[Tensor, Tensor]]],
        full_inputs: Tensor,
        meta: ReconMeta,
    ) -> tuple[Tensor, list[int]]:
        """Fit, stop and refit every slice's network; its image (B, H, W) from all samples, steps per slice."""
        measured = kspace * mask
        scale = full_inputs[:, 0].flatten(1).amax(1).clamp_min(torch.finfo(torch.float32).tiny)
        folds = self._fold_inputs(measured, splits, meta)
        inputs = folds.inputs / scale.view(1, -1, 1, 1, 1)
        target = measured / scale.view(-1, 1, 1, 1).to(measured.dtype)
        coil_model = magnitude_coil_model(measured, mask)

        def errors(model: SliceWiseBlend, fold: slice) -> Tensor:
            """Normalised squared error (B,) of the held-out samples, averaged over the folds."""
            predicted = fft2c(coil_model * model(inputs[fold]).unsqueeze(2).to(coil_model.dtype))
            held = folds.validation[fold].to(predicted.real.dtype)
            error = ((predicted - target) * held).abs().square().flatten(2).sum(2)
            energy = (target * held).abs().square().flatten(2).sum(2)
            return (error / energy.clamp_min(torch.finfo(torch.float32).tiny)).mean(0)

        with torch.no_grad():
            start = self._start_weights(inputs, errors)
        with torch.enable_grad():
            bar = progress_bar() if self.progress and sys.stderr.isatty() else nullcontext()
            with bar as progress:
                task = progress.add_task("scan-learned", total=2 * self.steps) if progress else None
                chosen = self._stopping_steps(start, errors, progress, task)
                model = self._refit(start, errors, chosen, progress, task)
        with torch.no_grad():
            image = model(full_inputs.unsqueeze(0) / scale.view(1, -1, 1, 1, 1))[0] * scale.view(-1, 1, 1)
        start_image = (full_inputs * start.view(*start.shape, 1, 1)).sum(1)
        finite = torch.isfinite(image).flatten(1).all(1)
        image = torch.where(finite.view(-1, 1, 1), image, start_image)
        sampled = mask.to(measured.real.dtype)
        predicted = fft2c(coil_model * image.unsqueeze(1).to(coil_model.dtype))
        image = rss(ifft2c(measured + (1 - sampled) * predicted), dim=1)
        return image, [int(c) if bool(f) else 0 for c, f in zip(chosen.tolist(), finite.tolist())]

    def _new_model(self, start: Tensor) -> SliceWiseBlend:
        return SliceWiseBlend(start, self.hidden, self.layers, torch.Generator().manual_seed(self.seed))

    def _start_weights(self, inputs: Tensor, errors) -> Tensor:
        """One-hot (B, I) weights on the CS input with the lowest cross-validated error."""
        candidates = torch.eye(inputs.shape[2], device=inputs.device)[:2]
        scores = torch.stack(
            [errors(self._new_blend(row.expand(inputs.shape[1], -1)), slice(None)) for row in candidates]
        )
        return candidates[scores.nan_to_num(torch.inf).argmin(0)]

    def _new_blend(self, weights: Tensor) -> SliceWiseBlend:
        return SliceWiseBlend(weights, 0, 1, torch.Generator())

    def _stopping_steps(self, start: Tensor, errors, progress, task) -> Tensor:
        """Per slice, the step (0..steps) with the lowest error on the last fold while fitting the others."""
        model = self._new_model(start)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
        fitted, monitored = slice(0, self.folds - 1), slice(self.folds - 1, self.folds)
        with torch.no_grad():
            best = errors(model, monitored).nan_to_num(torch.inf)
        chosen = torch.zeros_like(best, dtype=torch.long)
        for step in range(1, self.steps + 1):
            optimiser.zero_grad()
            errors(model, fitted).nan_to_num(0.0).sum().backward()
            optimiser.step()
            with torch.no_grad():
                current = errors(model, monitored).nan_to_num(torch.inf)
            better = current < best
            best = torch.where(better, current, best)
            chosen = torch.where(better, step, chosen)
            if progress:
                progress.advance(task)
        return chosen

    def _refit(self, start: Tensor, errors, chosen: Tensor, progress, task) -> SliceWiseBlend:
        """The network refitted on all folds, each slice's parameters taken at its chosen step."""
        model = self._new_model(start)
        result = copy.deepcopy(model)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
        for step in range(1, int(chosen.max()) + 1):
            optimiser.zero_grad()
            errors(model, slice(None)).nan_to_num(0.0).sum().backward()
            optimiser.step()
            result.load_slices(model.slice_state(), chosen == step)
            if progress:
                progress.advance(task)
        if progress:
            progress.update(task, completed=2 * self.steps)
        return result


def magnitude_coil_model(kspace: Tensor, mask: Tensor) -> Tensor:
    """``S e^{i phi}`` (B, C, H, W), from the measured samples only: ESPIRiT maps times the phase
    of the low-resolution image they combine, so that ``F (S e^{i phi} m)`` models the coil
    k-space of a magnitude image ``m``."""
    maps = estimate_maps(kspace, mask, "espirit")
    return maps * torch.sgn((maps.conj() * lowres_maps(kspace, mask)).sum(1, keepdim=True))
