"""The training engine: one loop for every model, with validation, checkpoints and resumption.

:func:`train` runs a :class:`TrainConfig`: plain training (optionally validated on ``val``) or
k-fold cross-validation by volume. Each epoch: shuffled batches (a new seeded mask per slice),
a supervised step (or, for the GAN, a discriminator step then a generator step), per-step logs;
then validation with the fastMRI metrics on whole volumes, the epoch's metrics row, then the
checkpoints (atomic writes): ``last.pt`` holds everything resuming needs (optimizers, the
discriminator, RNG states), ``best.pt`` only the weights of the epoch with the best validation
SSIM; ``keep`` says which of them stay once the run is over. ``checkpoint_every`` adds
mid-epoch checkpoints; resuming from one replays the epoch's remaining batches exactly.
SIGINT or SIGTERM stops the run at the next step boundary (or mid-validation), saves ``last.pt``
and says how to resume; a second signal stops at once. A NaN/Inf loss stops the run before the
bad step touches the weights; the last checkpoint stays.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import h5py
import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset

from kspacekit.data import SliceDataset, VolumeInfo
from kspacekit.errors import HDF5_READ_ERRORS, KspaceKitError, describe_read_error
from kspacekit.models import build_discriminator, build_model, model_config
from kspacekit.models.checkpoints import load_checkpoint
from kspacekit.models.gan import discriminator_loss, generator_adversarial_loss
from kspacekit.outputs import atomic_path, check_output_folder
from kspacekit.physics.operators import zero_filled_image
from kspacekit.runtime import resolve_device
from kspacekit.training.batches import (
    Batch,
    ErrorsAsValues,
    MaskAndCollate,
    raise_errors,
)
from kspacekit.training.checkpoints import (
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
)
from kspacekit.training.config import TrainConfig
from kspacekit.training.distributed import (
    DistInfo,
    ResumableSampler,
    all_ranks_mean,
    barrier,
    setup,
    teardown,
)
from kspacekit.training.folds import split_samples, volume_folds
from kspacekit.training.logs import RunLogger, read_csv
from kspacekit.training.losses import reconstruction_loss


class TrainingDiverged(KspaceKitError):
    """The loss became NaN or Inf; training stopped without applying the bad step."""


class TrainingInterrupted(KspaceKitError):
    """SIGINT or SIGTERM: the run stopped at a safe point after saving ``last.pt``; ``where``
    says where, the message adds the command that continues."""

    def __init__(self, where: str, resume_command: str) -> None:
        self.where = where
        super().__init__(f"{where}; continue with: {resume_command}")


class StopRequests:
    """While active, SIGINT and SIGTERM only record a request to stop at the next safe point;
    the first one puts the previous handlers back, so that a second signal acts at once.
    Signal handlers can only be set from the main thread; elsewhere this records nothing."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self.request) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def request(self, signum: int, frame: Any) -> None:
        self.signal = signum
        self.restore()

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def requested(self, info: DistInfo) -> bool:
        """Whether any rank was asked to stop (every rank gets the same answer)."""
        if not info.distributed:
            return self.signal is not None
        return all_ranks_mean(torch.tensor(float(self.signal is not None), device=info.device), info) > 0


@dataclass
class TrainResult:
    """What a finished run leaves behind (per fold for cross-validation)."""

    output: Path
    epochs: int
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    model: nn.Module | None = None


