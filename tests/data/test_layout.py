"""data.layout: the shared fastMRI file checks, and proof that ``evaluate`` and ``export`` run without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from kspacekit.data.layout import course_acceleration, h5_files, mask_key, target_dataset
from kspacekit.data.write import write_submission, write_volume
from kspacekit.errors import KspaceKitError

# Runs ``kspacekit ARGS`` through the console entry point in a fresh interpreter, then reports on
# stderr's last line whether anything imported torch on the way.
ENTRY_POINT_WITHOUT_TORCH = """
import sys
from kspacekit.cli import main
sys.argv = ["kspacekit", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("torch imported:", "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def run_without_torch_check(*args: str | Path) -> tuple[subprocess.CompletedProcess, bool]:
    """Run the command in a fresh process: its result and whether torch ended up imported."""
    result = subprocess.run([sys.executable, "-c", ENTRY_POINT_WITHOUT_TORCH, *map(str, args)],
                            capture_output=True, text=True)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("torch imported: "), result.stderr
    return result, last == "torch imported: True"


@pytest.fixture(scope="module")
def scored_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A target folder (one fastMRI train file with k-space, target and header) and its predictions."""
    root = tmp_path_factory.mktemp("torch_free")
    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((2, 3, 24, 20)) + 1j * rng.standard_normal((2, 3, 24, 20))).astype(np.complex64)
    target = rng.random((2, 24, 20)).astype(np.float32) + 0.5
    write_volume(root / "targets" / "file1.h5", kspace, target=target, attrs={"acquisition": "CORPD_FBK"})
    write_submission(root / "predictions", "file1.h5", target * 0.9, attrs={"acceleration": 4})
    return root / "targets", root / "predictions"


def test_library_modules_of_evaluate_and_export_do_not_import_torch() -> None:
    code = ("import sys, kspacekit.data, kspacekit.data.layout, kspacekit.data.export, kspacekit.evaluation.evaluate; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_evaluate_command_does_not_import_torch(scored_folders: tuple[Path, Path], tmp_path: Path) -> None:
    targets, predictions = scored_folders
    result, torch_imported = run_without_torch_check(
        "evaluate", "--target", targets, "--predictions", predictions, "--json", tmp_path / "scores.json")
    assert result.returncode == 0, result.stderr
    assert "CORPD_FBK" in result.stdout and (tmp_path / "scores.json").is_file()
    assert not torch_imported


@pytest.mark.parametrize("fmt, output", [("nifti", "volume.nii.gz"), ("dicom", "dicom"), ("png", "png")])
def test_export_command_does_not_import_torch(scored_folders: tuple[Path, Path], tmp_path: Path,
                                              fmt: str, output: str) -> None:
    targets, predictions = scored_folders
    for source in (targets / "file1.h5", predictions / "file1.h5"):
        out = tmp_path / source.parent.name / output
        result, torch_imported = run_without_torch_check("export", source, out, "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert out.exists()
        assert not torch_imported


def test_h5_files_lists_a_folder_or_names_a_file(tmp_path: Path) -> None:
    for name in ("b.h5", "a.h5", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.h5").mkdir()
    assert h5_files(tmp_path) == [tmp_path / "a.h5", tmp_path / "b.h5"]
    assert h5_files(str(tmp_path / "b.h5")) == [tmp_path / "b.h5"]
    with pytest.raises(KspaceKitError, match="missing: no such file or directory"):
        h5_files(tmp_path / "missing")
    with pytest.raises(KspaceKitError, match="folder.h5: no .h5 files in folder"):
        h5_files(tmp_path / "folder.h5")


def test_target_dataset_accepts_real_volumes_only(tmp_path: Path) -> None:
    path = tmp_path / "targets.h5"
    with h5py.File(path, "w") as f:
        f["float"] = np.zeros((2, 8, 8), np.float32)
        f["integer"] = np.zeros((2, 8, 8), np.uint16)
        f["complex"] = np.zeros((2, 8, 8), np.complex64)
        f["flat"] = np.zeros((8, 8), np.float32)
        f.create_group("group")
    with h5py.File(path, "r") as f:
        assert target_dataset(f, "float", path, num_slices=2).shape == (2, 8, 8)
        assert target_dataset(f, "integer", path).dtype == np.uint16
        for key, problem in (("complex", "must be real"), ("flat", "must be real"), ("group", "is a group"),
                             ("absent", "is missing")):
            with pytest.raises(KspaceKitError, match=f"targets.h5: '{key}' {problem}"):
                target_dataset(f, key, path)
        with pytest.raises(KspaceKitError, match=r"with 3 slices, got float32 \(2, 8, 8\)"):
            target_dataset(f, "float", path, num_slices=3)


def test_course_keys_name_their_mask_and_acceleration() -> None:
    keys = ("kspace", "kspace_4af", "kspace_8af")
    assert [mask_key(key) for key in keys] == ["mask", "mask_4af", "mask_8af"]
    assert [course_acceleration(key) for key in keys] == [None, 4.0, 8.0]
