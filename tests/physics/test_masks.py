"""Masks: value-for-value parity with fastMRI 0.3.0's line masks, the 2-D kinds, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fastmri.data.subsample import create_mask_for_mask_type
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from kspacekit.errors import KspaceKitError
from kspacekit.physics.masks import (
    LINE_KINDS,
    MASK_KINDS,
    PLANE_KINDS,
    MaskSpec,
    _greedy_disc_pattern,
    count_center_lines,
    effective_acceleration,
    file_seed,
    make_mask,
    mask_from_lines,
)

WIDTHS = (368, 369, 320, 321, 37)
RATIOS = ((4, 0.08), (8, 0.04), (3, 0.1), (2.5, 0.1))
FILE_SEEDS = [file_seed("file1000001.h5"), file_seed("file_brain_AXT2_200_2000019.h5")]
SEEDS = [*range(30), 2**32 - 1, *FILE_SEEDS]


def fastmri_mask(kind, shape, center_fractions, accelerations, seed):
    """fastMRI's mask for complex k-space ``shape``: (mask without its trailing axis, num_low)."""
    mask, num_low = create_mask_for_mask_type(kind, center_fractions, accelerations)(
        tuple(shape) + (2,), seed=seed
    )
    return mask[..., 0], num_low


def outcome(function, *args):
    """``function(*args)``, or the string "error" if it raises."""
    try:
        return function(*args)
    except (KspaceKitError, ValueError, ZeroDivisionError, TypeError):
        return "error"


def as_key(mask):
    return tuple(mask.flatten().tolist())


# ---------------------------------------------------------------------------------------------
# Line kinds: parity with fastMRI


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
        expected = outcome(fastmri_mask, kind, shape, [center_fraction], [acceleration], seed)
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
    lows = set()
    for seed in [*range(40), *FILE_SEEDS]:
        expected_mask, expected_low = fastmri_mask(kind, shape, [0.08, 0.04], [4, 8], seed)
        mask, num_low = spec(shape, seed)
        assert torch.equal(mask, expected_mask) and num_low == expected_low
        lows.add(num_low)
    assert lows == {round(368 * 0.08), round(368 * 0.04)}  # both pairs get chosen


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_fastmri_rejections_are_user_errors(kind):
    """Where fastMRI fails (the centre alone reaches the acceleration), we raise KspaceKitError."""
    shape = (15, 40)
    refused = 0
    for acceleration, center_fraction in [(4, 0.3), (8, 0.2), (2, 0.5), (4, 0.25), (4, 0.08)]:
        if outcome(fastmri_mask, kind, shape, [center_fraction], [acceleration], 0) == "error":
            refused += 1
            with pytest.raises(KspaceKitError, match="centre columns already reach"):
                make_mask(kind, shape, acceleration, center_fraction, 0)
        else:
            make_mask(kind, shape, acceleration, center_fraction, 0)
    assert refused > 0 if kind.endswith("_fraction") else refused == 0


@pytest.mark.parametrize("kind", LINE_KINDS)
def test_unseeded_line_masks_are_valid_draws(kind):
    shape = (15, 320)
    seeded = {as_key(make_mask(kind, shape, 4, 0.08, seed)[0]) for seed in range(300)}
    unseeded = [make_mask(kind, shape, 4, 0.08) for _ in range(10)]
    for mask, num_low in unseeded:
        assert num_low == round(320 * 0.08)
        assert mask[..., 147 : 147 + num_low].eq(1).all()
    if kind == "random":
        assert len({as_key(mask) for mask, _ in unseeded}) > 1
    else:  # a handful of possible offsets: every unseeded draw is one of the seeded ones
        assert all(as_key(mask) in seeded for mask, _ in unseeded)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(LINE_KINDS),
    width=st.integers(8, 700),
    acceleration=st.one_of(st.integers(1, 12), st.floats(1, 12)),
    center_fraction=st.floats(0.01, 0.5),
    seed=st.one_of(
        st.integers(0, 2**32 - 1), st.lists(st.integers(0, 0x10FFFF), max_size=20).map(tuple)
    ),
)
def test_line_masks_match_fastmri_property(kind, width, acceleration, center_fraction, seed):
    """Any width, ratio and seed: fastMRI's mask (or both refuse); deterministic; centre sampled."""
    assume(1 <= round(width * center_fraction) < width)  # fastMRI allows an empty centre; we refuse
    if acceleration == int(acceleration):
        acceleration = int(acceleration)  # fastMRI slices with it for equispaced and magic
    shape = (4, width)
    expected = outcome(fastmri_mask, kind, shape, [center_fraction], [acceleration], seed)
    actual = outcome(make_mask, kind, shape, acceleration, center_fraction, seed)
    if expected == "error" or actual == "error":
        assert expected == actual == "error"
        return
    assert torch.equal(actual[0], expected[0]) and actual[1] == expected[1]
    again = make_mask(kind, shape, acceleration, center_fraction, seed)
    assert torch.equal(again[0], actual[0])
    assert count_center_lines(actual[0].flatten()) >= actual[1]
    assert 1 <= effective_acceleration(actual[0], shape) <= width / actual[1]


