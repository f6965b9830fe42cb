"""Multi-GPU / multi-node training through torch.distributed, started by ``torchrun``.

``torchrun --nproc-per-node N -m kspacekit.cli train ...`` (or ``torchrun ... $(which kspacekit)
train ...``) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`setup` reads them and joins the process group (NCCL on CUDA, gloo on CPU). Without them
training runs as a single process. Rank 0 alone validates, logs and writes checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job and the device it computes on."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: torch.device) -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistInfo(0, 1, device)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, device)


def teardown(info: DistInfo) -> None:
    """Leave the process group (after all ranks are done)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_ranks_mean(value: torch.Tensor, info: DistInfo) -> float:
    """The mean of a scalar over all ranks; NaN/Inf on any rank makes it non-finite on every rank,
    so all ranks take the same branch when checking it."""
    if info.distributed:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / info.world_size
    return float(value.item())


class ResumableSampler(Sampler[int]):
    """A :class:`DistributedSampler` (shuffled per epoch from ``seed``) that can skip its first items.

    Resuming mid-epoch regenerates the epoch's order and skips the ``skip`` samples this rank
    had already processed, so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, num_samples: int, info: DistInfo, seed: int, shuffle: bool = True) -> None:
        self.base = DistributedSampler(
            range(num_samples), num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed
        )
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.base.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(self.base)
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        return len(self.base) - self.skip
