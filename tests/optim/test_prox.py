"""The wavelet prox runs without the sparse-tensor UserWarnings ptwt triggers inside torch."""

from __future__ import annotations

import subprocess
import sys
import warnings

import torch

from kspacekit.optim.prox import WaveletTransform

# torch emits these warnings once per process, so only a fresh interpreter is sure to reach their
# first (and only) occurrence; ``-W error::UserWarning`` turns any that escapes into a failure.
_FRESH_PROCESS_SCRIPT = """
import torch
from kspacekit.optim.prox import WaveletTransform
WaveletTransform("db4", levels=3).prox_l1(torch.randn(2, 48, 40, dtype=torch.complex64), 0.1)
"""


def test_wavelet_prox_raises_no_user_warning_in_a_fresh_process() -> None:
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", _FRESH_PROCESS_SCRIPT],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


def test_wavelet_prox_raises_no_user_warning() -> None:
    image = torch.randn(1, 32, 24, dtype=torch.complex64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        WaveletTransform("haar", levels=2).prox_l1(image, 0.1)


def test_other_warnings_still_reach_the_caller() -> None:
    """The filter is scoped to ptwt's two messages: the caller's own filters are left as they were."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WaveletTransform("haar", levels=1).prox_l1(torch.randn(1, 16, 16, dtype=torch.complex64), 0.1)
        warnings.warn("an unrelated warning", UserWarning)
    assert [str(w.message) for w in caught] == ["an unrelated warning"]
