"""Train the weights kspacekit ships (``src/kspacekit/weights/<model>_4x_8x.pt``) and their model card.

The one documented command (simulate the training data, then train and write the weights):

    sh benchmarks/simulate_training_data.sh sim_data && .venv/bin/python benchmarks/train_shipped.py sim_data

Training data: the Colin27 brain simulated with eight different coil arrays (2 to 16 coils),
noise levels and matrix sizes, plus small real images of other contrasts; validation: Colin27's
coronal stack (see benchmarks/simulate_training_data.sh). The ICBM152 template that
``kspacekit demo`` simulates from and the real k-space in ``../shared/data/kspace`` stay unseen,
so both are held-out tests.

``sim_data`` holds ``multicoil_train/`` and ``multicoil_val/`` (as the script above writes them).
For each model (``unet``, ``varnet``) this trains one network on both accelerations at once (a
4x or 8x mask drawn per slice, as fastMRI's ``MaskFunc`` with two pairs does), keeps the
checkpoint with the best validation SSIM, strips it to the weights (no optimizer state) and writes
``<model>_4x_8x.pt`` plus ``MODEL_CARD.md``. The configurations
are small enough to train on a CPU and to stay under 10 MB per file; the default constructors
keep fastMRI's full sizes.

``--card-only`` trains nothing: it rewrites ``MODEL_CARD.md`` from the weight files already in
``--out`` (each holds its validation metrics, epoch and training minutes) and the data folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import h5py

from kspacekit.methods.learned import WEIGHTS_DIR
from kspacekit.models import build_model
from kspacekit.models.checkpoints import load_checkpoint
from kspacekit.outputs import atomic_path
from kspacekit.training.checkpoints import save_checkpoint
from kspacekit.training.config import TrainConfig
from kspacekit.training.engine import train

MAX_BYTES = 10 * 1024 * 1024
SHIPPED = {
    "unet": {"model_options": {"chans": 16, "num_pool_layers": 4}, "loss": "l1", "lr": 1e-3, "epochs": 8},
    "varnet": {
        "model_options": {"num_cascades": 6, "chans": 10, "pools": 3, "sens_chans": 6, "sens_pools": 3},
        "loss": "l1",  # after two CPU epochs each, L1 had val SSIM 0.756, the SSIM loss 0.729
        "lr": 1e-3,
        "epochs": 6,
    },
}
CENTER_FRACTIONS = {4: 0.08, 8: 0.04}  # fastMRI's pairs


def describe_data(folder: Path) -> dict[str, object]:
    """Volumes, slices, shapes and simulation settings of a data folder (for the model card)."""
    files = sorted(folder.glob("*.h5"))
    slices, shapes, sources, settings = 0, set(), set(), set()
    for path in files:
        with h5py.File(path, "r") as f:
            slices += f["kspace"].shape[0]
            shapes.add(tuple(f["kspace"].shape[1:]))
            sources.add(str(f.attrs.get("source_file", "?")))
            head = ", synthetic head" if f.attrs.get("synthetic_head", False) else ""
            settings.add(f"coils {f.attrs.get('coils', '?')}, SNR {f.attrs.get('snr', '?')}{head}")
    return {"volumes": len(files), "slices": slices, "shapes": sorted(shapes), "sources": sorted(sources),
            "settings": sorted(settings)}


def ship(run_dir: Path, out_path: Path, accelerations: list[int], minutes: float) -> None:
    """Strip the best checkpoint of a run to its weights (plus what the model card says of them)."""
    best = run_dir / "checkpoints" / "best.pt"
    ckpt = load_checkpoint(best if best.exists() else run_dir / "checkpoints" / "last.pt")
    save_checkpoint(out_path, {
        "model": ckpt["model"],
        "config": ckpt["config"],
        "state_dict": ckpt["state_dict"],
        "accelerations": [float(acc) for acc in accelerations],
        "metrics": ckpt["metrics"],
        "epoch": ckpt["epoch"],
        "train_config": {k: v for k, v in ckpt["train_config"].items() if k not in ("train", "val", "output")},
        "train_minutes": minutes,
    })
    size = out_path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out_path} is {size / 2**20:.1f} MiB, over the 10 MiB limit for shipped weights")


def shipped_entries(out_dir: Path) -> list[dict[str, object]]:
    """What the model card lists of every weight file in ``out_dir`` (read back from the files)."""
    entries = []
    for path in sorted(out_dir.glob("*.pt")):
        ckpt = load_checkpoint(path)
        entries.append({
            "file": path.name, "model": ckpt["model"], "config": ckpt["config"], "bytes": path.stat().st_size,
            "accelerations": ", ".join(
                f"{acc:g}x (centre {frac})"
                for acc, frac in zip(ckpt["accelerations"], ckpt["train_config"]["center_fractions"])
            ),
            "parameters": sum(p.numel() for p in build_model(ckpt["model"], ckpt["config"]).parameters()),
            "epoch": ckpt["epoch"], "metrics": ckpt["metrics"], "minutes": ckpt.get("train_minutes", float("nan")),
            "loss": ckpt["train_config"]["loss"], "lr": ckpt["train_config"]["lr"],
        })
    return entries


def model_card(entries: list[dict[str, object]], train_data: dict, val_data: dict, command: str) -> str:
    lines = [
        "# kspacekit shipped weights",
        "",
        "Weights used by `create_method(\"unet\")` / `create_method(\"varnet\")` (and `kspacekit reconstruct",
        "--method unet|varnet`) when no checkpoint is given; the file whose acceleration is nearest to",
        "the data's is chosen.",
        "",
        "**Trained on simulated k-space only** (`kspacekit simulate`: real magnitude brain images with",
        "synthetic smooth phase, loop-coil sensitivities and complex Gaussian noise; most skull-stripped",
        "brain volumes with a synthetic scalp and skull, `--head`). They are",
        "demonstration weights: expect them to do worse on real scanner data than models trained on",
        "real k-space (e.g. fastMRI), and never report results on simulated data as results on real",
        "k-space.",
        "",
        "## Files",
        "",
        "| file | model | accelerations | configuration | parameters | size | loss, Adam lr | epochs | CPU minutes | val SSIM | val PSNR | val NMSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        m = e["metrics"]
        lines.append(
            f"| `{e['file']}` | {e['model']} | {e['accelerations']} | "
            f"`{json.dumps(e['config'])}` | {e['parameters']:,} | {e['bytes'] / 2**20:.1f} MiB | {e['loss']}, {e['lr']} | "
            f"{e['epoch']} | {e['minutes']:.0f} | "
            f"{m.get('val_ssim', float('nan')):.4f} | {m.get('val_psnr', float('nan')):.2f} | "
            f"{m.get('val_nmse', float('nan')):.4f} |"
        )
    lines += [
        "",
        "Validation metrics are fastMRI's (per volume, data range = target volume max) on the simulated",
        "validation split, with random line masks seeded per slice.",
        "",
        "## Training",
        "",
        f"- Training data: {train_data['volumes']} volumes, {train_data['slices']} slices, k-space shapes "
        f"{train_data['shapes']}, sources {', '.join(train_data['sources'])}, {'; '.join(train_data['settings'])}.",
        f"- Validation data: {val_data['volumes']} volumes, {val_data['slices']} slices.",
        "- Masks: fastMRI `random` line masks, 4x (centre fraction 0.08) or 8x (0.04) drawn per slice, a new seeded mask",
        "  per slice and epoch; each slice normalised by the maximum of its zero-filled image.",
        "- Cosine LR schedule, batch size 1, seed 0; the checkpoint with the best validation SSIM is shipped.",
        "- The full-size architectures (fastMRI's `Unet(chans=32)`, `VarNet()` with 12 cascades) are",
        "  the default constructors; these shipped files use the smaller configurations above so they",
        "  train on a CPU and stay under 10 MB.",
        "",
        "Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(data: Path, out_dir: Path) -> str:
    """Write ``out_dir/MODEL_CARD.md`` from the weight files in ``out_dir`` and the data folder ``data``."""
    command = f"sh benchmarks/simulate_training_data.sh {data} && .venv/bin/python benchmarks/train_shipped.py {data}"
    card = model_card(shipped_entries(out_dir), describe_data(data / "multicoil_train"),
                      describe_data(data / "multicoil_val"), command)
    with atomic_path(out_dir / "MODEL_CARD.md", overwrite=True) as tmp:
        tmp.write_text(card)
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a `kspacekit simulate` output folder")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where the weight files and card go")
    parser.add_argument("--runs", type=Path, default=Path("shipped_runs"), help="folder for the training runs")
    parser.add_argument("--epochs", type=int, help="epochs per model (default: each model's own, see SHIPPED)")
    parser.add_argument("--models", nargs="+", default=list(SHIPPED), choices=list(SHIPPED))
    parser.add_argument("--accelerations", nargs="+", type=int, default=[4, 8], choices=list(CENTER_FRACTIONS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--checkpoint-every", type=int, default=100, help="also checkpoint every N steps")
    parser.add_argument("--resume", action="store_true", help="continue interrupted runs in --runs")
    parser.add_argument("--card-only", action="store_true",
                        help="train nothing; rewrite MODEL_CARD.md from the weight files in --out")
    args = parser.parse_args()
    train_dir, val_dir = args.data / "multicoil_train", args.data / "multicoil_val"
    for folder in (train_dir, val_dir):
        if not any(folder.glob("*.h5")):
            raise SystemExit(f"{folder}: no .h5 files; run `kspacekit simulate` first (see this script's docstring)")

    accelerations = sorted(args.accelerations)
    to_train = [] if args.card_only else args.models
    for name in to_train:
        settings = SHIPPED[name]
        run_dir = args.runs / name
        config = TrainConfig(
            model=name, train=str(train_dir), val=str(val_dir), output=str(run_dir),
            model_options=dict(settings["model_options"]), loss=settings["loss"], lr=settings["lr"],
            epochs=args.epochs or settings["epochs"], accelerations=[float(acc) for acc in accelerations],
            center_fractions=[CENTER_FRACTIONS[acc] for acc in accelerations], device=args.device,
            schedule="cosine", checkpoint_every=args.checkpoint_every,
        )
        started = time.monotonic()
        train(config, resume=args.resume and (run_dir / "checkpoints" / "last.pt").exists())
        out_name = name + "".join(f"_{acc}x" for acc in accelerations) + ".pt"
        ship(run_dir, args.out / out_name, accelerations, (time.monotonic() - started) / 60)

    print(write_model_card(args.data, args.out))


if __name__ == "__main__":
    main()
