"""The prepared GPU check (issue #20): correctness and throughput of the CUDA path in one run.

Run it through ``benchmarks/gpu_check.sh`` (which picks an interpreter whose torch sees the GPU);
see BENCHMARKS.md, "GPU check". Sections, each timed and each recording its error instead of
stopping the run:

* ``tests``: the device-parametrised tests (``pytest -k cuda`` with ``KSPACEKIT_TEST_DEVICE=cuda``,
  so a missing GPU fails instead of skipping);
* ``reconstruction``: seconds per slice of ``sense``, ``tv``, ``wavelet`` and ``varnet`` on a
  batch of 15-coil 640x368 slices, 4x;
* ``throughput``: ``tv`` and ``wavelet`` slices/s on a batch of 8-coil 320x320 slices at exactly
  100 iterations (bar: >= 50 slices/s on one H100);
* ``training_steps``: VarNet (fastMRI size: 12 cascades, 15 coils, 640x368) and U-Net (chans 32,
  320x320) training steps, ours and the fastmri package's, in float32 and mixed precision, at
  batch 1 and at the largest batch that fits (doubling until out of memory), with peak memory;
* ``mixed_precision_ssim``: validation SSIM of the same short training run (same seed, simulated
  phantoms) in mixed precision and in float32, through the training engine;
* ``ddp``: a 2-process ``torchrun`` smoke training where the machine has 2 GPUs;
* ``scan_learned``: ``scan-learned`` (where registered) on one such slice, once, last: it fits a
  network per slice.

Sections start only while the time budget lasts, so that the CUDA form ends within 8 minutes.

Writes ``gpu_check.json`` and ``gpu_check.md`` into ``--out`` (default ``$OUT``, else
``out/gpu_check``). ``--device cpu`` runs every section at tiny sizes in seconds (mixed
precision as bfloat16 autocast, tests collected but not run, DDP skipped): a test runs that form
so the script cannot rot; its numbers are not performance figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from kspacekit.methods import ReconMeta, available_methods, create_method
from kspacekit.models.unet import Unet
from kspacekit.models.varnet import VarNet
from kspacekit.physics.fft import fft2c
from kspacekit.physics.masks import make_mask
from kspacekit.simulation.acquisition import pixel_positions, random_coil_maps, simulate_slices

ROOT = Path(__file__).resolve().parents[1]
DEVICE_TESTS = [
    "tests/physics/test_fft_operators.py",
    "tests/physics/test_masks.py",
    "tests/methods/test_methods_device.py",
    "tests/models/test_models.py",
    "tests/training/test_device.py",
    "tests/optim/test_convergence_checks.py",
]
FASTMRI_VARNET = {"num_cascades": 12, "sens_chans": 8, "sens_pools": 4, "chans": 18, "pools": 4}
RECON_METHODS = ["sense", "tv", "wavelet", "varnet"]


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one form of the check: (coils, H, W) shapes, batches, iterations."""

    recon_shape: tuple[int, int, int]
    recon_batch: int
    recon_iterations: int | None  # None: each method's default
    throughput_shape: tuple[int, int, int]
    throughput_batch: int
    throughput_iterations: int
    varnet: dict[str, int]
    varnet_shape: tuple[int, int, int]
    unet_chans: int
    unet_shape: tuple[int, int]
    max_batch: dict[str, int]
    repeats: int
    recon_repeats: int
    ssim_models: dict[str, dict[str, int]]
    ssim_data: dict[str, Any] = field(default_factory=dict)
    budget_s: float = 360.0
    """Seconds after which batch searches stop and sections not yet started are skipped (the
    whole check must end within 8 minutes)."""


