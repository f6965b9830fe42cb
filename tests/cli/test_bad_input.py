"""Bad input for every command: one line naming the file and the problem, exit 2, no output left.

The matrix of issue #7: each kind of broken input file (missing, a folder where a file belongs,
not HDF5, truncated, no k-space, wrong rank, real-valued, NaN/Inf, all-zero, mask of the wrong
length) and each bad option (acceleration < 1, centre fraction outside (0, 1), unknown method or
model, an option the method does not take, an output that cannot be created) is fed to every
command that takes it. Also: a folder holding bad files among good ones (reconstruct writes the
good ones and exits 1; benchmark and train refuse the folder), and output names derived from
input names that would leave the output folder. Commands run in this process through the real
entry point (fast); tests/test_reconstruct.py runs some in a subprocess to prove the user sees no
traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_main, synthetic_kspace, write_train_file

from kspacekit.data import write_submission, write_volume

# ---- input files ----------------------------------------------------------------------------

SLICES, COILS, HEIGHT, WIDTH = 2, 2, 32, 24


def _write_h5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def _kspace_with(value: complex) -> np.ndarray:
    kspace = synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH)
    kspace[1, 0, 3, 3] = value
    return kspace


def _truncated(path: Path, good: Path, keep: int) -> Path:
    path.write_bytes(good.read_bytes()[:keep])
    return path


def make_kspace_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """Broken fastMRI k-space files: case name -> (path, regex the error message must match)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = write_train_file(folder / "good_source.h5", slices=SLICES, coils=COILS, height=HEIGHT, width=WIDTH)
    kspace = synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH)
    target = np.abs(kspace).sum(1).astype(np.float32)  # any (slices, h, w) image will do
    (folder / "folder.h5").mkdir()
    (folder / "text.h5").write_text("this is not HDF5\n")
    cases = {
        "missing": (folder / "missing.h5", "not found|no such file"),
        "directory": (folder / "folder.h5", "directory|not a file|no .h5 files"),
        "not_hdf5": (folder / "text.h5", "not an HDF5 file"),
        "truncated_header": (_truncated(folder / "cut_head.h5", good, 1000), "truncated or corrupt"),
        "truncated_data": (_truncated(folder / "cut_data.h5", good, good.stat().st_size // 2), "truncated or corrupt"),
        "no_kspace": (_write_h5(folder / "nokspace.h5", reconstruction_rss=target), "no k-space dataset"),
        "wrong_rank": (_write_h5(folder / "rank2.h5", kspace=kspace[0, 0], reconstruction_rss=target),
                       r"must be \(slices, coils, H, W\) or \(slices, H, W\), got \(32, 24\)"),
        "real_valued": (_write_h5(folder / "real.h5", kspace=kspace.real, reconstruction_rss=target),
                        "must be complex, got dtype float32"),
        "nan": (write_volume(folder / "nan.h5", _kspace_with(np.nan), target=target), "slice 1 .*NaN or Inf"),
        "inf": (write_volume(folder / "inf.h5", _kspace_with(np.inf), target=target), "slice 1 .*NaN or Inf"),
        "mask_length": (_write_h5(folder / "mask.h5", kspace=kspace, reconstruction_rss=target, mask=np.ones(WIDTH + 3)),
                        f"'mask' must be 1-D with W={WIDTH} columns"),
    }
    good.unlink()
    return cases


@pytest.fixture(scope="module")
def kspace_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return make_kspace_cases(tmp_path_factory.mktemp("bad_kspace"))


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_train_file(tmp_path_factory.mktemp("good") / "good.h5", slices=SLICES, coils=COILS,
                            height=HEIGHT, width=WIDTH)


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit 2; the error is stderr's last line, the only one that says error, and it matches every
    needle (regexes); no traceback. (Lines before it may report progress, e.g. "benchmarking ...".)"""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert lines and lines[-1].startswith("kspacekit: error: "), err
    assert sum("error" in line.lower() for line in lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert re.search(needle, lines[-1]), (needle, lines[-1])


def assert_nothing_written(out: Path) -> None:
    """The output does not exist, or is an empty folder (created but never filled)."""
    assert not out.exists() or (out.is_dir() and not any(out.rglob("*"))), sorted(out.rglob("*"))


# ---- commands that read k-space -------------------------------------------------------------

TINY_UNET = ["--model-option", "chans=2", "--model-option", "num_pool_layers=1"]


def reconstruct_args(data: Path, out: Path) -> list:
    return ["reconstruct", "-i", data, "-o", out]


def benchmark_args(data: Path, out: Path) -> list:
    return ["benchmark", "--data", data, "-o", out, "--methods", "zero-filled", "--accelerations", "4",
            "--device", "cpu"]


def train_args(data: Path, out: Path) -> list:
    """``train`` takes folders: a missing path as it is, any other file alone in a folder."""
    if data.exists() and data.is_file():
        folder = out.parent / f"train_{data.stem}"
        folder.mkdir(exist_ok=True)
        link = folder / data.name
        if not link.exists():
            link.symlink_to(data)
        data = folder
    return ["train", "--model", "unet", *TINY_UNET, "--train", data, "-o", out, "--epochs", "1",
            "--device", "cpu", "--no-tensorboard", "--no-progress"]


KSPACE_COMMANDS: dict[str, Callable[[Path, Path], list]] = {
    "reconstruct": reconstruct_args,
    "benchmark": benchmark_args,
    "train": train_args,
}

KSPACE_CASE_NAMES = ["missing", "directory", "not_hdf5", "truncated_header", "truncated_data", "no_kspace",
                     "wrong_rank", "real_valued", "nan", "inf", "mask_length"]


@pytest.mark.parametrize("case", KSPACE_CASE_NAMES)
@pytest.mark.parametrize("command", sorted(KSPACE_COMMANDS))
def test_broken_kspace_file(command, case, kspace_cases, tmp_path, monkeypatch, capsys):
    path, problem = kspace_cases[case]
    out = tmp_path / "out"
    code, _, err = run_main(KSPACE_COMMANDS[command](path, out), monkeypatch, capsys)
    assert_one_line_error(code, err, problem, path.name)
    assert_nothing_written(out)


def test_error_in_a_dataloader_worker_is_one_line(kspace_cases, tmp_path, monkeypatch, capsys):
    """torch re-raises a worker's exception with the worker's traceback as its message; training
    hands the error over as a value instead, so the user still sees one line."""
    path, problem = kspace_cases["nan"]
    out = tmp_path / "out"
    code, _, err = run_main([*train_args(path, out), "--num-workers", "1"], monkeypatch, capsys)
    assert_one_line_error(code, err, problem, path.name)
    assert_nothing_written(out)


# ---- convert: raw k-space in, fastMRI file out ----------------------------------------------


@pytest.fixture(scope="module")
def raw_cases(tmp_path_factory: pytest.TempPathFactory, kspace_cases) -> dict[str, tuple[Path, str]]:
    """Broken raw k-space for ``convert`` (.npy arrays and HDF5 that should be ISMRMRD)."""
    folder = tmp_path_factory.mktemp("bad_raw")
    kspace = synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH)  # (slices, coils, H, W)
    good = folder / "good.npy"
    np.save(good, kspace)
    (folder / "folder.npy").mkdir()
    np.save(folder / "rank1.npy", kspace.ravel())
    np.save(folder / "real.npy", kspace.real)
    np.save(folder / "zeros.npy", np.zeros_like(kspace))
    nan = kspace.copy()
    nan[0, 0, 1, 1] = np.nan
    np.save(folder / "nan.npy", nan)
    return {
        "missing": (folder / "missing.npy", "no such file"),
        "directory": (folder / "folder.npy", "not a readable .npy file|directory"),
        "not_hdf5": kspace_cases["not_hdf5"],
        "truncated_hdf5": kspace_cases["truncated_header"],
        "truncated_npy": (_truncated(folder / "cut.npy", good, good.stat().st_size // 2), "not a readable .npy file"),
        "no_kspace": (kspace_cases["no_kspace"][0], "not an ISMRMRD file"),
        "wrong_rank": (folder / "rank1.npy", "rank|dimension|axes|shape"),
        "real_valued": (folder / "real.npy", "must be complex"),
        "nan": (folder / "nan.npy", "NaN or Inf"),
        "all_zero": (folder / "zeros.npy", "all zero"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not_hdf5", "truncated_hdf5", "truncated_npy", "no_kspace",
                                  "wrong_rank", "real_valued", "nan", "all_zero"])
def test_convert_broken_input(case, raw_cases, tmp_path, monkeypatch, capsys):
    path, problem = raw_cases[case]
    out = tmp_path / "out" / "vol.h5"
    code, _, err = run_main(["convert", path, out], monkeypatch, capsys)
    assert_one_line_error(code, err, problem, path.name)
    assert_nothing_written(out.parent)


# ---- simulate: magnitude images in, a dataset out -------------------------------------------


@pytest.fixture(scope="module")
def source_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("bad_sources")
    image = np.abs(synthetic_kspace(1, 1, 48, 40)[0, 0]).astype(np.float32)
    good = folder / "good.npy"
    np.save(good, image)
    (folder / "folder.npy").mkdir()
    (folder / "text.npy").write_text("not an array\n")
    np.save(folder / "rank1.npy", image.ravel())
    np.save(folder / "zeros.npy", np.zeros_like(image))
    nan = image.copy()
    nan[3, 3] = np.nan
    np.save(folder / "nan.npy", nan)
    return {
        "missing": (folder / "missing.npy", "no such file"),
        "directory": (folder / "folder.npy", "is a directory"),
        "not_an_image": (folder / "text.npy", "cannot read image"),
        "truncated": (_truncated(folder / "cut.npy", good, good.stat().st_size // 2), "cannot read image"),
        "wrong_rank": (folder / "rank1.npy", "must be 2-D or 3-D"),
        "nan": (folder / "nan.npy", "NaN or Inf"),
        "all_zero": (folder / "zeros.npy", "all zero"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not_an_image", "truncated", "wrong_rank", "nan", "all_zero"])
def test_simulate_broken_source(case, source_cases, tmp_path, monkeypatch, capsys):
    path, problem = source_cases[case]
    out = tmp_path / "out"
    code, _, err = run_main(["simulate", "--source", path, "-o", out, "--coils", "2", "--shape", "32", "32"],
                            monkeypatch, capsys)
    assert_one_line_error(code, err, problem, path.name)
    assert_nothing_written(out)


# ---- export and evaluate: image volumes in --------------------------------------------------


@pytest.fixture(scope="module")
def image_cases(tmp_path_factory: pytest.TempPathFactory, kspace_cases) -> dict[str, tuple[Path, str]]:
    """Broken reconstruction / target files (dataset ``reconstruction_rss``, as targets have)."""
    folder = tmp_path_factory.mktemp("bad_images")
    image = np.abs(synthetic_kspace(SLICES, 1, HEIGHT, WIDTH)[:, 0]).astype(np.float32)
    good = _write_h5(folder / "good.h5", reconstruction_rss=image)
    nan = image.copy()
    nan[1, 2, 2] = np.nan
    (folder / "folder.h5").mkdir()
    cases = {
        "missing": (folder / "missing.h5", "not found|no such file"),
        "directory": (folder / "folder.h5", "directory|not a file"),
        "not_hdf5": kspace_cases["not_hdf5"],
        "truncated": (_truncated(folder / "cut.h5", good, 1000), "truncated"),
        "no_image": (kspace_cases["real_valued"][0].parent / "kspace_only.h5", "no image dataset|reconstruction"),
        "wrong_rank": (_write_h5(folder / "rank2.h5", reconstruction_rss=image[0]), r"\(slices, (rows, cols|H, W)\)"),
        "complex": (_write_h5(folder / "complex.h5", reconstruction_rss=image.astype(np.complex64)), "complex|real"),
        "nan": (_write_h5(folder / "nan.h5", reconstruction_rss=nan), "NaN or Inf"),
    }
    _write_h5(cases["no_image"][0], kspace=synthetic_kspace(SLICES, COILS, HEIGHT, WIDTH))
    good.unlink()
    return cases


IMAGE_CASE_NAMES = ["missing", "directory", "not_hdf5", "truncated", "no_image", "wrong_rank", "complex", "nan"]


@pytest.mark.parametrize("case", IMAGE_CASE_NAMES)
def test_export_broken_input(case, image_cases, tmp_path, monkeypatch, capsys):
    path, problem = image_cases[case]
    out = tmp_path / "out" / "volume.nii.gz"
    code, _, err = run_main(["export", path, out], monkeypatch, capsys)
    assert_one_line_error(code, err, problem, path.name)
    assert_nothing_written(out.parent)


@pytest.mark.parametrize("case", [c for c in IMAGE_CASE_NAMES if c not in ("missing", "directory")])
def test_evaluate_broken_target(case, image_cases, tmp_path, monkeypatch, capsys):
    """A target that cannot be read stops evaluate (exit 2, nothing written): scores without
    their ground truth would be meaningless."""
    path, problem = image_cases[case]
    targets, predictions = tmp_path / "targets", tmp_path / "predictions"
    targets.mkdir()
    (targets / "vol.h5").symlink_to(path)
    write_submission(predictions, "vol.h5", np.ones((SLICES, HEIGHT, WIDTH), np.float32))
    out = tmp_path / "out" / "metrics.json"
    code, _, err = run_main(["evaluate", "--target", targets, "--predictions", predictions, "--json", out],
                            monkeypatch, capsys)
    assert_one_line_error(code, err, problem, "vol.h5")
    assert_nothing_written(out.parent)


# ---- bad options ----------------------------------------------------------------------------

BAD_OPTIONS = {
    "acceleration_below_1": ("--acceleration", "0.5", "acceleration must be a finite number >= 1"),
    "center_fraction_0": ("--center-fraction", "0", "strictly between 0 and 1"),
    "center_fraction_1.5": ("--center-fraction", "1.5", "strictly between 0 and 1"),
    "center_fraction_negative": ("--center-fraction", "-0.1", "strictly between 0 and 1"),
    "unknown_method": ("--method", "nonsense", "unknown method 'nonsense'"),
    "unknown_mask": ("--mask", "spiral", "unknown mask kind 'spiral'"),
}
OPTION_NAMES = {  # the spelling of each option per command
    "reconstruct": {},
    "benchmark": {"--acceleration": "--accelerations", "--method": "--methods"},
    "train": {"--method": "--model"},
}


@pytest.mark.parametrize("option", sorted(BAD_OPTIONS))
@pytest.mark.parametrize("command", sorted(KSPACE_COMMANDS))
def test_bad_option(command, option, good_file, tmp_path, monkeypatch, capsys):
    """Refused before any work: nothing written, the option named."""
    name, value, problem = BAD_OPTIONS[option]
    name = OPTION_NAMES[command].get(name, name)
    args = KSPACE_COMMANDS[command](good_file, tmp_path / "out")
    if name in args:  # replace the default the helper gives (benchmark: --methods zero-filled)
        args[args.index(name) + 1] = value
    else:
        args += [name, value]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_line_error(code, err, problem if name != "--model" else "unknown model|--model")
    assert_nothing_written(tmp_path / "out")


# ---- outputs that cannot be written ---------------------------------------------------------


def output_cases(tmp: Path, good_file: Path, image_file: Path) -> dict[str, tuple[list, Path]]:
    """command -> (args with OUT for the output, and where its output goes)."""
    npy = tmp / "kspace.npy"
    np.save(npy, synthetic_kspace(1, COILS, HEIGHT, WIDTH))
    targets, predictions = tmp / "targets", tmp / "predictions"
    targets.mkdir()
    (targets / "vol.h5").symlink_to(image_file)
    write_submission(predictions, "vol.h5", np.ones((SLICES, HEIGHT, WIDTH), np.float32))
    return {
        "reconstruct": reconstruct_args(good_file, Path("OUT")),
        "benchmark": benchmark_args(good_file, Path("OUT")),
        "train": train_args(good_file, tmp / "unused"),
        "convert": ["convert", npy, "OUT"],
        "simulate_phantom": ["simulate", "--phantom", "shepp-logan", "--shape", "32", "32", "--coils", "2", "-o", "OUT"],
        "export_nifti": ["export", image_file, "OUT"],
        "export_png": ["export", "-f", "png", image_file, "OUT"],
        "evaluate_json": ["evaluate", "--target", targets, "--predictions", predictions, "--json", "OUT"],
    }


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = np.abs(synthetic_kspace(SLICES, 1, HEIGHT, WIDTH)[:, 0]).astype(np.float32)
    return _write_h5(tmp_path_factory.mktemp("image") / "image.h5", reconstruction_rss=image)


OUTPUT_COMMANDS = ["reconstruct", "benchmark", "train", "convert", "simulate_phantom", "export_nifti", "export_png",
                   "evaluate_json"]
FOLDER_OUTPUTS = {"reconstruct", "benchmark", "train", "export_png"}


@pytest.mark.parametrize("where", ["under_a_file", "wrong_kind"])
@pytest.mark.parametrize("command", OUTPUT_COMMANDS)
def test_output_that_cannot_be_written(command, where, good_file, image_file, tmp_path, monkeypatch, capsys):
    """An output below a regular file (unwritable even for root), or a file where a folder belongs
    (and a folder where a file belongs): exit 2, the output named, nothing changed."""
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    if where == "under_a_file":
        out = blocker / "out" if command in FOLDER_OUTPUTS else blocker / "out.nii.gz"
        if command in ("convert", "simulate_phantom"):
            out = blocker / "out.h5"
        if command == "evaluate_json":
            out = blocker / "out.json"
    elif command in FOLDER_OUTPUTS:
        out = blocker  # a file where the output folder belongs
    else:
        out = tmp_path / ("folder.nii.gz" if command.startswith("export") else "folder.h5")
        if command == "evaluate_json":
            out = tmp_path / "folder.json"
        (out / "inner").mkdir(parents=True)
    args = [out if a == Path("OUT") or a == "OUT" else a for a in output_cases(tmp_path, good_file, image_file)[command]]
    if command == "train":
        args[args.index("-o") + 1] = out
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_line_error(code, err, re.escape(str(out if where == "wrong_kind" else blocker)))
    assert blocker.read_text() == "keep me"
    if where == "wrong_kind" and command not in FOLDER_OUTPUTS:
        assert [p.name for p in out.iterdir()] == ["inner"]


# ---- all-zero k-space -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def zero_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fully sampled file whose k-space (and so its target) is all zero; 64 columns, so that
    15 % centre lines are enough for every classical method's calibration."""
    folder = tmp_path_factory.mktemp("zero")
    write_volume(folder / "zero.h5", np.zeros((2, 4, 64, 64), np.complex64), target=np.zeros((2, 64, 64), np.float32))
    return folder


@pytest.mark.parametrize("method", ["zero-filled", "sense", "grappa", "tv", "wavelet"])
def test_all_zero_kspace_reconstructs_to_a_zero_image(method, zero_folder, tmp_path, monkeypatch, capsys):
    """Defined behaviour: no signal in, an all-zero image out (every method is scale-equivariant,
    so zero is the limit of its output), never NaN."""
    out = tmp_path / "out"
    args = ["reconstruct", "-i", zero_folder / "zero.h5", "-o", out, "--method", method, "--center-fraction", "0.15",
            "--device", "cpu"]
    code, _, err = run_main(args + (["--iterations", "3"] if method != "zero-filled" else []), monkeypatch, capsys)
    assert code == 0, err
    with h5py.File(out / "zero.h5", "r") as f:
        image = f["reconstruction"][()]
    assert image.shape == (2, 64, 64) and np.array_equal(image, np.zeros_like(image))


@pytest.mark.parametrize("command", ["benchmark", "train", "evaluate"])
def test_all_zero_target_cannot_be_scored(command, zero_folder, tmp_path, monkeypatch, capsys):
    """PSNR and SSIM take their data range from the target's maximum: a zero target is refused
    with a clear error before any work, not a NaN score or a crash after an epoch."""
    out = tmp_path / "out"
    args = {
        "benchmark": benchmark_args(zero_folder, out),
        "train": [*train_args(zero_folder, out), "--val", zero_folder],
        "evaluate": ["evaluate", "--target", zero_folder, "--predictions", zero_folder, "--json", out / "m.json"],
    }[command]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert_one_line_error(code, err, "zero.h5", "all zero|no positive value")
    assert_nothing_written(out)


@pytest.mark.parametrize("fmt", ["nifti", "dicom", "png"])
def test_all_zero_image_exports_as_black(fmt, tmp_path, monkeypatch, capsys):
    path = write_submission(tmp_path, "zero.h5", np.zeros((2, 16, 12), np.float32))
    out = tmp_path / ("zero.nii" if fmt == "nifti" else "zero")
    code, _, err = run_main(["export", "-f", fmt, path, out], monkeypatch, capsys)
    assert code == 0, err
    if fmt == "png":
        from PIL import Image

        assert all(np.asarray(Image.open(p)).max() == 0 for p in out.iterdir())


# ---- method options -------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "method", "option"), [
    ("reconstruct", "zero-filled", ["--lam", "0.1"]),
    ("reconstruct", "zero-filled", ["--iterations", "3"]),
    ("reconstruct", "tv", ["--checkpoint", "weights.pt"]),
    ("reconstruct", "wavelet", ["--checkpoint", "weights.pt"]),  # its options pass through **kwargs
    ("reconstruct", "unet", ["--lam", "0.1"]),
    ("benchmark", "sense", ["--checkpoint", "sense=weights.pt"]),
])
def test_option_the_method_does_not_take(command, method, option, good_file, tmp_path, monkeypatch, capsys):
    """An option the method has no use for is refused before any work (not a TypeError traceback)."""
    out = tmp_path / "out"
    args = KSPACE_COMMANDS[command](good_file, out)
    if command == "reconstruct":
        args += ["--method", method]
    else:
        args[args.index("--methods") + 1] = f"zero-filled,{method}"
    code, _, err = run_main([*args, *option], monkeypatch, capsys)
    name = option[0].removeprefix("--")
    assert_one_line_error(code, err, f"method '{method}' does not take {name}")
    assert_nothing_written(out)


