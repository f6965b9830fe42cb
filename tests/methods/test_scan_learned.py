"""scan-learned: learns from the scan's own samples, never NaN, falls back to CS where it cannot split."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.metrics import psnr
from kspacekit.methods import ReconMeta, create_method
from kspacekit.physics.fft import ifft2c, rss
from kspacekit.physics.masks import make_mask
from kspacekit.simulation.phantoms import shepp_logan

FAST = {"steps": 10, "progress": False}


def _problem(coils: int, kind: str = "random", transpose: bool = False) -> tuple[Tensor, Tensor, Tensor, ReconMeta]:
    """(full k-space, mask, target, meta) of one Shepp-Logan slice at 4x; ``transpose``: lines along rows."""
    full = torch.from_numpy(shepp_logan((64, 48), coils=coils, seed=3)[0])[None]
    mask, num_low = make_mask(kind, full.shape, 4, 0.08, seed=2)
    if transpose:
        full, mask = full.transpose(-1, -2).contiguous(), mask.transpose(-1, -2)
    return full, mask, rss(ifft2c(full), dim=1), ReconMeta(tuple(full.shape[-2:]), num_low, 4.0)


@pytest.mark.parametrize(
    ("coils", "kind", "transpose"),
    [(4, "random", False), (4, "random", True), (1, "random", False), (4, "poisson", False)],
    ids=["multi-coil columns", "multi-coil rows", "single-coil", "2-D pattern"],
)
def test_beats_zero_filled_and_keeps_up_with_cs(coils: int, kind: str, transpose: bool) -> None:
    full, mask, target, meta = _problem(coils, kind, transpose)
    method = create_method("scan-learned", **FAST)
    image = method(full * mask, mask, meta)
    scores = {name: psnr(target, create_method(name)(full * mask, mask, meta)) for name in ("zero-filled", "tv", "wavelet")}
    learned = psnr(target, image)
    assert learned > scores["zero-filled"], (learned, scores)
    assert learned > max(scores["tv"], scores["wavelet"]) - 1.0, (learned, scores)
    assert len(method.last_steps) == 1 and 0 <= method.last_steps[0] <= FAST["steps"]


def test_too_few_samples_to_hold_out_falls_back_to_wavelet() -> None:
    full, _, target, meta = _problem(4)
    mask = torch.zeros(1, 1, 1, full.shape[-1])
    mask[..., 20:28] = 1  # the calibration centre only: nothing to hold out
    mask[..., 2] = 1
    method = create_method("scan-learned", **FAST)
    image = method(full * mask, mask, meta)
    torch.testing.assert_close(image, create_method("wavelet")(full * mask, mask, meta))
    assert method.last_steps == [0]


def test_a_diverging_fit_keeps_the_cs_start_and_stays_finite() -> None:
    full, mask, _, meta = _problem(4)
    method = create_method("scan-learned", steps=3, lr=1e30, progress=False)
    image = method(full * mask, mask, meta)
    assert torch.isfinite(image).all()
    assert method.last_steps == [0]


def test_no_steps_is_the_better_cs_start_with_the_samples_put_back() -> None:
    """steps=0 is the cross-validated choice of tv/wavelet: it scores like that method (the
    output puts the measured samples back through the coil model, so not bit for bit)."""
    full, mask, target, meta = _problem(4)
    image = create_method("scan-learned", steps=0, progress=False)(full * mask, mask, meta)
    cs = [psnr(target, create_method(name)(full * mask, mask, meta)) for name in ("tv", "wavelet")]
    assert min(cs) - 0.5 < psnr(target, image) < max(cs) + 1.0


def test_bad_options_are_one_line_errors() -> None:
    for options in ({"folds": 1}, {"steps": -1}, {"lr": 0.0}):
        with pytest.raises(KspaceKitError) as error:
            create_method("scan-learned", **options)
        assert "\n" not in str(error.value)


def test_quiet_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    full, mask, _, meta = _problem(1)
    create_method("scan-learned", steps=2)(full * mask, mask, meta)
    assert "scan-learned" not in capsys.readouterr().err
