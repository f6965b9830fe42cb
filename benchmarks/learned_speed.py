"""CPU speed of kspacekit's learned models against the fastmri package, same architecture and weights.

Compares, in one process and interleaved (ours, theirs, ours, theirs, ...) so that load on a
shared machine hits both alike:

* U-Net (chans=32, 4 pools, 7.76 M parameters) on one 320x320 image: inference and one training
  step (forward, L1 loss, backward, Adam step);
* E2E-VarNet (fastMRI defaults: 12 cascades, 29.9 M parameters) on one 15-coil 640x368 slice
  with a 4x random line mask: inference and one training step (SSIM loss as fastMRI trains it).

Both models get identical weights (copied parameter by parameter), and the script checks that
their outputs agree before timing. Reports the median and min of the repeats and writes a JSON.

    .venv/bin/python benchmarks/learned_speed.py --repeats 5 --output benchmarks/results/learned_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import fastmri
import fastmri.models
import torch
from fastmri.data.subsample import RandomMaskFunc
from fastmri.losses import SSIMLoss

from kspacekit.models.unet import Unet
from kspacekit.models.varnet import VarNet
from kspacekit.physics.fft import fft2c
from kspacekit.training.losses import ssim_loss


def copy_parameters(source: torch.nn.Module, target: torch.nn.Module) -> None:
    with torch.no_grad():
        for s, t in zip(source.parameters(), target.parameters(), strict=True):
            t.copy_(s)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, float]]:
    """Run each case once to warm up, then ``repeats`` rounds of all cases in turn."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "runs": t} for name, t in times.items()}


def unet_cases() -> dict[str, Callable[[], object]]:
    theirs = fastmri.models.Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4)
    ours = Unet(1, 1, chans=32, num_pool_layers=4)
    copy_parameters(theirs, ours)
    image = torch.randn(1, 1, 320, 320)
    target = torch.randn(1, 1, 320, 320)
    with torch.inference_mode():
        torch.testing.assert_close(ours.eval()(image), theirs.eval()(image), rtol=1e-4, atol=1e-4)

    def infer(model: torch.nn.Module) -> Callable[[], object]:
        def run() -> object:
            model.eval()
            with torch.inference_mode():
                return model(image)

        return run

    def train_step(model: torch.nn.Module) -> Callable[[], object]:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

        def run() -> object:
            model.train()
            loss = torch.nn.functional.l1_loss(model(image), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        return run

    return {
        "unet_infer_kspacekit": infer(ours),
        "unet_infer_fastmri": infer(theirs),
        "unet_train_kspacekit": train_step(ours),
        "unet_train_fastmri": train_step(theirs),
    }


def varnet_cases(coils: int, height: int, width: int, train: bool) -> dict[str, Callable[[], object]]:
    theirs = fastmri.models.VarNet()
    ours = VarNet()
    copy_parameters(theirs, ours)
    g = torch.Generator().manual_seed(0)
    kspace = fft2c(torch.randn(1, coils, height, width, generator=g, dtype=torch.complex64))
    mask_1d, num_low = RandomMaskFunc([0.08], [4])((1, 1, width, 1), seed=0)
    mask = mask_1d[..., 0].reshape(1, 1, 1, width)
    masked = kspace * mask
    masked_real = torch.view_as_real(masked)
    mask_bool = mask[..., None].bool()
    target = torch.rand(1, height, width)
    max_value = target.amax().reshape(1)
    with torch.inference_mode():
        torch.testing.assert_close(
            ours.eval()(masked, mask, num_low_frequencies=int(num_low)),
            theirs.eval()(masked_real, mask_bool, int(num_low)),
            rtol=1e-3, atol=1e-3 * float(masked.abs().max()),
        )

    def ours_forward() -> torch.Tensor:
        return ours(masked, mask, num_low_frequencies=int(num_low))

    def theirs_forward() -> torch.Tensor:
        return theirs(masked_real, mask_bool, int(num_low))

    def infer(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> Callable[[], object]:
        def run() -> object:
            model.eval()
            with torch.inference_mode():
                return forward()

        return run

    def train_step(model: torch.nn.Module, forward: Callable[[], torch.Tensor], loss_fn) -> Callable[[], object]:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)

        def run() -> object:
            model.train()
            loss = loss_fn(forward(), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        return run

    fastmri_ssim = SSIMLoss()
    cases = {
        "varnet_infer_kspacekit": infer(ours, ours_forward),
        "varnet_infer_fastmri": infer(theirs, theirs_forward),
    }
    if train:
        cases["varnet_train_kspacekit"] = train_step(ours, ours_forward, lambda p, t: ssim_loss(p, t, max_value))
        cases["varnet_train_fastmri"] = train_step(
            theirs, theirs_forward, lambda p, t: fastmri_ssim(p.unsqueeze(1), t.unsqueeze(1), max_value)
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per case (after one warm-up)")
    parser.add_argument("--varnet-repeats", type=int, default=3, help="timed rounds for the VarNet cases")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-varnet-train", action="store_true", help="skip the (slow, ~5 GB) VarNet training step")
    parser.add_argument("--coils", type=int, default=15)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--width", type=int, default=368)
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = interleaved(unet_cases(), args.repeats)
    results |= interleaved(varnet_cases(args.coils, args.height, args.width, not args.no_varnet_train),
                           args.varnet_repeats)
    conditions = {
        "torch": torch.__version__,
        "fastmri": getattr(fastmri, "__version__", "0.3.0"),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "machine": platform.processor() or platform.machine(),
        "varnet_slice": [args.coils, args.height, args.width],
    }
    print(json.dumps(conditions))
    print(f"{'case':28s} {'median s':>10s} {'min s':>10s}")
    for name, r in results.items():
        print(f"{name:28s} {r['median_s']:10.3f} {r['min_s']:10.3f}")
    for pair in ("unet_infer", "unet_train", "varnet_infer", "varnet_train"):
        if f"{pair}_kspacekit" in results:
            ratio = results[f"{pair}_kspacekit"]["median_s"] / results[f"{pair}_fastmri"]["median_s"]
            print(f"{pair}: kspacekit / fastmri = {ratio:.3f} (median)")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"conditions": conditions, "results": results}, indent=2))


if __name__ == "__main__":
    main()
