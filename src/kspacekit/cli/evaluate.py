"""``kspacekit evaluate``: fastMRI's metrics for a folder of predictions, per acquisition and acceleration."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kspacekit.cli import app

if TYPE_CHECKING:
    from rich.table import Table

    from kspacekit.evaluation.evaluate import Evaluation, GroupSummary


class Challenge(str, Enum):
    multicoil = "multicoil"
    singlecoil = "singlecoil"


@app.command()
def evaluate(
    target: Annotated[Path, typer.Option(help="Folder of fastMRI target .h5 files (the ground truth).")],
    predictions: Annotated[Path, typer.Option(help="Folder of predictions: same file names, dataset 'reconstruction'.")],
    challenge: Annotated[Challenge, typer.Option(
        help="multicoil scores against 'reconstruction_rss', singlecoil against 'reconstruction_esc'.")] = Challenge.multicoil,
    acquisition: Annotated[Optional[str], typer.Option(help="Score only targets of this acquisition, e.g. CORPD_FBK.")] = None,
    full_image: Annotated[bool, typer.Option("--full-image", help="Score whole images, not fastMRI's centred crop.")] = False,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write per-volume metrics and the summary here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --json file.")] = False,
) -> None:
    """Score reconstructions exactly as fastMRI's evaluate.py: NMSE, PSNR and SSIM per volume,
    mean ± std over volumes per acquisition and acceleration.

    The crop is fastMRI's centred (W, W) square (for images wider than tall: (H, H)).
    Exit status 1 when a prediction is missing or unusable (each is listed), 2 for unusable input.
    """
    import json

    from rich.console import Console

    from kspacekit.evaluation.evaluate import evaluate_folders
    from kspacekit.outputs import atomic_path, check_writable
    from kspacekit.runtime import configure_process, progress_bar

    configure_process()
    if json_path is not None:
        check_writable(json_path, overwrite)
    with progress_bar() as progress:
        evaluation = evaluate_folders(
            target, predictions, challenge=challenge.value, acquisition=acquisition, full_image=full_image,
            track=lambda files: progress.track(files, description="evaluating"),
        )
    Console().print(_summary_table(evaluation))
    if json_path is not None:
        with atomic_path(json_path, overwrite) as tmp:
            tmp.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
    if evaluation.bad:
        errors = Console(stderr=True, highlight=False)
        errors.print(f"[red]{len(evaluation.bad)} prediction(s) could not be scored:[/red]")
        for bad in evaluation.bad:
            errors.print(f"  {bad.file}: {bad.problem}")
        raise typer.Exit(1)


def _summary_table(evaluation: Evaluation) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"fastMRI metrics ({evaluation.settings['challenge']}), mean ± std", caption="n: volumes scored",
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )
    for column in ("acquisition", "accel.", "n", "NMSE", "PSNR (dB)", "SSIM"):
        table.add_column(column, justify="left" if column.startswith("ac") else "right", no_wrap=True)
    groups = evaluation.groups()
    for group in groups:
        table.add_row(*_row(group))
    overall = evaluation.overall()
    if overall is not None and len(groups) > 1:
        table.add_row(*_row(overall), style="bold")
    return table


def _row(group: GroupSummary) -> list[str]:
    formats = {"nmse": (".4g", ".2g"), "psnr": (".2f", ".2f"), "ssim": (".4f", ".4f")}
    cells = []
    for name, (mean_spec, std_spec) in formats.items():
        mean, std = group.mean[name], group.std[name]
        cells.append(f"{mean:{mean_spec}}" if std is None else f"{mean:{mean_spec}} ± {std:{std_spec}}")
    return [group.acquisition, group.acceleration, str(group.volumes), *cells]
