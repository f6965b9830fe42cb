"""Masks: value-for-value parity with fastMRI 0.3.0's line masks, 2-D kinds, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastmri.data.subsample import create_mask_for_mask_type
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kspacekit.errors import KspaceKitError
from kspacekit.masks import (
    LINE_KINDS,
    MASK_KINDS,
    MaskSpec,
    count_center_lines,
    effective_acceleration,
    file_seed,
    make_mask,
    mask_from_lines,
)

WIDTHS = (368, 369, 320, 321, 37)
RATIOS = ((4, 0.08), (8, 0.04), (3, 0.1), (2.5, 0.1))
SEEDS = [*range(30), 2**32 - 1, file_seed("file1000001.h5"), file_seed("file_brain_AXT2_200_2000019.h5")]


def fastmri_mask(kind, shape, center_fractions, accelerations, seed):
    """fastMRI's mask for complex k-space of ``shape``, as (mask without the trailing axis, num_low)."""
    mask, num_low = create_mask_for_mask_type(kind, center_fractions, accelerations)(
        tuple(shape) + (2,), seed=seed
    )
    return mask[..., 0], num_low


def outcome(function):
    """The result of ``function()``, or the string "error" if it raises."""
    try:
        return function()
    except (KspaceKitError, ValueError, ZeroDivisionError, TypeError):
        return "error"