FULL = Sizes(
    recon_shape=(15, 640, 368), recon_batch=4, recon_iterations=None,
    throughput_shape=(8, 320, 320), throughput_batch=32, throughput_iterations=100,
    varnet=FASTMRI_VARNET, varnet_shape=(15, 640, 368), unet_chans=32, unet_shape=(320, 320),
    max_batch={"varnet": 32, "unet": 512}, repeats=3, recon_repeats=2,
    ssim_models={"unet": {"chans": 32, "num_pool_layers": 4},
                 "varnet": {"num_cascades": 4, "sens_chans": 4, "sens_pools": 4, "chans": 12, "pools": 4}},
    ssim_data={"shape": (128, 128), "coils": 4, "train_volumes": 8, "slices": 4, "epochs": 8},
)
REDUCED = Sizes(
    recon_shape=(4, 48, 48), recon_batch=2, recon_iterations=5,
    throughput_shape=(2, 48, 48), throughput_batch=2, throughput_iterations=5,
    varnet={"num_cascades": 2, "sens_chans": 2, "sens_pools": 2, "chans": 4, "pools": 2},
    varnet_shape=(2, 32, 32), unet_chans=4, unet_shape=(32, 32),
    max_batch={"varnet": 2, "unet": 2}, repeats=0, recon_repeats=0,
    ssim_models={"unet": {"chans": 4, "num_pool_layers": 2}},
    ssim_data={"shape": (32, 32), "coils": 2, "train_volumes": 1, "slices": 2, "epochs": 1},
    budget_s=600.0,  # no time limit in effect: every path must run, however loaded the machine
)


# ---- timing ----------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call (kernels, plans, caches);
    with ``repeats`` 0, the time of that one call (the reduced form, and fit checks)."""
    times = [timed_once(fn, device) for _ in range(1 + repeats)]
    return statistics.median(times[1:] or times)


def timed_once(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one call, the device's queue drained before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset (None on the CPU)."""
    return round(torch.cuda.max_memory_allocated(device) / 1e9, 3) if device.type == "cuda" else None


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(err: BaseException) -> bool:
    """torch's own error, or cuDNN/cuBLAS failing to allocate their workspace."""
    text = str(err).lower()
    return isinstance(err, torch.OutOfMemoryError) or any(
        sign in text for sign in ("out of memory", "not_enough_memory", "alloc_failed"))


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]


# ---- synthetic data --------------------------------------------------------------------------


def synthetic_kspace(batch: int, shape: tuple[int, int, int], device: torch.device, seed: int = 0) -> torch.Tensor:
    """Fully sampled k-space (B, C, H, W) complex64 of an ellipse with texture through a random
    loop coil array, made on ``device`` by the simulation's acquisition model (SNR 30)."""
    coils, height, width = shape
    generator = torch.Generator(device).manual_seed(seed)
    position = pixel_positions((height, width), device)
    inside = ((position[..., 0] / 0.9) ** 2 + (position[..., 1] / 0.7) ** 2 < 1).float()
    texture = 1 + 0.3 * torch.cos(9 * position[..., 0]) * torch.sin(7 * position[..., 1])
    magnitudes = (inside * texture).expand(batch, height, width)
    maps = random_coil_maps(coils, (height, width), generator)
    return fft2c(simulate_slices(magnitudes, maps, snr=30.0, generator=generator).coil_images)


