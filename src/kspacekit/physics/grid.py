"""Image-grid geometry shared by torch and NumPy code (torch-free, so the metrics can use it)."""

from __future__ import annotations

from typing import TypeVar

Array = TypeVar("Array")


def center_crop(x: Array, shape: tuple[int, int]) -> Array:
    """The centred ``shape`` window of the last two dims, as a view of a tensor or NumPy array.

    fastMRI's offsets, ``(n - m) // 2``; a window larger than the array is a ValueError.
    """
    h, w = shape
    big_h, big_w = x.shape[-2], x.shape[-1]  # type: ignore[attr-defined]
    if not (0 < h <= big_h and 0 < w <= big_w):
        raise ValueError(f"cannot crop {(big_h, big_w)} to {(h, w)}")
    top, left = (big_h - h) // 2, (big_w - w) // 2
    return x[..., top : top + h, left : left + w]  # type: ignore[index]