# ---- a folder with bad files among good ones ------------------------------------------------

FOLDER_BAD_CASES = ["not_hdf5", "truncated_data", "no_kspace", "nan"]


@pytest.fixture
def mixed_folder(kspace_cases, tmp_path) -> Path:
    """Two good volumes and one link to each bad kind of file in FOLDER_BAD_CASES."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("good_a.h5", "good_b.h5"):
        write_train_file(folder / name, slices=SLICES, coils=COILS, height=HEIGHT, width=WIDTH)
    for case in FOLDER_BAD_CASES:
        (folder / kspace_cases[case][0].name).symlink_to(kspace_cases[case][0])
    return folder


def test_reconstruct_folder_processes_the_good_files_and_reports_the_bad(mixed_folder, kspace_cases, tmp_path,
                                                                          monkeypatch, capsys):
    """Exit 1: every good volume written, every bad one named on its own "failed:" line with its
    problem, no output (not even a partial one) for the bad ones."""
    out = tmp_path / "out"
    code, _, err = run_main(reconstruct_args(mixed_folder, out), monkeypatch, capsys)
    assert code == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in out.iterdir()) == ["good_a.h5", "good_b.h5"]
    failed = [line for line in err.splitlines() if line.startswith("kspacekit: failed: ")]
    assert len(failed) == len(FOLDER_BAD_CASES), err
    for case in FOLDER_BAD_CASES:
        path, problem = kspace_cases[case]
        assert any(path.name in line and re.search(problem, line) for line in failed), (case, err)
    assert re.search(r"wrote 2 of 6 volumes", err), err


@pytest.mark.parametrize("command", ["benchmark", "train"])
def test_folder_with_a_bad_file_stops_benchmark_and_train(command, mixed_folder, tmp_path, monkeypatch, capsys):
    """Benchmark scores and training runs over a silently shrunken dataset would mislead, so these
    two inspect every file first and stop at the first bad one: exit 2, the file named, no output."""
    out = tmp_path / "out"
    args = KSPACE_COMMANDS[command](mixed_folder, out)
    code, _, err = run_main(args, monkeypatch, capsys)
    bad_names = "|".join(re.escape(p.name) for p in mixed_folder.iterdir() if not p.name.startswith("good"))
    assert_one_line_error(code, err, bad_names)
    assert_nothing_written(out)


# ---- output names derived from input names --------------------------------------------------


@pytest.mark.parametrize("name", ["../escaped.h5", "/tmp/escaped.h5", "sub/escaped.h5", "..", ".", ""])
def test_output_names_cannot_leave_the_output_folder(name, tmp_path):
    from kspacekit.errors import KspaceKitError
    from kspacekit.outputs import output_path_for

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KspaceKitError, match="unsafe output name"):
        output_path_for(out, name)
    with pytest.raises(KspaceKitError, match="unsafe output name"):
        write_submission(out, name, np.ones((1, 8, 8), np.float32))
    assert not list(tmp_path.rglob("escaped.h5"))


def test_output_name_that_is_a_link_out_of_the_folder_is_refused(good_file, tmp_path, monkeypatch, capsys):
    """A link planted in the output folder under an input's name must not redirect the write,
    even with --overwrite: the file it points to stays as it was."""
    outside = tmp_path / "precious.h5"
    outside.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / good_file.name).symlink_to(outside)
    code, _, err = run_main([*reconstruct_args(good_file, out), "--overwrite"], monkeypatch, capsys)
    assert_one_line_error(code, err, "unsafe output name", re.escape(good_file.name))
    assert outside.read_text() == "keep me"