# ---------------------------------------------------------------------------------------------
# Helpers around line masks


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
    with pytest.raises(KspaceKitError, match="does not fit"):
        effective_acceleration(mask, (16, 41))


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
        assert count == num_low if neighbours == 0 else count > num_low


# ---------------------------------------------------------------------------------------------
# Plane (2-D) kinds


def center_box(height, width, center_fraction):
    """The fully sampled box, placed like fastMRI's centre lines along each axis."""
    rows, columns = round(height * center_fraction), round(width * center_fraction)
    top, left = (height - rows + 1) // 2, (width - columns + 1) // 2
    return slice(top, top + rows), slice(left, left + columns)


@pytest.mark.parametrize("kind", PLANE_KINDS)
@pytest.mark.parametrize("shape", [(2, 64, 48), (1, 121, 97), (320, 320)])
@pytest.mark.parametrize(("acceleration", "center_fraction"), [(2, 0.08), (4, 0.08), (8, 0.04)])
def test_plane_masks_are_seeded_exact_and_centred(kind, shape, acceleration, center_fraction):
    height, width = shape[-2:]
    mask, num_low = make_mask(kind, shape, acceleration, center_fraction, seed=7)
    assert mask.dtype == torch.float32 and mask.shape == (1,) * (len(shape) - 2) + (height, width)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert int(mask.sum()) == round(height * width / acceleration)
    assert effective_acceleration(mask, shape) == pytest.approx(acceleration, rel=0.01)
    assert mask[(..., *center_box(height, width, center_fraction))].eq(1).all()
    assert num_low == round(width * center_fraction)
    assert torch.equal(mask, make_mask(kind, shape, acceleration, center_fraction, seed=7)[0])
    assert not torch.equal(mask, make_mask(kind, shape, acceleration, center_fraction, seed=8)[0])
    tuple_seed = make_mask(kind, shape, acceleration, center_fraction, seed=FILE_SEEDS[0])[0]
    assert int(tuple_seed.sum()) == int(mask.sum()) and not torch.equal(tuple_seed, mask)


@pytest.mark.parametrize("kind", PLANE_KINDS)
def test_plane_masks_are_denser_near_the_centre(kind):
    mask = make_mask(kind, (320, 320), 6, 0.04, seed=1)[0].numpy()
    rows, columns = np.meshgrid(np.arange(320) - 160, np.arange(320) - 160, indexing="ij")
    radius = np.hypot(rows, columns) / 160
    inner, middle, outer = (
        mask[(radius > low) & (radius < high)].mean()
        for low, high in [(0.1, 0.3), (0.4, 0.6), (0.8, 1.0)]
    )
    assert inner > middle > outer > 0


def close_pairs(sampled):
    """Number of sampled points with another sampled point among their 8 neighbours."""
    padded = np.pad(sampled, 1)
    neighbours = sum(
        np.roll(np.roll(padded, dy, 0), dx, 1)[1:-1, 1:-1]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy, dx) != (0, 0)
    )
    return int((sampled & (neighbours > 0)).sum())


def test_poisson_disc_keeps_outer_samples_apart_unlike_gaussian():
    """Poisson-disc masks never sample neighbouring outer points; an iid density mask does."""
    shape = (320, 320)
    outer = np.zeros(shape, dtype=bool)
    outer[:60], outer[-60:], outer[:, :60], outer[:, -60:] = True, True, True, True
    poisson = make_mask("poisson", shape, 8, 0.04, seed=2)[0].numpy().astype(bool)
    gaussian = make_mask("gaussian", shape, 8, 0.04, seed=2)[0].numpy().astype(bool)
    assert close_pairs(poisson & outer) == 0
    assert close_pairs(gaussian & outer) > 100


def sequential_disc_pattern(radius, priority):
    """Reference: visit points in priority order, keep those not too close to any kept point."""
    kept = []
    for flat in np.argsort(priority, axis=None):
        y, x = divmod(int(flat), radius.shape[1])
        if all(2 * math.hypot(y - ky, x - kx) >= radius[y, x] + radius[ky, kx] for ky, kx in kept):
            kept.append((y, x))
    pattern = np.zeros(radius.shape, dtype=bool)
    pattern[tuple(np.array(kept).T)] = True
    return pattern