def undersampled(batch: int, shape: tuple[int, int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(masked k-space, (B, 1, 1, W) 4x equispaced mask, centre lines) on ``device``."""
    kspace = synthetic_kspace(batch, shape, device)
    mask, num_low = make_mask("equispaced_fraction", kspace.shape, 4, 0.08, seed=0)
    mask = mask.to(device).expand(batch, 1, 1, shape[-1])
    return kspace * mask, mask, num_low


# ---- sections --------------------------------------------------------------------------------


def run_tests(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """The device-parametrised tests on ``device`` (on the CPU form: collected only)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", device.type, *DEVICE_TESTS]
    env = dict(os.environ)
    if device.type == "cuda":
        env["KSPACEKIT_TEST_DEVICE"] = "cuda"
    else:
        command.append("--collect-only")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed)", lines[-1] if lines else "")}
    collected = re.search(r"(\d+)(?:/\d+)? tests? collected", result.stdout)
    if collected:
        counts["collected"] = int(collected.group(1))
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return {
        "command": " ".join(command[1:]), "returncode": result.returncode, "counts": counts,
        "summary": lines[-1] if lines else result.stderr[-300:], "failures": failures[:20],
    }


def run_reconstruction(device: torch.device, sizes: Sizes, names: list[str], batch: int, repeats: int) -> dict[str, Any]:
    """Seconds per slice of each method on one batch of ``recon_shape`` slices, 4x."""
    kspace, mask, num_low = undersampled(batch, sizes.recon_shape, device)
    meta = ReconMeta(target_size=(min(320, sizes.recon_shape[1]), min(320, sizes.recon_shape[2])),
                     num_low_frequencies=num_low, acceleration=4.0)
    rows = {}
    for name in names:
        if name not in available_methods():
            rows[name] = {"status": "not registered"}
            continue
        options = {"iterations": sizes.recon_iterations} if sizes.recon_iterations and name in ("sense", "tv", "wavelet") else {}
        try:
            method = create_method(name, **options)
            reset_peak(device)
            seconds = median_seconds(lambda: method(kspace, mask, meta), device, repeats)
            rows[name] = {"s_per_slice": round(seconds / batch, 4), "peak_gb": peak_gb(device),
                          "options": options or "defaults"}
        except Exception as err:  # recorded: one method's failure must not hide the others
            rows[name] = {"error": error_text(err)}
        free_memory()
    return {"coils_h_w": sizes.recon_shape, "batch": batch, "acceleration": 4, "methods": rows}


def run_throughput(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """``tv`` and ``wavelet`` slices/s at exactly ``throughput_iterations`` iterations (tol 0)."""
    kspace, mask, num_low = undersampled(sizes.throughput_batch, sizes.throughput_shape, device)
    meta = ReconMeta(target_size=sizes.throughput_shape[1:], num_low_frequencies=num_low, acceleration=4.0)
    rows = {}
    for name in ("tv", "wavelet"):
        try:
            method = create_method(name, iterations=sizes.throughput_iterations, tol=0.0)
            seconds = median_seconds(lambda: method(kspace, mask, meta), device, sizes.recon_repeats)
            rate = sizes.throughput_batch / seconds
            rows[name] = {"slices_per_s": round(rate, 2), "bar_50_per_s": rate >= 50}
        except Exception as err:
            rows[name] = {"error": error_text(err)}
        free_memory()
    return {"coils_h_w": sizes.throughput_shape, "batch": sizes.throughput_batch,
            "iterations": sizes.throughput_iterations, "methods": rows}


@dataclass
class StepCase:
    """One network's training step: builds the module and a batch of its inputs and target."""

    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int], tuple[tuple[torch.Tensor, ...], torch.Tensor]]


def step_cases(device: torch.device, sizes: Sizes) -> tuple[list[StepCase], str]:
    """Ours and fastmri's VarNet and U-Net, with inputs in each one's own layout, and whether
    the fastmri package could be imported (it is installed without its dependencies)."""
    height, width = sizes.varnet_shape[1:]

    def varnet_inputs(batch: int, fastmri_layout: bool) -> tuple[tuple[Any, ...], torch.Tensor]:
        kspace, mask, num_low = undersampled(batch, sizes.varnet_shape, device)
        target = torch.rand(batch, height, width, device=device)
        if fastmri_layout:
            return (torch.view_as_real(kspace), mask[..., None].bool(), num_low), target
        return (kspace, mask, None, num_low), target

    def unet_inputs(batch: int) -> tuple[tuple[Any, ...], torch.Tensor]:
        image = torch.randn(batch, 1, *sizes.unet_shape, device=device)
        return (image,), torch.randn_like(image)

    cases = [
        StepCase("varnet (ours)", lambda: VarNet(**sizes.varnet), lambda b: varnet_inputs(b, False)),
        StepCase("unet (ours)", lambda: Unet(1, 1, sizes.unet_chans, 4), unet_inputs),
    ]
    try:
        import fastmri.models
    except Exception as err:
        return cases, f"unavailable: {error_text(err)}"
    cases += [
        StepCase("varnet (fastmri)", lambda: fastmri.models.VarNet(**sizes.varnet), lambda b: varnet_inputs(b, True)),
        StepCase("unet (fastmri)", lambda: fastmri.models.Unet(1, 1, sizes.unet_chans, 4), unet_inputs),
    ]
    return cases, "available"


