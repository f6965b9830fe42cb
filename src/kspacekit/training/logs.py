"""Training logs: CSV tables (per step and per epoch), TensorBoard scalars and validation images,
written by rank 0.

When a run resumes from a checkpoint, rows logged after that checkpoint (by the interrupted
process) are dropped first, so the tables read as if the run had never stopped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor


class CsvLog:
    """Append rows with fixed columns to a CSV file; keep only rows up to ``resume_step``."""

    def __init__(self, path: Path, fields: list[str], resume_step: int | None = None) -> None:
        self.path = path
        self.fields = fields
        kept: list[dict[str, Any]] = []
        if resume_step is not None and path.exists():
            kept = [row for row in read_csv(path) if int(row["step"]) <= resume_step]
        self._write_rows(kept, "w")

    def _write_rows(self, rows: list[dict[str, Any]], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            if mode == "w":
                writer.writeheader()
            writer.writerows(rows)

    def write(self, **row: Any) -> None:
        self._write_rows([row], "a")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


class RunLogger:
    """Per-step losses to ``steps.csv``, per-epoch metrics to ``metrics.csv``, both to TensorBoard,
    with one validation slice per epoch (target | zero-filled input | output, side by side)."""

    STEP_FIELDS = ["step", "epoch", "loss", "disc_loss", "lr"]
    EPOCH_FIELDS = ["epoch", "step", "lr", "train_loss", "val_loss", "val_nmse", "val_psnr", "val_ssim", "seconds"]

    def __init__(self, out_dir: Path, resume_step: int | None, tensorboard: bool) -> None:
        self.steps = CsvLog(out_dir / "steps.csv", self.STEP_FIELDS, resume_step)
        self.epochs = CsvLog(out_dir / "metrics.csv", self.EPOCH_FIELDS, resume_step)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step)

    def log_step(self, step: int, epoch: int, loss: float, disc_loss: float | None, lr: float) -> None:
        self.steps.write(step=step, epoch=epoch, loss=loss, disc_loss="" if disc_loss is None else disc_loss, lr=lr)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            if disc_loss is not None:
                self.writer.add_scalar("train/disc_loss", disc_loss, step)
            self.writer.add_scalar("train/lr", lr, step)

    def log_epoch(self, row: dict[str, Any], images: Tensor | None = None) -> None:
        """The epoch's metrics row; ``images`` (3, h, w): target, input and output of one slice."""
        self.epochs.write(**{field: row.get(field, "") for field in self.EPOCH_FIELDS})
        if self.writer is not None:
            for key, value in row.items():
                if key.startswith("val_") and value != "":
                    self.writer.add_scalar(f"val/{key[4:]}", value, row["step"])
            self.writer.add_scalar("epoch/train_loss", row["train_loss"], row["step"])
            if images is not None:
                side_by_side = (images / images[0].max().clamp_min(1e-20)).clamp(0, 1).permute(1, 0, 2).flatten(1)
                self.writer.add_image("val/target_input_output", side_by_side[None], row["step"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
