"""Every registered method on every test device: inputs on the device give float32 images of the
target size on that device, equal (to float32 round-off of iterative solvers) to the CPU's."""

from __future__ import annotations

import pytest
import torch
from conftest import synthetic_kspace

from kspacekit.methods import ReconMeta, available_methods, create_method
from kspacekit.methods.learned import LearnedMethod, shipped_weights
from kspacekit.models import build_model
from kspacekit.physics.masks import make_mask
from kspacekit.training.checkpoints import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def method_options(name: str, folder) -> dict[str, str]:
    """No options, except for a learned method without shipped weights: a fresh model's checkpoint."""
    method = create_method(name)
    if not isinstance(method, LearnedMethod) or shipped_weights(method.model_name):
        return {}
    torch.manual_seed(0)
    path = folder / f"{name}.pt"
    save_checkpoint(path, {"model": method.model_name, "state_dict": build_model(method.model_name).state_dict()})
    return {"checkpoint": str(path)}


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    """A 4-coil 64x48 two-slice volume, undersampled 4x, each method's options, and a cache of each
    method's CPU reconstruction (made by the cpu case, or by the first case that needs it)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    options = {name: method_options(name, folder) for name in available_methods()}
    full = torch.from_numpy(synthetic_kspace(2, 4, 64, 48, seed=4))
    mask, num_low = make_mask("equispaced_fraction", full.shape, 4, 0.16, seed=1)
    meta = ReconMeta(target_size=(64, 48), num_low_frequencies=num_low, acceleration=4.0)
    kspace, mask = full * mask, mask.expand(2, 1, 1, 48)
    return kspace, mask, meta, options, {}


@pytest.mark.parametrize("name", available_methods())
def test_method_runs_on_device(problem, name, device):
    kspace, mask, meta, options, on_cpu = problem
    image = create_method(name, **options[name])(kspace.to(device), mask.to(device), meta)
    assert image.device.type == device and image.dtype == torch.float32
    assert image.shape == (2, *meta.target_size) and torch.isfinite(image).all()
    if device == "cpu":
        on_cpu[name] = image
    expected = on_cpu.get(name)
    if expected is None:
        expected = on_cpu[name] = create_method(name, **options[name])(kspace, mask, meta)
    assert ((image.cpu() - expected).norm() / expected.norm()).item() < 1e-3