@dataclass
class RunCounters:
    """Counters that a checkpoint must restore for an exact resume."""

    epoch: int = 0
    batches_done: int = 0
    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    best_ssim: float = -math.inf


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def make_optimizer(name: str, params: Iterable[Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``name``'s optimizer; ``weight_decay`` is decoupled for adamw, an L2 gradient term for the others."""
    classes = {
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "adagrad": torch.optim.Adagrad,
        "rmsprop": torch.optim.RMSprop,
    }
    return classes[name](params, lr=lr, weight_decay=weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def open_dataset(path: str, config: TrainConfig) -> SliceDataset:
    """All slices under ``path``; every volume must carry a fully sampled target image."""
    dataset = SliceDataset(path, challenge=config.challenge, sample_rate=config.sample_rate, seed=config.seed)
    for info in dataset.volumes:
        if info.target_key is None:
            raise KspaceKitError(
                "training needs fully sampled k-space with a target image (reconstruction_rss/_esc); "
                "this file has none",
                info.path,
            )
        if not _target_max(info) > 0:
            raise KspaceKitError(
                f"target '{info.target_key}' is all zero (or not finite): nothing to learn, no data range to score", info.path
            )
    if len(dataset) == 0:
        raise KspaceKitError("no slices to train on", path)
    return dataset


def _target_max(info: VolumeInfo) -> float:
    """The target volume's maximum: fastMRI's ``max`` attribute, else read from the target."""
    if "max" in info.attrs:
        return float(info.attrs["max"])
    try:
        with h5py.File(info.path, "r") as hf:
            return float(np.max(hf[info.target_key]))
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), info.path) from None


class Trainer:
    """Trains one model on one (train, val) split, writing into ``out_dir``; ``label`` (e.g.
    ``fold 2/3``) prefixes its console lines and progress bars."""

    def __init__(
        self, config: TrainConfig, out_dir: Path, train_set: Dataset, val_set: Dataset | None, info: DistInfo,
        label: str = "",
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.train_set = train_set
        self.val_set = val_set
        self.info = info
        self.label = label
        self.device = info.device
        self.use_amp = config.amp and self.device.type == "cuda"
        self.is_gan = config.model == "gan"
        self.checkpoint_path = out_dir / "checkpoints" / "last.pt"
        self.best_path = out_dir / "checkpoints" / "best.pt"

        seed_everything(config.seed)
        self.model_config = model_config(config.model, config.model_options)
        self.model: nn.Module = build_model(config.model, self.model_config).to(self.device)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.lr, config.optimizer_weight_decay())
        self.scheduler = make_scheduler(config, self.optimizer)
        self.disc: nn.Module | None = None
        self.disc_optimizer: torch.optim.Optimizer | None = None
        if self.is_gan:
            self.disc = build_discriminator(self.model_config).to(self.device)
            disc_lr = config.disc_lr or config.lr
            self.disc_optimizer = make_optimizer(config.optimizer, self.disc.parameters(), disc_lr, config.optimizer_weight_decay())
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_amp)
        self.progress = RunCounters()
        self.metrics: dict[str, float] = {}

    # ---- checkpoints -------------------------------------------------------------------------
    def weights(self) -> dict[str, Any]:
        """What inference needs (``best.pt``): the reconstruction network (a GAN's generator),
        its config, and the epoch, metrics and settings it came from."""
        p = self.progress
        return {
            "model": self.config.model,
            "config": self.model_config,
            "state_dict": unwrap(self.model).state_dict(),
            "epoch": p.epoch,
            "step": p.step,
            "metrics": self.metrics,
            "train_config": self.config.to_dict(),
        }

    def checkpoint(self) -> dict[str, Any]:
        """What resuming needs (``last.pt``): the weights plus optimizers, the discriminator,
        scheduler, scaler, counters and RNG states."""
        p = self.progress
        state = {
            **self.weights(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "batches_done": p.batches_done,
            "loss_sum": p.loss_sum,
            "loss_count": p.loss_count,
            "best_ssim": p.best_ssim,
            "rng": capture_rng_state(),
        }
        if self.disc is not None and self.disc_optimizer is not None:
            state["discriminator"] = unwrap(self.disc).state_dict()
            state["disc_optimizer"] = self.disc_optimizer.state_dict()
        return state

    def save(self) -> None:
        """Write ``last.pt`` (rank 0 only)."""
        if self.info.is_main:
            save_checkpoint(self.checkpoint_path, self.checkpoint())

    def save_best(self) -> None:
        if self.info.is_main:
            save_checkpoint(self.best_path, self.weights())

    def keep_what_was_asked(self) -> None:
        """At the end of a finished run, leave the checkpoints ``config.keep`` names."""
        if not self.info.is_main:
            return
        if self.config.keep == "best":
            if not self.best_path.exists():  # no validation: the final weights are the best known
                self.save_best()
            self.checkpoint_path.unlink(missing_ok=True)

    def resume(self) -> None:
        """Restore model, optimizers, scheduler, scaler, counters and RNG states from ``last.pt``."""
        # Loaded on the CPU: the RNG states must be CPU tensors; load_state_dict moves the rest to the device.
        ckpt = load_checkpoint(self.checkpoint_path)
        if ckpt.get("model") != self.config.model or ckpt.get("config") != self.model_config:
            raise KspaceKitError(
                f"checkpoint is for model {ckpt.get('model')} {ckpt.get('config')}, not this run's", self.checkpoint_path
            )
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        if self.disc is not None and self.disc_optimizer is not None:
            self.disc.load_state_dict(ckpt["discriminator"])
            self.disc_optimizer.load_state_dict(ckpt["disc_optimizer"])
        self.progress = RunCounters(
            ckpt["epoch"], ckpt["batches_done"], ckpt["step"], ckpt["loss_sum"], ckpt["loss_count"], ckpt["best_ssim"]
        )
        self.metrics = dict(ckpt["metrics"])
        restore_rng_state(ckpt["rng"])

    def interrupt(self, stop: StopRequests) -> NoReturn:
        """Save ``last.pt`` at this safe point and stop, saying how to continue."""
        self.save()
        barrier(self.info)
        p = self.progress
        name = signal.Signals(stop.signal).name if stop.signal is not None else "a signal on another rank"
        where = f"{self.label}, " if self.label else ""
        raise TrainingInterrupted(
            f"stopped by {name} at {where}epoch {p.epoch + 1}, step {p.step}; saved {self.checkpoint_path}",
            f"kspacekit train --output {self.config.output} --resume",
        )

    # ---- steps -------------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.use_amp else nullcontext()

    def checked(self, loss: Tensor, what: str) -> float:
        """The loss averaged over ranks; stop (on every rank alike) if it is NaN or Inf."""
        value = all_ranks_mean(loss.detach().float(), self.info)
        if not math.isfinite(value):
            last = self.checkpoint_path if self.checkpoint_path.exists() else None
            kept = f"last good checkpoint kept: {last}" if last else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"{what} became {value} at epoch {self.progress.epoch + 1}, step {self.progress.step + 1}; "
                f"training stopped ({kept}); try a lower --lr",
                self.out_dir,
            )
        return value

    def predict(self, model: nn.Module, batch: Batch) -> Tensor:
        """Reconstructions (B, h, w) in float32; under mixed precision on CUDA. Losses are computed
        outside autocast, in float32 (SSIM's variances would lose everything in float16)."""
        with self.autocast():
            return model(batch.kspace, batch.mask, batch.target_size, batch.num_low_frequencies).float()

    def discriminate(self, disc: nn.Module, images: Tensor) -> Tensor:
        """Patch logits (float32) of magnitude images (B, h, w)."""
        with self.autocast():
            return disc(images.unsqueeze(1)).float()

    def supervised_step(self, batch: Batch) -> tuple[float, float | None]:
        loss = reconstruction_loss(self.config.loss, self.predict(self.model, batch), batch.target)
        value = self.checked(loss, "loss")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value, None

    def discriminator_step(self, real: Tensor, fake: Tensor) -> float:
        """Update D on real targets vs *detached* reconstructions: no gradient reaches G.

        Real and fake go through D in one batch (instance norm keeps them independent), so a
        DDP-wrapped D sees one forward per backward."""
        assert self.disc is not None and self.disc_optimizer is not None
        real_logits, fake_logits = self.discriminate(self.disc, torch.cat([real, fake.detach()])).chunk(2)
        loss = discriminator_loss(real_logits, fake_logits, self.config.gan_loss)
        value = self.checked(loss, "discriminator loss")
        self.disc_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.disc_optimizer)
        return value

    def generator_step(self, batch: Batch, fake: Tensor) -> float:
        """Update G on content loss + weighted adversarial loss against the (frozen) updated D."""
        assert self.disc is not None
        disc = unwrap(self.disc)
        disc.requires_grad_(False)
        try:
            adversarial = generator_adversarial_loss(self.discriminate(disc, fake), self.config.gan_loss)
        finally:
            disc.requires_grad_(True)
        loss = reconstruction_loss(self.config.loss, fake, batch.target) + self.config.adversarial_weight * adversarial
        value = self.checked(loss, "generator loss")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        return value

    def gan_step(self, batch: Batch) -> tuple[float, float | None]:
        fake = self.predict(self.model, batch)
        disc_value = self.discriminator_step(batch.target, fake)
        value = self.generator_step(batch, fake)
        self.scaler.update()
        return value, disc_value

    # ---- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, bar: Progress, stop: StopRequests) -> tuple[dict[str, float], Tensor] | None:
        """Mean loss over slices and fastMRI NMSE/PSNR/SSIM over whole volumes (original scale),
        and the first slice's (target, zero-filled input, output) images, normalised; None if a
        stop was requested meanwhile."""
        from kspacekit.evaluation.metrics import volume_metrics

        assert self.val_set is not None
        model = unwrap(self.model)
        model.eval()
        collate = MaskAndCollate(self.config.mask_spec(), self.config.seed, train=False)
        loader = DataLoader(ErrorsAsValues(self.val_set), batch_size=self.config.batch_size, collate_fn=collate,
                            num_workers=self.config.num_workers)
        slices: dict[str, dict[int, tuple[Tensor, Tensor]]] = defaultdict(dict)
        losses = []
        images: Tensor | None = None
        task = bar.add_task(f"{self.label} validation".strip(), total=len(loader), loss="-")
        for batch in stoppable(raise_errors(loader), stop):
            batch = batch.to(self.device)
            pred = self.predict(model, batch)
            losses.append(reconstruction_loss(self.config.loss, pred, batch.target).item())
            if images is None:
                zero_filled = zero_filled_image(batch.kspace[:1], batch.mask[:1], batch.target_size)[0]
                images = torch.stack([batch.target[0], zero_filled, pred[0]]).cpu()
            scale = batch.scale[:, None, None]
            for fname, slice_num, p, t in zip(batch.fnames, batch.slice_nums, pred * scale, batch.target * scale):
                slices[fname][slice_num] = (t.cpu(), p.cpu())
            bar.update(task, advance=1, loss=f"{losses[-1]:.4g}")
        model.train()
        if stop.signal is not None or images is None:
            return None
        scores = [volume_metrics(*map(torch.stack, zip(*(s[k] for k in sorted(s))))) for s in slices.values()]
        metrics = {
            "val_loss": float(np.mean(losses)),
            **{f"val_{key}": float(np.mean([getattr(s, key) for s in scores])) for key in ("nmse", "psnr", "ssim")},
        }
        return metrics, images

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        config, info = self.config, self.info
        if resume:
            self.resume()
        if info.distributed:
            self.model = DistributedDataParallel(self.model)
            if self.disc is not None:
                self.disc = DistributedDataParallel(self.disc)
        logger = RunLogger(self.out_dir, self.progress.step if resume else None, config.tensorboard) if info.is_main else None
        sampler = ResumableSampler(len(self.train_set), info, config.seed)
        collate = MaskAndCollate(config.mask_spec(), config.seed, train=True)
        loader = DataLoader(ErrorsAsValues(self.train_set), batch_size=config.batch_size, sampler=sampler, collate_fn=collate,
                            num_workers=config.num_workers)
        step_fn = self.gan_step if self.is_gan else self.supervised_step
        console = Console(stderr=True)
        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
            disable=not (config.progress and info.is_main),
        )
        prefix = f"{self.label} " if self.label else ""
        try:
            with StopRequests() as stop, bar:
                while self.progress.epoch < config.epochs:
                    p = self.progress
                    epoch_start = time.monotonic()
                    sampler.set_epoch(p.epoch, skip=p.batches_done * config.batch_size)
                    collate.epoch = p.epoch
                    self.model.train()
                    task = bar.add_task(f"{prefix}epoch {p.epoch + 1}/{config.epochs}", total=p.batches_done + len(loader),
                                        completed=p.batches_done, loss="-")
                    for batch in stoppable(raise_errors(loader), stop):
                        loss, disc_loss = step_fn(batch.to(self.device))
                        p.step += 1
                        p.batches_done += 1
                        p.loss_sum += loss
                        p.loss_count += 1
                        bar.update(task, advance=1, loss=f"{loss:.4g}")
                        if logger is not None:
                            logger.log_step(p.step, p.epoch + 1, loss, disc_loss, self.optimizer.param_groups[0]["lr"])
                        if stop.requested(info):
                            self.interrupt(stop)
                        if config.checkpoint_every and p.step % config.checkpoint_every == 0:
                            self.save()
                    if stop.requested(info):  # DataLoader workers stopped by the same signal
                        self.interrupt(stop)
                    row: dict[str, Any] = {
                        "epoch": p.epoch + 1,
                        "step": p.step,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "train_loss": p.loss_sum / max(p.loss_count, 1),
                    }
                    images = None
                    if self.val_set is not None and info.is_main:
                        validated = self.validate(bar, stop)
                        if validated is not None:
                            self.metrics, images = validated
                            row.update(self.metrics)
                    if stop.requested(info):
                        self.interrupt(stop)  # the epoch's training is saved; resuming validates it
                    self.scheduler.step()
                    p.epoch += 1
                    p.batches_done, p.loss_sum, p.loss_count = 0, 0.0, 0
                    row["seconds"] = round(time.monotonic() - epoch_start, 3)
                    improved = self.metrics.get("val_ssim", -math.inf) > p.best_ssim
                    if improved:
                        p.best_ssim = self.metrics["val_ssim"]
                    if logger is not None:  # the row first: a checkpoint never exists without its row
                        logger.log_epoch(row, images)
                        summary = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "step"))
                        console.print(f"{prefix}epoch {row['epoch']}/{config.epochs}: {summary}", highlight=False,
                                      soft_wrap=True)
                    self.save()
                    if improved and config.keep != "last":
                        self.save_best()
                    barrier(info)
                self.keep_what_was_asked()
        finally:
            if logger is not None:
                logger.close()
        return TrainResult(self.out_dir, self.progress.epoch, self.progress.step, self.metrics, unwrap(self.model))


