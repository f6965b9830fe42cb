"""Cross-validation and sweep reports, as researchers report them: per-fold and per-epoch rows,
each fold's best epoch, mean ± std over folds, a figure and (for sweeps) an HTML page.

Everything is read back from the runs' ``metrics.csv`` files, so a report can be rebuilt from a
finished (or resumed) study. A fold's *best epoch* is the one with the highest validation SSIM,
the epoch whose weights ``best.pt`` holds; the summary of a study is the mean and the sample
standard deviation (n - 1) over folds of the best epochs' metrics. Figures use fixed styles per
setting (colour: loss, line style: optimizer, marker: the other swept settings), so a
configuration looks the same in every study.
"""

from __future__ import annotations

import base64
import csv
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kspacekit.outputs import atomic_path
from kspacekit.training.logs import read_csv
from kspacekit.training.losses import LOSS_NAMES

METRICS = ("train_loss", "val_loss", "val_nmse", "val_psnr", "val_ssim")
STUDY_FIELDS = ["fold", "epoch", "best", *METRICS]
SUMMARY_FOLDS = ("mean", "std")
OPTIMIZER_STYLES = {"adam": "-", "adamw": "--", "adagrad": ":", "rmsprop": "-."}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
PANELS = (("val_ssim", "validation SSIM"), ("val_psnr", "validation PSNR (dB)"), ("train_loss", "training loss"))


@dataclass
class Study:
    """The per-epoch metrics of one configuration: ``folds`` maps a fold number (None for a run
    without folds) to its rows ``{"epoch": e, "val_ssim": ..., ...}`` in epoch order."""

    label: str
    folds: dict[int | None, list[dict[str, float]]]
    style: dict[str, Any] = field(default_factory=dict)
    status: str = "done"

    def best_rows(self) -> dict[int | None, dict[str, float]]:
        """Each fold's best epoch: highest validation SSIM (the first on ties), else the last epoch."""
        best = {}
        for fold, rows in self.folds.items():
            scored = [row for row in rows if not math.isnan(row.get("val_ssim", math.nan))]
            if scored:
                best[fold] = max(scored, key=lambda row: (row["val_ssim"], -row["epoch"]))
            elif rows:
                best[fold] = rows[-1]
        return best

    def summary(self) -> dict[str, tuple[float, float]]:
        """(mean, std) over folds of each metric at the folds' best epochs (std NaN for one fold)."""
        best = list(self.best_rows().values())
        summary = {}
        for key in METRICS:
            values = [row[key] for row in best if not math.isnan(row.get(key, math.nan))]
            if values:
                std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
                summary[key] = (float(np.mean(values)), std)
        return summary

    def rows(self) -> list[dict[str, Any]]:
        """Rows for a CSV: every fold's epochs (its best marked), then, with folds, the mean and
        std over folds per epoch and at the best epochs (``epoch`` = ``best``)."""
        best = self.best_rows()
        rows = [
            {"fold": "" if fold is None else fold, **row, "best": int(row is best.get(fold))}
            for fold, fold_rows in self.folds.items()
            for row in fold_rows
        ]
        if None in self.folds or not self.folds:
            return rows
        epochs = sorted({int(row["epoch"]) for fold_rows in self.folds.values() for row in fold_rows})
        for epoch in [*epochs, "best"]:
            picked = list(best.values()) if epoch == "best" else [
                row for fold_rows in self.folds.values() for row in fold_rows if row["epoch"] == epoch
            ]
            for name, reduce in (("mean", np.mean), ("std", lambda v: np.std(v, ddof=1) if len(v) > 1 else math.nan)):
                row = {"fold": name, "epoch": epoch}
                for key in METRICS:
                    values = [r[key] for r in picked if not math.isnan(r.get(key, math.nan))]
                    row[key] = float(reduce(values)) if values else ""
                rows.append(row)
        return rows


def read_metrics(path: Path) -> list[dict[str, float]]:
    """A run's ``metrics.csv`` as numbers (empty cells: NaN), or [] if it does not exist."""
    if not path.exists():
        return []
    return [
        {"epoch": int(row["epoch"]), **{key: float(row[key]) if row.get(key) else math.nan for key in METRICS}}
        for row in read_csv(path)
    ]


def read_study(run_dir: Path, label: str = "", style: dict[str, Any] | None = None) -> Study:
    """The study of one run folder: its ``fold_<i>/metrics.csv`` files, or its own ``metrics.csv``."""
    fold_dirs = sorted(run_dir.glob("fold_*/"), key=lambda path: int(path.name.split("_")[1]))
    if fold_dirs:
        folds: dict[int | None, list[dict[str, float]]] = {
            int(path.name.split("_")[1]): read_metrics(path / "metrics.csv") for path in fold_dirs
        }
    else:
        folds = {None: read_metrics(run_dir / "metrics.csv")}
    return Study(label, {fold: rows for fold, rows in folds.items() if rows}, style or {})