@pytest.mark.parametrize("kind", LINE_KINDS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("acceleration", "center_fraction"), RATIOS)
def test_line_masks_equal_fastmri(kind, width, acceleration, center_fraction):
    shape = (2, 15, width)
    if kind in ("equispaced", "magic") and acceleration != int(acceleration):
        with pytest.raises(KspaceKitError, match="whole-number acceleration"):
            make_mask(kind, shape, acceleration, center_fraction)
        return
    for seed in SEEDS:
        expected = outcome(lambda: fastmri_mask(kind, shape, [center_fraction], [acceleration], seed))
        if expected == "error":
            with pytest.raises(KspaceKitError):
                make_mask(kind, shape, acceleration, center_fraction, seed)
            continue
        mask, num_low = make_mask(kind, shape, acceleration, center_fraction, seed)
        assert mask.dtype == torch.float32 and mask.shape == (1, 1, width)
        assert torch.equal(mask, expected[0]), (kind, width, acceleration, center_fraction, seed)
        assert num_low == expected[1]


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_mask_spec_chooses_pairs_like_fastmri(kind):
    spec = MaskSpec(kind, (0.08, 0.04), (4, 8))
    shape = (15, 368)
    for seed in [*range(40), file_seed("file1001059.h5")]:
        expected_mask, expected_low = fastmri_mask(kind, shape, [0.08, 0.04], [4, 8], seed)
        mask, num_low = spec(shape, seed)
        assert torch.equal(mask, expected_mask) and num_low == expected_low


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_fastmri_rejections_are_user_errors(kind):
    """Where fastMRI fails (the centre alone reaches the acceleration), we raise KspaceKitError."""
    shape = (15, 40)
    for acceleration, center_fraction in [(4, 0.3), (8, 0.2), (2, 0.5), (4, 0.25)]:
        if outcome(lambda: fastmri_mask(kind, shape, [center_fraction], [acceleration], 0)) == "error":
            with pytest.raises(KspaceKitError, match="centre columns already reach"):
                make_mask(kind, shape, acceleration, center_fraction, 0)
        else:
            make_mask(kind, shape, acceleration, center_fraction, 0)


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_unseeded_line_masks_are_valid_draws(kind):
    shape = (15, 320)
    seeded = {tuple(make_mask(kind, shape, 4, 0.08, seed)[0].flatten().tolist()) for seed in range(300)}
    unseeded = [make_mask(kind, shape, 4, 0.08) for _ in range(10)]
    for mask, num_low in unseeded:
        assert num_low == round(320 * 0.08)
        assert mask[..., 160 - num_low // 2 : 160 + num_low // 2].eq(1).all()
    if kind != "random":  # a handful of possible offsets: every unseeded draw is one of them
        assert all(tuple(mask.flatten().tolist()) in seeded for mask, _ in unseeded)
    else:
        assert len({tuple(mask.flatten().tolist()) for mask, _ in unseeded}) > 1


def test_file_seed_is_fastmri_per_file_seed():
    assert file_seed("file1000001.h5") == tuple(map(ord, "file1000001.h5"))
    assert file_seed("") == ()


def test_mask_broadcasts_over_kspace_and_reports_acceleration():
    shape = (3, 4, 16, 40)
    mask, _ = make_mask("equispaced_fraction", shape, 4, 0.1, seed=3)
    assert mask.shape == (1, 1, 1, 40)
    kspace = torch.ones(shape, dtype=torch.complex64)
    sampled_columns = int(mask.sum())
    assert int((kspace * mask).abs().sum()) == 3 * 4 * 16 * sampled_columns
    assert effective_acceleration(mask, shape) == pytest.approx(40 / sampled_columns)


def test_mask_from_lines_and_center_lines():
    lines = np.zeros(11, dtype=bool)
    lines[[0, 4, 5, 6, 9]] = True
    mask = mask_from_lines(lines, (2, 7, 11))
    assert mask.shape == (1, 1, 11) and mask.dtype == torch.float32
    assert mask.flatten().tolist() == lines.astype(float).tolist()
    assert count_center_lines(lines) == 3
    assert count_center_lines(torch.ones(6)) == 6
    assert count_center_lines(np.zeros(6)) == 0
    with pytest.raises(KspaceKitError, match="does not match k-space width"):
        mask_from_lines(lines, (7, 12))
    with pytest.raises(KspaceKitError, match="0 or 1"):
        mask_from_lines(np.full(11, 0.5), (7, 11))


@pytest.mark.parametrize("width", WIDTHS)
def test_center_lines_of_fastmri_masks_cover_num_low_frequencies(width):
    for seed in range(20):
        mask, num_low = fastmri_mask("equispaced_fraction", (15, width), [0.08], [4], seed)
        lines = mask.flatten()
        count = count_center_lines(lines)
        start = (width - num_low + 1) // 2
        neighbours = int(lines[start - 1]) + int(lines[start + num_low])
        assert num_low <= count and (neighbours > 0 or count == num_low)


@pytest.mark.parametrize(
    ("kind", "shape", "acceleration", "center_fraction", "message"),
    [
        ("spiral", (15, 368), 4, 0.08, "unknown mask kind"),
        ("random", (15, 368), 0.5, 0.08, "acceleration must be a finite number >= 1"),
        ("random", (15, 368), float("inf"), 0.08, "acceleration must be a finite number >= 1"),
        ("random", (15, 368), float("nan"), 0.08, "acceleration must be a finite number >= 1"),
        ("random", (15, 368), "4", 0.08, "acceleration must be a number"),
        ("equispaced", (15, 368), 4.5, 0.08, "whole-number acceleration"),
        ("random", (15, 368), 4, 0.0, "strictly between 0 and 1"),
        ("random", (15, 368), 4, 1.0, "strictly between 0 and 1"),
        ("magic", (15, 10), 4, 0.04, "gives 0 fully sampled lines"),
        ("random", (368,), 4, 0.08, "shape must be"),
    ],
)
def test_invalid_requests_raise_user_errors(kind, shape, acceleration, center_fraction, message):
    with pytest.raises(KspaceKitError, match=message):
        make_mask(kind, shape, acceleration, center_fraction, seed=0)


def test_invalid_seeds_and_pairs_raise_user_errors():
    with pytest.raises(KspaceKitError, match="mask seed"):
        make_mask("random", (15, 368), 4, 0.08, seed=-1)
    with pytest.raises(KspaceKitError, match="as many center fractions as accelerations"):
        MaskSpec("random", (0.08, 0.04), (4,))


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(LINE_KINDS),
    width=st.integers(8, 700),
    acceleration=st.integers(1, 12),
    center_fraction=st.floats(0.01, 0.5),
    seed=st.one_of(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 0x10FFFF), max_size=20).map(tuple)),
)
def test_line_masks_match_fastmri_property(kind, width, acceleration, center_fraction, seed):
    """Any width, ratio and seed: same mask as fastMRI (or both refuse), deterministic, centre sampled."""
    assume(1 <= round(width * center_fraction) < width)  # fastMRI allows an empty centre; we refuse it
    shape = (4, width)
    expected = outcome(lambda: fastmri_mask(kind, shape, [center_fraction], [acceleration], seed))
    actual = outcome(lambda: make_mask(kind, shape, acceleration, center_fraction, seed))
    if expected == "error" or actual == "error":
        assert expected == actual == "error"
        return
    assert torch.equal(actual[0], expected[0]) and actual[1] == expected[1]
    again = make_mask(kind, shape, acceleration, center_fraction, seed)
    assert torch.equal(again[0], actual[0])
    assert count_center_lines(actual[0].flatten()) >= actual[1]
    assert 1 <= effective_acceleration(actual[0], shape) <= width / actual[1]
