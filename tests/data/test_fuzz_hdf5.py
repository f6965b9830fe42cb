"""Fuzzing the HDF5 readers: random bytes, truncated and bit-flipped fastMRI files, and well-formed
HDF5 with wrong dtypes, shapes and attributes. Reading may succeed or raise KspaceKitError (the
one-line error the CLI reports); any other exception, or a read that hangs, fails the test.

Covered: kspacekit.data (inspect_volume, read_slice, iter_volume_batches, SliceDataset), the
image reader of export/show, the ISMRMRD and MATLAB v7.3 readers of convert, evaluate's reader,
and `kspacekit reconstruct` / `kspacekit show` in this process.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import run_main, synthetic_kspace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kspacekit.data import (
    SliceDataset,
    inspect_volume,
    iter_volume_batches,
    read_slice,
    write_submission,
    write_volume,
)
from kspacekit.data.export import read_image_volume
from kspacekit.data.raw import read_raw
from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.evaluate import evaluate_folders

SECONDS_PER_FILE = 10  # far above a normal read of these tiny files (~10 ms): only a hang trips it
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""
    def expire(signum, frame):
        raise TimeoutError(f"reading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_everything(path: Path) -> None:
    """Every reading path of kspacekit.data and export over ``path``; only KspaceKitError may escape."""
    with time_limit(SECONDS_PER_FILE):
        for read in (_read_kspace, _read_dataset, read_image_volume, read_raw, _read_raw_mat):
            try:
                read(path)
            except KspaceKitError as err:
                assert "\n" not in str(err) and str(err).startswith(str(path.with_suffix(""))), str(err)


def _read_kspace(path: Path) -> None:
    info = inspect_volume(path)
    for key in info.kspace_keys:
        read_slice(info, info.num_slices - 1, key)
        for _ in iter_volume_batches(info, 2, key):
            pass


def _read_raw_mat(path: Path) -> None:
    """``convert``'s MATLAB v7.3 reader (an HDF5 file named .mat); its errors name the .mat copy."""
    mat = path.with_suffix(".mat")
    shutil.copyfile(path, mat)
    read_raw(mat)


def _read_dataset(path: Path) -> None:
    dataset = SliceDataset([path])
    if len(dataset):
        dataset[0]


@pytest.fixture(scope="module")
def real_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a fastMRI-like test-format file: k-space, 1-D mask, target, header and attrs."""
    path = tmp_path_factory.mktemp("real") / "file.h5"
    kspace = synthetic_kspace(2, 3, 16, 12)
    mask = np.zeros(12, np.float32)
    mask[::2] = 1
    mask[5:7] = 1
    target = np.abs(kspace).sum(1).astype(np.float32)
    write_volume(path, kspace, target=target, mask=mask,
                 attrs={"acquisition": "CORPD_FBK", "acceleration": 2, "num_low_frequency": 2, "patient_id": "p"})
    return path.read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.h5"


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(data, scratch):
    scratch.write_bytes(data)
    read_everything(scratch)


@FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_truncated_real_file(fraction, real_file, scratch):
    scratch.write_bytes(real_file[: int(len(real_file) * fraction)])
    read_everything(scratch)


@settings(FUZZ, max_examples=150)
@given(flips=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flipped_real_file(flips, real_file, scratch):
    data = bytearray(real_file)
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    scratch.write_bytes(bytes(data))
    read_everything(scratch)


@settings(FUZZ, max_examples=60)
@given(flips=st.lists(st.integers(0, 2**31), min_size=1, max_size=4), start=st.integers(0, 1000))
def test_bit_flips_in_the_metadata(flips, start, real_file, scratch):
    """Flips concentrated in the first 2 KiB (superblock, object headers, B-trees), where HDF5's
    own parsing, not the array data, meets the damage."""
    data = bytearray(real_file)
    for flip in flips:
        position = (start + flip % 2048) % len(data)
        data[position] ^= 1 << (flip % 8)
    scratch.write_bytes(bytes(data))
    read_everything(scratch)


DTYPES = st.sampled_from([np.complex64, np.complex128, np.float32, np.float64, np.int16, np.uint8, np.bool_, "S4"])


def arrays(max_dims: int = 5) -> st.SearchStrategy[np.ndarray]:
    shapes = st.lists(st.integers(0, 5), min_size=0, max_size=max_dims)
    def build(shape: list[int], dtype: object, fill: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # NaN and Inf cast to integers: whatever numpy makes of them
            return np.full(shape, fill).astype(dtype)

    return st.builds(build, shapes, DTYPES, st.sampled_from([0, 1, -1, np.nan, np.inf]))


ATTRIBUTE_VALUES = st.one_of(st.integers(-10, 10), st.floats(allow_nan=True),
                             st.text(st.characters(blacklist_characters="\x00"), max_size=5),  # h5py cannot store NUL
                             st.booleans(), st.binary(max_size=5), st.lists(st.integers(0, 3), max_size=3).map(np.array))
HEADERS = st.one_of(st.binary(max_size=64), st.just(b"<ismrmrdHeader></ismrmrdHeader>"),
                    st.integers(0, 3).map(np.int32), st.just(np.zeros((2, 2))))


@settings(FUZZ, max_examples=120)
@given(
    datasets=st.dictionaries(
        st.sampled_from(["kspace", "kspace_4af", "kspace_8af", "mask", "mask_4af", "reconstruction_rss",
                         "reconstruction_esc", "reconstruction"]),
        arrays(), max_size=4,
    ),
    header=st.one_of(st.none(), HEADERS),
    attrs=st.dictionaries(st.sampled_from(["max", "norm", "acceleration", "num_low_frequency", "acquisition",
                                           "patient_id"]), ATTRIBUTE_VALUES, max_size=4),
    group=st.sampled_from([None, "kspace", "mask", "reconstruction_rss"]),
)
def test_wrong_dtypes_shapes_and_attributes(datasets, header, attrs, group, scratch):
    """Well-formed HDF5 holding the wrong things: odd dtypes and ranks, empty and non-finite
    arrays, a group where a dataset belongs, headers that are not XML, attributes of any type."""
    with h5py.File(scratch, "w") as f:
        for key, value in datasets.items():
            if key != group:
                f[key] = value
        if group is not None:
            f.create_group(group)
        if header is not None:
            f["ismrmrd_header"] = header
        f.attrs.update(attrs)
    read_everything(scratch)


@settings(FUZZ, max_examples=60)
@given(attrs=st.dictionaries(st.sampled_from(["max", "acceleration", "num_low_frequency", "patient_id"]),
                             ATTRIBUTE_VALUES, min_size=1, max_size=3))
def test_attributes_of_a_valid_file(attrs, real_file, scratch):
    """A sound file whose numeric attributes (read as numbers when slices are read) hold anything."""
    scratch.write_bytes(real_file)
    with h5py.File(scratch, "a") as f:
        f.attrs.update(attrs)
    read_everything(scratch)


@pytest.fixture(scope="module")
def evaluation_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    """A folder for evaluate's targets/ and predictions/, and the bytes of a good target and prediction."""
    root = tmp_path_factory.mktemp("evaluate")
    image = np.random.default_rng(0).random((2, 16, 16)).astype(np.float32) + 0.1
    target = write_volume(root / "target.h5", synthetic_kspace(2, 1, 16, 16)[:, 0], target=image,
                          target_key="reconstruction_rss")
    prediction = write_submission(root, "prediction.h5", 0.9 * image)
    return root, target.read_bytes(), prediction.read_bytes()


