"""k-fold cross-validation by volume: all slices of a volume fall on the same side of a split.

Slices of one volume are strongly correlated (neighbouring anatomy, same coils and noise), so a
slice-wise split would leak validation data into training and flatter the scores.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from kspacekit.errors import KspaceKitError


def volume_folds(num_volumes: int, num_folds: int, seed: int = 0) -> list[list[int]]:
    """Shuffle volume indices with ``seed`` and deal them into ``num_folds`` near-equal folds."""
    if num_folds < 2:
        raise KspaceKitError(f"cross-validation needs at least 2 folds, got {num_folds}")
    if num_volumes < num_folds:
        raise KspaceKitError(f"{num_folds}-fold cross-validation needs at least {num_folds} volumes, found {num_volumes}")
    order = list(range(num_volumes))
    random.Random(seed).shuffle(order)
    return [sorted(order[fold::num_folds]) for fold in range(num_folds)]


def split_samples(
    samples: Sequence[tuple[int, int]], validation_volumes: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Indices of (volume, slice) ``samples`` outside and inside ``validation_volumes``."""
    held_out = set(validation_volumes)
    train = [i for i, (volume, _) in enumerate(samples) if volume not in held_out]
    val = [i for i, (volume, _) in enumerate(samples) if volume in held_out]
    return train, val