def stoppable(batches: Iterable[Batch], stop: StopRequests) -> Iterator[Batch]:
    """``batches`` until they end, or until a stop is requested (DataLoader workers get the
    terminal's SIGINT too and die, which the loader reports as a RuntimeError)."""
    iterator = iter(batches)
    while stop.signal is None:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except RuntimeError:
            if stop.signal is None:
                raise
            return
        yield batch


def check_output_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """A new run needs an empty (or new) folder, or --overwrite; --resume needs a run there."""
    if resume:
        check_output_folder(out_dir, overwrite=True)
        if not (out_dir / RUN_CONFIG).exists():
            raise KspaceKitError(f"nothing to resume: no {RUN_CONFIG} in this folder", out_dir)
        return
    check_output_folder(out_dir, overwrite, hint="pass --resume to continue that run or --overwrite")


def check_resumable(config: TrainConfig) -> None:
    """--resume needs a ``last.pt`` (with folds: one, or a fold still to start); a finished run
    that kept only ``best.pt`` cannot be extended."""
    out_dir = Path(config.output)
    if (out_dir / "checkpoints" / "last.pt").exists() or any(out_dir.glob("fold_*/checkpoints/last.pt")):
        return
    previous = load_run_config(out_dir)
    if run_finished(previous):
        more = f" and cannot be extended to {config.epochs} epochs" if config.epochs > previous.epochs else ""
        raise KspaceKitError(
            f"nothing to resume: this run finished its {previous.epochs} epochs and kept no last.pt "
            f"(--keep {previous.keep}){more}; --keep last or all leaves the last.pt that --resume needs",
            out_dir,
        )
    if not config.folds:
        raise KspaceKitError("nothing to resume: no checkpoints/last.pt in this folder", out_dir)