@pytest.mark.parametrize("seed", range(4))
def test_parallel_disc_pattern_equals_sequential_dart_throwing(seed):
    rng = np.random.default_rng(seed)
    radius = rng.uniform(0.5, 4.0, size=(23, 19))
    priority = rng.permutation(radius.size).reshape(radius.shape)
    assert np.array_equal(
        _greedy_disc_pattern(radius, priority), sequential_disc_pattern(radius, priority)
    )


@pytest.mark.parametrize("kind", PLANE_KINDS)
def test_plane_mask_spec_and_unseeded_draws(kind):
    spec = MaskSpec(kind, (0.08, 0.04), (4, 8))
    shape = (80, 64)
    counts = {int(spec(shape, seed)[0].sum()) for seed in range(12)}
    assert counts == {80 * 64 // 4, 80 * 64 // 8}
    first, second = spec(shape)[0], spec(shape)[0]
    assert int(first.sum()) in counts and not torch.equal(first, second)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(PLANE_KINDS),
    height=st.integers(12, 72),
    width=st.integers(12, 72),
    acceleration=st.floats(1, 16),
    center_fraction=st.floats(0.05, 0.4),
    seed=st.integers(0, 2**32 - 1),
)
@example(kind="poisson", height=12, width=12, acceleration=6.0, center_fraction=0.375, seed=0)
def test_plane_masks_property(kind, height, width, acceleration, center_fraction, seed):
    """Any plane and ratio: refused only when the box exceeds the budget; else exact and seeded."""
    shape = (height, width)
    target = round(height * width / acceleration)
    rows, columns = center_box(height, width, center_fraction)
    box_points = (rows.stop - rows.start) * (columns.stop - columns.start)
    if box_points > target:
        with pytest.raises(KspaceKitError, match="centre box alone exceeds"):
            make_mask(kind, shape, acceleration, center_fraction, seed)
        return
    mask, _ = make_mask(kind, shape, acceleration, center_fraction, seed)
    assert int(mask.sum()) == target
    assert mask[rows, columns].eq(1).all()
    assert torch.equal(mask, make_mask(kind, shape, acceleration, center_fraction, seed)[0])


# ---------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("kind", "shape", "acceleration", "center_fraction", "message"),
    [
        ("spiral", (15, 368), 4, 0.08, "unknown mask kind"),
        ("random", (15, 368), 0.5, 0.08, "acceleration must be a finite number >= 1"),
        ("random", (15, 368), float("inf"), 0.08, "acceleration must be a finite number >= 1"),
        ("gaussian", (15, 368), float("nan"), 0.08, "acceleration must be a finite number >= 1"),
        ("random", (15, 368), "4", 0.08, "acceleration must be a number"),
        ("equispaced", (15, 368), 4.5, 0.08, "whole-number acceleration"),
        ("random", (15, 368), 4, 0.0, "strictly between 0 and 1"),
        ("poisson", (15, 368), 4, 1.0, "strictly between 0 and 1"),
        ("magic", (15, 10), 4, 0.04, "gives 0 fully sampled lines"),
        ("poisson", (10, 368), 4, 0.04, "of H = 10 gives 0 fully sampled lines"),
        ("gaussian", (64, 64), 40, 0.3, "centre box alone exceeds"),
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


def test_mask_kinds_are_the_cli_names():
    assert MASK_KINDS == (*LINE_KINDS, *PLANE_KINDS)
    assert set(MASK_KINDS) == {
        "random",
        "equispaced",
        "equispaced_fraction",
        "magic",
        "magic_fraction",
        "poisson",
        "gaussian",
    }


@pytest.mark.parametrize("kind", [*LINE_KINDS, *PLANE_KINDS])
def test_masks_apply_on_device(kind, device):
    """A mask made on the CPU, moved to ``device``, zeroes the same k-space samples there and
    reports the same acceleration as on the CPU."""
    from kspacekit.physics.operators import apply_mask

    shape = (2, 3, 48, 40)
    mask, _ = make_mask(kind, shape, 4, 0.08, seed=5)
    kspace = torch.randn(shape, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    on_device = apply_mask(kspace.to(device), mask.to(device))
    assert on_device.device.type == device
    assert torch.equal(on_device.cpu(), apply_mask(kspace, mask))
    assert effective_acceleration(mask.to(device), shape) == effective_acceleration(mask, shape)
