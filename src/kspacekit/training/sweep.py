"""Loss x optimizer sweeps: one training run per combination, a table and a plot of val SSIM.

The grid of the original experiment: losses L1, MSE, SSIM, L1+SSIM and KL crossed with the
optimizers Adam, AdamW, Adagrad and RMSprop, everything else equal (same data, masks, seed,
epochs and learning rate). ``sweep.csv`` has one row per configuration and epoch;
``sweep_ssim.png`` draws validation SSIM against epoch, one line per configuration. A run that
diverges (NaN loss) is recorded as such and the sweep goes on.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from kspacekit.errors import KspaceKitError
from kspacekit.outputs import atomic_path
from kspacekit.training.config import TrainConfig
from kspacekit.training.engine import TrainingDiverged, check_output_dir, train
from kspacekit.training.logs import read_csv

SWEEP_FIELDS = ["loss", "optimizer", "status", "epoch", "train_loss", "val_loss", "val_nmse", "val_psnr", "val_ssim"]
METRIC_FIELDS = SWEEP_FIELDS[4:]


def run_name(loss: str, optimizer: str) -> str:
    return f"{loss}_{optimizer}"


def epoch_rows(run_dir: Path) -> list[dict[str, float]]:
    """Per-epoch metrics of a run, averaged over folds for a cross-validated run."""
    tables = [read_csv(path) for path in sorted(run_dir.glob("fold_*/metrics.csv"))]
    if not tables and (run_dir / "metrics.csv").exists():
        tables = [read_csv(run_dir / "metrics.csv")]
    by_epoch: dict[int, list[dict[str, str]]] = defaultdict(list)
    for table in tables:
        for row in table:
            by_epoch[int(row["epoch"])].append(row)
    rows = []
    for epoch in sorted(by_epoch):
        row: dict[str, float] = {"epoch": epoch}
        for field in METRIC_FIELDS:
            values = [float(r[field]) for r in by_epoch[epoch] if r.get(field) not in (None, "")]
            if values:
                row[field] = sum(values) / len(values)
        rows.append(row)
    return rows


def plot_sweep(rows: list[dict[str, object]], path: Path) -> None:
    """Validation SSIM per epoch, one line per configuration, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        if row.get("val_ssim") not in (None, ""):
            lines[f"{row['loss']} / {row['optimizer']}"].append((float(row["epoch"]), float(row["val_ssim"])))
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, points in sorted(lines.items()):
        ax.plot(*zip(*sorted(points)), marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation SSIM")
    ax.set_title("Validation SSIM per epoch, loss / optimizer")
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def run_sweep(
    base: TrainConfig, losses: list[str], optimizers: list[str], resume: bool = False, overwrite: bool = False
) -> list[dict[str, object]]:
    """Train every (loss, optimizer) pair of ``base`` into ``base.output/<loss>_<optimizer>/``."""
    out_dir = Path(base.output)
    configs = [
        replace(base, loss=loss, optimizer=optimizer, output=str(out_dir / run_name(loss, optimizer)))
        for loss in losses
        for optimizer in optimizers
    ]
    if not configs:
        raise KspaceKitError("the sweep needs at least one loss and one optimizer")
    for config in configs:
        config.validate()
    if base.val is None and not base.folds:
        raise KspaceKitError("a sweep compares validation SSIM: give --val or --folds")
    if not resume:
        check_output_dir(out_dir, resume=False, overwrite=overwrite)
    console = Console(stderr=True)
    rows: list[dict[str, object]] = []
    for number, config in enumerate(configs, 1):
        console.print(f"[bold]configuration {number}/{len(configs)}: loss {config.loss}, optimizer {config.optimizer}")
        run_dir = Path(config.output)
        status = "done"
        try:
            started = (run_dir / "train_config.json").exists()
            train(config, resume=resume and started, overwrite=overwrite or (resume and not started))
        except TrainingDiverged as err:
            console.print(f"[red]diverged:[/red] {err}", highlight=False)
            status = "diverged"
        for row in epoch_rows(run_dir) or [{}]:
            rows.append({"loss": config.loss, "optimizer": config.optimizer, "status": status, **row})
    with atomic_path(out_dir / "sweep.csv", overwrite=True) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=SWEEP_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    plot_sweep(rows, out_dir / "sweep_ssim.png")
    console.print(f"wrote {out_dir / 'sweep.csv'} and {out_dir / 'sweep_ssim.png'}")
    return rows