def write_csv(path: Path, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """``rows`` (missing cells empty, floats with 6 significant digits) to ``path``, atomically."""
    with atomic_path(path, overwrite=True) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(row.get(key, "")) for key in fields})


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def plus_minus(summary: dict[str, tuple[float, float]], key: str, digits: int) -> str:
    """``0.712 ± 0.015`` (``0.712`` for one fold, ``-`` when unmeasured)."""
    if key not in summary:
        return "-"
    mean, std = summary[key]
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def setting_style(loss: str, optimizer: str, variant: int = 0) -> dict[str, Any]:
    """A configuration's fixed line style: colour by loss, line style by optimizer, marker by
    ``variant`` (the index of its other swept settings)."""
    colours = [f"C{i}" for i in range(10)]
    colour = colours[LOSS_NAMES.index(loss) % 10] if loss in LOSS_NAMES else "k"
    return {"color": colour, "linestyle": OPTIMIZER_STYLES.get(optimizer, "-"), "marker": MARKERS[variant % len(MARKERS)]}


def plot_studies(studies: Sequence[Study], path: Path, title: str) -> None:
    """Validation SSIM, PSNR and training loss per epoch: one thin line per fold and a thick
    line for the mean over folds per configuration; integer epochs. Saved as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(15, 4.8))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(PANELS))
    for ax, (key, name) in zip(axes, PANELS):
        for study in studies:
            style = {"color": "C0", "linestyle": "-", "marker": "o", **study.style}
            by_epoch: dict[int, list[float]] = {}
            for rows in study.folds.values():
                points = [(row["epoch"], row[key]) for row in rows if not math.isnan(row.get(key, math.nan))]
                for epoch, value in points:
                    by_epoch.setdefault(epoch, []).append(value)
                if points and len(study.folds) > 1:
                    ax.plot(*zip(*points), color=style["color"], linestyle=style["linestyle"], linewidth=0.8, alpha=0.35)
            if by_epoch:
                epochs = sorted(by_epoch)
                ax.plot(epochs, [float(np.mean(by_epoch[e])) for e in epochs], linewidth=2, markersize=4,
                        label=study.label, **style)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    folds = max((len(study.folds) for study in studies), default=0)
    subtitle = f" (thick: mean over {folds} folds; thin: each fold)" if folds > 1 else ""
    figure.suptitle(f"{title}{subtitle}")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="center right", fontsize="small")
        figure.subplots_adjust(left=0.05, right=0.8, wspace=0.3, top=0.88, bottom=0.12)
    with atomic_path(path, overwrite=True) as tmp:
        figure.savefig(tmp, format="png", dpi=110)


def ranking(studies: Sequence[Study]) -> list[Study]:
    """Configurations by mean best-epoch validation SSIM, best first; unfinished ones last."""
    def key(study: Study) -> tuple[int, float]:
        ssim = study.summary().get("val_ssim", (math.nan, math.nan))[0]
        return (study.status != "done" or math.isnan(ssim), -ssim if not math.isnan(ssim) else 0.0)

    return sorted(studies, key=key)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }}
th {{ background: #f0f0f0; }} td:nth-child(2) {{ text-align: left; }}
tr.first td {{ font-weight: bold; }}
code {{ background: #f4f4f4; padding: 0.1em 0.3em; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{title}</h1>
<p>{description}</p>
<p>Command: <code>{command}</code></p>
<h2>Ranking by validation SSIM</h2>
<p>Each fold's best epoch (highest validation SSIM, the weights of its <code>best.pt</code>);
mean ± sample standard deviation over {folds}. Per-fold and per-epoch rows: <code>sweep.csv</code>.</p>
<table><tr><th>rank</th><th>configuration</th><th>SSIM</th><th>PSNR (dB)</th><th>NMSE</th>
<th>best epochs</th><th>status</th></tr>
{rows}
</table>
<h2>Validation SSIM, PSNR and training loss per epoch</h2>
<img alt="validation SSIM, PSNR and training loss per epoch per configuration" src="data:image/png;base64,{figure}">
</body></html>
"""


def write_sweep_page(studies: Sequence[Study], figure: Path, path: Path, command: str, description: str) -> None:
    """One self-contained HTML page: the ranking table and the figure (embedded)."""
    rows = []
    for rank, study in enumerate(ranking(studies), 1):
        summary = study.summary()
        epochs = ", ".join(str(int(row["epoch"])) for row in study.best_rows().values()) or "-"
        row_class = ' class="first"' if rank == 1 else ""
        rows.append(
            f"<tr{row_class}><td>{rank}</td><td>{html.escape(study.label)}</td>"
            f"<td>{plus_minus(summary, 'val_ssim', 4)}</td><td>{plus_minus(summary, 'val_psnr', 2)}</td>"
            f"<td>{plus_minus(summary, 'val_nmse', 4)}</td><td>{epochs}</td><td>{html.escape(study.status)}</td></tr>"
        )
    folds = max((len(study.folds) for study in studies), default=1)
    page = _PAGE.format(
        title="kspacekit sweep", description=html.escape(description), command=html.escape(command),
        folds=f"{folds} folds" if folds > 1 else "one validation run (no folds: no spread)", rows="\n".join(rows),
        figure=base64.b64encode(figure.read_bytes()).decode(),
    )
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(page)


__all__ = [
    "Study", "plot_studies", "plus_minus", "ranking", "read_metrics", "read_study", "setting_style", "write_csv",
    "write_sweep_page",
]