def amp_dtype(device: torch.device) -> torch.dtype:
    """The trainer's mixed precision: float16 with a gradient scaler on CUDA; bfloat16 stands in
    on the CPU form (where ``kspacekit train --amp`` is a no-op) so that the path is exercised."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def make_step(model: torch.nn.Module, inputs: tuple, target: torch.Tensor, device: torch.device,
              mixed: bool) -> Callable[[], None]:
    """One step as the engine takes it: forward under autocast, float32 L1 loss, scaled backward, Adam."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=mixed and device.type == "cuda")

    def step() -> None:
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=mixed):
            output = model(*inputs).float()
        loss = F.l1_loss(output, target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def time_step(case: StepCase, batch: int, device: torch.device, mixed: bool, repeats: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = case.build().to(device).train()
    inputs, target = case.inputs(batch)
    reset_peak(device)
    try:
        seconds = median_seconds(make_step(model, inputs, target, device, mixed), device, repeats)
    finally:
        del model, inputs, target
    return {"batch": batch, "s_per_step": round(seconds, 4), "slices_per_s": round(batch / seconds, 2),
            "peak_gb": peak_gb(device)}


def largest_batch(case: StepCase, device: torch.device, mixed: bool, cap: int, deadline: float) -> tuple[int, str]:
    """The largest power-of-two batch (<= cap) whose training step fits, and why the search stopped."""
    fits, batch = 1, 2
    while batch <= cap:
        if time.monotonic() > deadline:
            return fits, "time budget"
        try:
            time_step(case, batch, device, mixed, repeats=0)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            out_of_memory = True
        else:
            out_of_memory = False
        free_memory()  # outside the handler: its traceback held the failed step's tensors
        if out_of_memory:
            return fits, f"out of memory at {batch}"
        fits, batch = batch, batch * 2
    return fits, f"cap {cap}"


def run_training_steps(device: torch.device, sizes: Sizes, deadline: float) -> dict[str, Any]:
    """Training-step time and peak memory at batch 1 and the largest batch, float32 and mixed."""
    cases, fastmri_status = step_cases(device, sizes)
    rows: dict[str, Any] = {}
    for case in cases:
        cap = sizes.max_batch[case.name.split()[0]]
        for mixed in (False, True):
            key = f"{case.name} {'mixed' if mixed else 'float32'}"
            try:
                row = {"batch_1": time_step(case, 1, device, mixed, sizes.repeats)}
                free_memory()
            except Exception as err:
                rows[key] = {"error": error_text(err)}
                free_memory()
                continue
            try:
                biggest, row["largest_batch_search"] = largest_batch(case, device, mixed, cap, deadline)
                if biggest > 1:
                    row["largest_batch"] = time_step(case, biggest, device, mixed, sizes.repeats)
            except Exception as err:
                row["largest_batch_search"] = error_text(err)
            rows[key] = row
            free_memory()
    return {"varnet": {**sizes.varnet, "coils_h_w": sizes.varnet_shape},
            "unet": {"chans": sizes.unet_chans, "h_w": sizes.unet_shape}, "fastmri": fastmri_status,
            "amp_dtype": str(amp_dtype(device)), "steps": rows, "ratios": step_ratios(rows)}


def step_ratios(rows: dict[str, Any]) -> dict[str, float]:
    """At batch 1: float32 over mixed step time of ours (bar: >= 1.5 on an H100) and fastmri's
    step time over ours in each precision (bar: >= 1 for VarNet); and the mixed over float32
    training throughput of ours, each at the largest batch it fits."""

    def seconds(model: str, who: str, mode: str) -> float | None:
        return rows.get(f"{model} ({who}) {mode}", {}).get("batch_1", {}).get("s_per_step")

    def best_rate(model: str, mode: str) -> float | None:
        row = rows.get(f"{model} (ours) {mode}", {})
        return row.get("largest_batch", row.get("batch_1", {})).get("slices_per_s")

    ratios = {}
    for model in ("varnet", "unet"):
        if seconds(model, "ours", "float32") and seconds(model, "ours", "mixed"):
            ratios[f"{model}: float32 / mixed step time (ours)"] = round(
                seconds(model, "ours", "float32") / seconds(model, "ours", "mixed"), 3)
        if best_rate(model, "float32") and best_rate(model, "mixed"):
            ratios[f"{model}: mixed / float32 slices/s, each at its largest batch (ours)"] = round(
                best_rate(model, "mixed") / best_rate(model, "float32"), 3)
        for mode in ("float32", "mixed"):
            if seconds(model, "ours", mode) and seconds(model, "fastmri", mode):
                ratios[f"{model}: fastmri / ours step time ({mode})"] = round(
                    seconds(model, "fastmri", mode) / seconds(model, "ours", mode), 3)
    return ratios


def write_phantoms(folder: Path, data: dict[str, Any], volumes: int, first_seed: int) -> Path:
    from kspacekit.simulation.phantoms import write_phantom_volume

    for volume in range(volumes):
        seed = first_seed + 100 * volume
        write_phantom_volume(folder / f"phantom_{seed}.h5", "ellipses", shape=tuple(data["shape"]),
                             coils=data["coils"], slices=data["slices"], snr=40.0, seed=seed)
    return folder


def run_mixed_precision_ssim(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """Validation SSIM after the same short engine run (same seed, data) with and without amp."""
    from kspacekit.training.config import TrainConfig
    from kspacekit.training.engine import train

    data = sizes.ssim_data
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_dir = write_phantoms(root / "train", data, data["train_volumes"], first_seed=0)
        val_dir = write_phantoms(root / "val", data, max(1, data["train_volumes"] // 4), first_seed=50)
        for model, options in sizes.ssim_models.items():
            row: dict[str, Any] = {"options": options}
            for amp in (False, True):
                config = TrainConfig(
                    model=model, train=str(train_dir), val=str(val_dir), output=str(root / f"{model}_{amp}"),
                    model_options=dict(options), epochs=data["epochs"], lr=1e-3, device=device.type, amp=amp,
                    tensorboard=False, progress=False, seed=0,
                )
                try:
                    start = time.perf_counter()
                    [result] = train(config)
                    row["mixed" if amp else "float32"] = {
                        "val_ssim": round(result.metrics["val_ssim"], 5), "steps": result.step,
                        "seconds": round(time.perf_counter() - start, 2),
                    }
                except Exception as err:
                    row["mixed" if amp else "float32"] = {"error": error_text(err)}
            if "val_ssim" in row.get("mixed", {}) and "val_ssim" in row.get("float32", {}):
                difference = row["mixed"]["val_ssim"] - row["float32"]["val_ssim"]
                row["ssim_difference"] = round(difference, 5)
                row["bar_0.002"] = abs(difference) <= 0.002
            rows[model] = row
    note = "engine amp is CUDA-only: on the CPU both runs are float32" if device.type == "cpu" else "float16 autocast"
    return {"data": data, "note": note, "models": rows}


def run_ddp(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """``torchrun --nproc_per_node 2 -m kspacekit train`` for one tiny epoch on 2 GPUs (NCCL)."""
    if device.type != "cuda":
        return {"status": "skipped: CPU form (gloo DDP is tested in tests/training)"}
    if torch.cuda.device_count() < 2:
        return {"status": f"skipped: {torch.cuda.device_count()} GPU"}
    with tempfile.TemporaryDirectory() as tmp:
        data = {"shape": (64, 64), "coils": 2, "slices": 4}
        train_dir = write_phantoms(Path(tmp) / "train", data, 2, first_seed=0)
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "kspacekit", "train",
                   "--model", "unet", "--model-option", "chans=8", "--train", str(train_dir), "--output",
                   str(Path(tmp) / "run"), "--epochs", "1", "--device", "cuda", "--no-tensorboard", "--no-progress"]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
        ok = result.returncode == 0 and (Path(tmp) / "run" / "checkpoints" / "last.pt").exists()
        return {"status": "passed" if ok else "failed", "returncode": result.returncode,
                "seconds": round(time.perf_counter() - start, 1), "stderr_tail": result.stderr[-800:]}


def environment(device: torch.device) -> dict[str, Any]:
    try:  # the GPU machine gets a copy of the working tree, perhaps without .git or git
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    info = {"python": platform.python_version(), "executable": sys.executable, "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
            "gpus": torch.cuda.device_count(), "device": str(device), "commit": commit or "unknown",
            "cpu_threads": torch.get_num_threads(), "tf32_convolutions": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device.type == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(device).total_memory / 1e9, 1)
    return info


# ---- report ----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in cells]


def markdown(report: dict[str, Any]) -> str:
    env, sections = report["environment"], report["sections"]
    lines = [f"# GPU check ({report['form']} form)", "",
             f"{env.get('gpu_name', env['device'])}; torch {env['torch']} (CUDA {env['torch_cuda']}); "
             f"python {env['python']}; commit {env['commit']}; {report['seconds']} s in all.", ""]
    for name, section in sections.items():
        lines += [f"## {name} ({section.get('seconds', '?')} s)", ""]
        if "error" in section or "status" in section:
            lines += [f"{section.get('status') or 'error: ' + section['error']}", ""]
        elif name == "tests":
            lines += [f"`{section['command']}`: {section['summary']}", *[f"- {f}" for f in section["failures"]], ""]
        elif name in ("reconstruction", "throughput", "scan_learned"):
            lines += table(["method", *sorted({k for r in section["methods"].values() for k in r})],
                           [[m, *[r.get(k) for k in sorted({k for r in section["methods"].values() for k in r})]]
                            for m, r in section["methods"].items()])
            iterations = f"; {section['iterations']} iterations (tol 0)" if "iterations" in section else ""
            lines += ["", f"coils, H, W = {section['coils_h_w']}; batch {section['batch']}{iterations}.", ""]
        elif name == "training_steps":
            body = []
            for key, row in section["steps"].items():
                if "error" in row or "status" in row:
                    body.append([key, row.get("error") or row.get("status"), "", "", "", "", ""])
                    continue
                big = row.get("largest_batch", {})
                body.append([key, row["batch_1"]["s_per_step"], row["batch_1"]["peak_gb"], big.get("batch", 1),
                             big.get("s_per_step"), big.get("peak_gb"), row.get("largest_batch_search")])
            lines += table(["step", "s/step (batch 1)", "peak GB", "largest batch", "s/step", "peak GB", "search stopped"], body)
            lines += ["", *[f"- {k}: {v}" for k, v in section["ratios"].items()], ""]
        elif name == "mixed_precision_ssim":
            body = [[m, r.get("float32", {}).get("val_ssim", r.get("float32", {}).get("error")),
                     r.get("mixed", {}).get("val_ssim", r.get("mixed", {}).get("error")), r.get("ssim_difference"),
                     r.get("mixed", {}).get("steps")] for m, r in section["models"].items()]
            lines += table(["model", "val SSIM float32", "val SSIM mixed", "difference", "steps"], body)
            lines += ["", section["note"], ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "out" / "gpu_check"))
    parser.add_argument("--sections", nargs="*", default=None, help="run only these sections")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: this interpreter's torch {torch.__version__} ({sys.executable}) sees no CUDA GPU; "
              "run benchmarks/gpu_check.sh (it picks a CUDA-enabled interpreter) or pass --device cpu", file=sys.stderr)
        return 3
    device = torch.device(args.device)
    sizes = FULL if device.type == "cuda" else REDUCED
    start = time.monotonic()
    deadline = start + sizes.budget_s
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "tests": lambda: run_tests(device, sizes),
        "throughput": lambda: run_throughput(device, sizes),
        "reconstruction": lambda: run_reconstruction(device, sizes, RECON_METHODS, sizes.recon_batch, sizes.recon_repeats),
        "training_steps": lambda: run_training_steps(device, sizes, deadline),
        "mixed_precision_ssim": lambda: run_mixed_precision_ssim(device, sizes),
        "ddp": lambda: run_ddp(device, sizes),
        # Last, one slice, one call: it fits a network per slice and could outlast the budget.
        "scan_learned": lambda: run_reconstruction(device, sizes, ["scan-learned"], batch=1, repeats=0),
    }
    report: dict[str, Any] = {"form": "full" if device.type == "cuda" else "reduced CPU",
                              "environment": environment(device), "sizes": asdict(sizes), "sections": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, run in sections.items():
        if args.sections is not None and name not in args.sections:
            continue
        section_start = time.perf_counter()
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        try:
            result = run() if time.monotonic() < deadline else {"status": "skipped: time budget"}
        except Exception as err:  # recorded, and the next section still runs
            result = {"error": error_text(err), "traceback": traceback.format_exc()[-2000:]}
        result["seconds"] = round(time.perf_counter() - section_start, 1)
        report["sections"][name] = result
        report["seconds"] = round(time.monotonic() - start, 1)
        # Both files after every section: a run killed at its time limit keeps what it measured.
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
        (args.out / "gpu_check.md").write_text(markdown(report))
        free_memory()
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