@settings(FUZZ, max_examples=60)
@given(damaged=st.sampled_from(["target", "prediction"]),
       flips=st.lists(st.integers(0, 2**31), min_size=1, max_size=4), start=st.integers(0, 1000))
def test_evaluate_with_a_bit_flipped_file(damaged, flips, start, evaluation_pair):
    """evaluate's own reader (targets stop the run, predictions are reported): success or KspaceKitError."""
    root, target, prediction = evaluation_pair
    data = bytearray(target if damaged == "target" else prediction)
    for flip in flips:
        data[(start + flip % 2048) % len(data)] ^= 1 << (flip % 8)
    for role, good in (("target", target), ("prediction", prediction)):
        (root / f"{role}s").mkdir(exist_ok=True)
        (root / f"{role}s" / "volume.h5").write_bytes(bytes(data) if role == damaged else good)
    with time_limit(SECONDS_PER_FILE), np.errstate(all="ignore"):  # garbage predictions may overflow
        try:
            evaluate_folders(root / "targets", root / "predictions")
        except KspaceKitError as err:
            assert "\n" not in str(err) and "volume.h5" in str(err), str(err)


@settings(FUZZ, max_examples=12)
@given(case=st.sampled_from(["bytes", "truncated", "flipped"]), seed=st.integers(0, 2**16))
def test_reconstruct_and_show_commands(case, seed, real_file, tmp_path_factory, monkeypatch, capsys):
    """The command line on damaged files: exit 0 (read fine), or 2 with one error line; never a traceback."""
    rng = np.random.default_rng(seed)
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "volume.h5"
    if case == "bytes":
        path.write_bytes(rng.bytes(int(rng.integers(0, 4096))))
    elif case == "truncated":
        path.write_bytes(real_file[: int(rng.integers(0, len(real_file)))])
    else:
        data = np.frombuffer(real_file, np.uint8).copy()
        positions = rng.integers(0, len(data), 4)
        data[positions] ^= (1 << rng.integers(0, 8, 4)).astype(np.uint8)
        path.write_bytes(data.tobytes())
    for args in (["reconstruct", "-i", path, "-o", folder / "out", "--device", "cpu"],
                 ["show", path, "-o", folder / "slice.png"]):
        with time_limit(SECONDS_PER_FILE):
            code, _, err = run_main(args, monkeypatch, capsys)
        assert code in (0, 2), err
        if code == 2:
            assert err.strip().splitlines()[-1].startswith(f"kspacekit: error: {path}"), err
        assert "Traceback" not in err