RUN_CONFIG = "train_config.json"


def load_run_config(out_dir: Path) -> TrainConfig:
    """The settings of the run in ``out_dir`` (for --resume)."""
    path = out_dir / RUN_CONFIG
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise KspaceKitError(f"nothing to resume: no {RUN_CONFIG} in this folder", out_dir) from None
    except (json.JSONDecodeError, TypeError) as err:
        raise KspaceKitError(f"unreadable run settings ({err})", path) from None


def epochs_done(run_dir: Path) -> int:
    """The last epoch in a run's ``metrics.csv`` (0 if none)."""
    path = run_dir / "metrics.csv"
    return max((int(row["epoch"]) for row in read_csv(path)), default=0) if path.exists() else 0


def run_finished(config: TrainConfig) -> bool:
    """Whether every run (every chosen fold) of ``config`` has logged all its epochs."""
    out_dir = Path(config.output)
    if not config.folds:
        return epochs_done(out_dir) >= config.epochs
    chosen = range(config.folds) if config.fold is None else [config.fold]
    return all(epochs_done(out_dir / f"fold_{fold}") >= config.epochs for fold in chosen)


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False) -> list[TrainResult]:
    """Run ``config`` (one run, or one per fold) and return the results; see the module docstring."""
    config.validate()
    out_dir = Path(config.output)
    info = setup(resolve_device(config.device))
    try:
        check_output_dir(out_dir, resume, overwrite)  # on every rank, so that all stop alike
        if resume:
            check_resumable(config)
        # every input file is validated before anything is written
        train_set = open_dataset(config.train, config)
        val_set = open_dataset(config.val, config) if config.val and not config.folds else None
        barrier(info)
        new_run = not resume and not (out_dir.exists() and any(out_dir.iterdir()))
        try:
            if info.is_main:
                with atomic_path(out_dir / RUN_CONFIG, overwrite=True) as tmp:
                    tmp.write_text(json.dumps(config.to_dict(), indent=2))
            if not config.folds:
                (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
                return [Trainer(config, out_dir, train_set, val_set, info).fit(resume)]
            return cross_validate(config, train_set, info, resume)
        except KspaceKitError:
            if new_run and info.is_main:
                remove_run_without_checkpoint(out_dir)
            raise
    finally:
        teardown(info)


def remove_run_without_checkpoint(out_dir: Path) -> None:
    """Empty the folder of a new run that failed before its first checkpoint (e.g. a slice with
    NaN k-space in the first epoch): logs of a run that cannot be resumed are partial output."""
    if not out_dir.is_dir() or any(out_dir.rglob("*.pt")):
        return
    for child in out_dir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def cross_validate(config: TrainConfig, dataset: SliceDataset, info: DistInfo, resume: bool) -> list[TrainResult]:
    """k-fold cross-validation by volume: ``fold_<i>/`` runs, then ``cross_validation.csv`` (per
    fold and epoch, best epochs, mean ± std over folds) and ``cross_validation.png``.

    Resuming continues each fold from its ``last.pt``, skips folds that finished, and starts the
    others afresh. With ``keep="best"`` only the best fold's ``best.pt`` stays."""
    out_dir = Path(config.output)
    folds = volume_folds(len(dataset.volumes), config.folds, config.seed)
    chosen = range(config.folds) if config.fold is None else [config.fold]
    console = Console(stderr=True)
    results = []
    for fold in chosen:
        train_idx, val_idx = split_samples(dataset.samples, folds[fold])
        run_dir = out_dir / f"fold_{fold}"
        label = f"fold {fold + 1}/{config.folds}"
        names = ", ".join(dataset.volumes[v].path.name for v in folds[fold])
        fold_resume = resume and (run_dir / "checkpoints" / "last.pt").exists()
        if resume and not fold_resume and epochs_done(run_dir) >= config.epochs:
            if info.is_main:
                console.print(f"{label}: finished earlier (validation volumes: {names})", highlight=False)
            results.append(TrainResult(run_dir, epochs_done(run_dir), 0))
            continue
        if info.is_main:
            console.print(f"[bold]{label}[/bold]: validation volumes {names}", highlight=False)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        trainer = Trainer(config, run_dir, Subset(dataset, train_idx), Subset(dataset, val_idx), info, label)
        results.append(trainer.fit(fold_resume))
        if config.keep == "best" and info.is_main:
            keep_best_fold(out_dir)
    if info.is_main:
        write_cross_validation(config, {fold: [dataset.volumes[v].path.name for v in folds[fold]] for fold in chosen},
                               console)
    return results


def keep_best_fold(out_dir: Path) -> None:
    """Delete every fold's ``best.pt`` but that of the fold with the best validation SSIM."""
    from kspacekit.training.reports import read_study

    best = read_study(out_dir).best_rows()
    if not best:
        return
    winner = max(best, key=lambda fold: best[fold].get("val_ssim", -math.inf))
    for path in out_dir.glob("fold_*/checkpoints/best.pt"):
        if path.parent.parent.name != f"fold_{winner}":
            path.unlink()


def write_cross_validation(config: TrainConfig, volumes: dict[int, list[str]], console: Console) -> None:
    """``cross_validation.csv`` and ``cross_validation.png`` of the run in ``config.output``, and
    the summary on the console."""
    from kspacekit.training.reports import STUDY_FIELDS, plot_studies, plus_minus, read_study, setting_style, write_csv

    out_dir = Path(config.output)
    study = read_study(out_dir, f"{config.model}, {config.loss} / {config.optimizer}",
                       setting_style(config.loss, config.optimizer))
    rows = [{**row, "val_volumes": ",".join(volumes.get(row["fold"], []))} for row in study.rows()]
    write_csv(out_dir / "cross_validation.csv", [*STUDY_FIELDS, "val_volumes"], rows)
    plot_studies([study], out_dir / "cross_validation.png", f"Cross-validation: {study.label}")
    summary = study.summary()
    epochs = ", ".join(str(int(row["epoch"])) for row in study.best_rows().values())
    run = f"{len(study.folds)} folds" if len(study.folds) == config.folds else f"{len(study.folds)} of {config.folds} folds"
    console.print(
        f"cross-validation, {run} (mean ± std at each fold's best epoch: {epochs}): "
        f"val SSIM {plus_minus(summary, 'val_ssim', 4)}, PSNR {plus_minus(summary, 'val_psnr', 2)} dB, "
        f"NMSE {plus_minus(summary, 'val_nmse', 4)}; wrote {out_dir / 'cross_validation.csv'} and "
        f"{out_dir / 'cross_validation.png'}",
        highlight=False, soft_wrap=True,
    )
