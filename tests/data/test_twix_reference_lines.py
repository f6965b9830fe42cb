"""Siemens twix scans with parallel-imaging (GRAPPA) reference lines, issue #15 item 5.

``kspacekit convert`` puts image and reference (``PATREFSCAN``) readouts at their line counters,
reference lines only where no image line was measured, and records the line mask, so a GRAPPA
scan reconstructs without hand work. The synthetic tests build the records the reader consumes
(twixtools ``Mdb_local`` objects with real MDH flags and counters) and hand them to the real
``convert`` through ``twixtools.read_twix``; the real-data test writes a derived twix file.
ISMRMRD calibration-only acquisitions take the same path.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import run_main, synthetic_kspace

from kspacekit.evaluation.metrics import psnr
from kspacekit.physics.fft import ifft2c, rss

twixtools = pytest.importorskip("twixtools")

SLICES, COILS, SAMPLES, LINES = 2, 8, 64, 48
CENTRE_LINE, CENTRE_SAMPLE = LINES // 2, SAMPLES // 2
R = 3
REFERENCE = range(CENTRE_LINE - 8, CENTRE_LINE + 8)  # 16 calibration lines
IMAGE = range(0, LINES, R)  # includes the centre line
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kspace"


def record(data: np.ndarray, line: int, slice_: int = 0, flags: tuple[str, ...] = (),
           centre: tuple[int, int] = (CENTRE_LINE, CENTRE_SAMPLE)) -> object:
    """One twix readout (MDB) of (coils, samples) data with its counters and flags."""
    mdb = twixtools.mdb.Mdb_local(data.astype(np.complex64))
    mdb.mdh.Counter.Lin, mdb.mdh.Counter.Sli = line, slice_
    mdb.mdh.CenterLin, mdb.mdh.CenterCol = centre
    for flag in flags:
        mdb.add_flag(flag)
    return mdb


def grappa_records(full: np.ndarray, mode: str, reference: np.ndarray) -> list:
    """Readouts of an R=3 GRAPPA scan of ``full`` (slices, coils, samples, lines).

    ``integrated``: image lines inside the calibration block are flagged PATREFSCAN and
    PATREFANDIMASCAN, the block's other lines PATREFSCAN alone. ``separate``: every block line is
    acquired again as a PATREFSCAN readout (data from ``reference``), before the image lines.
    """
    records = []
    for slice_ in range(full.shape[0]):
        if mode == "separate":
            records += [record(reference[slice_, :, :, line], line, slice_, ("PATREFSCAN",)) for line in REFERENCE]
        for line in range(LINES):
            in_block = mode == "integrated" and line in REFERENCE
            if line in IMAGE:
                flags = ("PATREFSCAN", "PATREFANDIMASCAN") if in_block else ()
                records.append(record(full[slice_, :, :, line], line, slice_, flags))
            elif in_block:
                records.append(record(reference[slice_, :, :, line], line, slice_, ("PATREFSCAN",)))
    records.append(record(np.zeros((COILS, SAMPLES)), 0, 0, ("PHASCOR",)))  # not k-space of the image
    return records


def fake_twix(monkeypatch: pytest.MonkeyPatch, folder: Path, records: list) -> Path:
    """A .dat path whose twixtools reading yields ``records`` as the last measurement."""
    path = folder / "scan.dat"
    path.write_bytes(b"")
    monkeypatch.setattr(twixtools, "read_twix", lambda *args, **kwargs: [{"mdb": records, "hdr": {}}])
    return path


@pytest.fixture(scope="module")
def source() -> tuple[np.ndarray, np.ndarray]:
    """Fully sampled k-space and a second, noisier acquisition of it (a separate reference scan)."""
    full = synthetic_kspace(SLICES, COILS, SAMPLES, LINES, seed=31)
    noise = np.random.default_rng(4).standard_normal((2, *full.shape)) * 0.01 * np.abs(full).mean()
    return full, (full + noise[0] + 1j * noise[1]).astype(np.complex64)


@pytest.mark.parametrize("mode", ["integrated", "separate"])
def test_grappa_scan_converts_to_its_lines_and_reconstructs(source, mode, tmp_path, monkeypatch, capsys):
    full, reference = source
    path = fake_twix(monkeypatch, tmp_path, grappa_records(full, mode, reference))
    code, _, err = run_main(["convert", path, tmp_path / "scan.h5"], monkeypatch, capsys)
    assert code == 0, err
    sampled = np.zeros(LINES, bool)
    sampled[list(IMAGE)] = sampled[list(REFERENCE)] = True
    expected = np.where(np.isin(np.arange(LINES), IMAGE), full, reference) * sampled  # image lines win
    with h5py.File(tmp_path / "scan.h5") as f:
        np.testing.assert_array_equal(f["kspace"][()], expected)
        np.testing.assert_array_equal(f["mask"][()] != 0, sampled)
        assert f.attrs["num_low_frequency"] == len(REFERENCE) + 1  # the block and image line 15 beside it
        assert f.attrs["acceleration"] == pytest.approx(LINES / sampled.sum())
    code, _, err = run_main(["reconstruct", "-i", tmp_path / "scan.h5", "-o", tmp_path / "rec", "--method", "grappa",
                             "--device", "cpu"], monkeypatch, capsys)
    assert code == 0, err
    with h5py.File(tmp_path / "rec" / "scan.h5") as f:
        image = f["reconstruction"][()]
    truth = rss(ifft2c(torch.from_numpy(full)), dim=1).numpy()
    zero_filled = rss(ifft2c(torch.from_numpy(expected)), dim=1).numpy()
    maxval = float(truth.max())
    assert psnr(truth, image, maxval) > psnr(truth, zero_filled, maxval) + 5


def shifted(mdb: object, **counters: int) -> object:
    for name, value in counters.items():
        setattr(mdb.mdh.Counter if name in ("Lin", "Sli", "Par") else mdb.mdh, name, value)
    return mdb


BAD = {
    "centre": (lambda r: r + [shifted(record(np.ones((COILS, SAMPLES)), 20, 0, ("PATREFSCAN",)), CenterLin=25)],
               "disagree on the k-space centre"),
    "orphan slice": (lambda r: r + [record(np.ones((COILS, SAMPLES)), 20, 7, ("PATREFSCAN",))],
                     "reference lines for slices [7] that have no image lines"),
    "length": (lambda r: r + [record(np.ones((COILS, SAMPLES // 2)), 20, 0, ("PATREFSCAN",))], "differ in shape"),
    "partition": (lambda r: r + [shifted(record(np.ones((COILS, SAMPLES)), 20, 0, ("PATREFSCAN",)), Par=1)],
                  "more than one partitions"),
    "reference only": (lambda r: [m for m in r if m.is_flag_set("PATREFSCAN") and not m.is_flag_set("PATREFANDIMASCAN")],
                       "no image readouts"),
}


@pytest.mark.parametrize("case", BAD)
def test_inconsistent_counters_are_one_line_errors(source, case, tmp_path, monkeypatch, capsys):
    full, reference = source
    change, problem = BAD[case]
    path = fake_twix(monkeypatch, tmp_path, change(grappa_records(full, "separate", reference)))
    code, _, err = run_main(["convert", path, tmp_path / "out" / "scan.h5"], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and problem in err, err
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no partial output


@pytest.mark.skipif(not (DATA / "twixtools_gre_phantom_2ch.dat").exists(), reason="../shared/data absent")
@pytest.mark.parametrize("mode", ["integrated", "separate"])
def test_grappa_file_derived_from_the_real_twix_phantom(mode, tmp_path, monkeypatch, capsys):
    """A GRAPPA-like twix file derived from the real, fully sampled phantom scan (160 lines).

    Derivation: read the phantom with ``twixtools.read_twix``, turn its MDBs into ``Mdb_local``
    copies, keep every 2nd line (counter even) as image lines and the 24 lines around the centre
    line (CenterLin 80) as reference lines: ``integrated``: the kept centre lines get PATREFSCAN +
    PATREFANDIMASCAN, the dropped ones stay as PATREFSCAN-only readouts; ``separate``: the 24
    centre lines are copied as PATREFSCAN-only readouts placed before the image lines, whose odd
    centre lines are dropped. ``twixtools.write_twix`` writes the measurement (its header
    unchanged) as a real .dat file, which ``kspacekit convert`` then reads like any scan.
    """
    source = DATA / "twixtools_gre_phantom_2ch.dat"
    measurement = twixtools.read_twix(str(source), verbose=False, parse_pmu=False, parse_geometry=False)[-1]
    readouts = [mdb.convert_to_local() for mdb in measurement["mdb"] if mdb.is_image_scan()]
    centre = readouts[0].mdh.CenterLin
    block = range(centre - 12, centre + 12)
    kept = []
    if mode == "separate":
        kept += [mdb.convert_to_local() for mdb in measurement["mdb"] if mdb.is_image_scan() and mdb.cLin in block]
        for mdb in kept:
            mdb.add_flag("PATREFSCAN")
    for mdb in readouts:
        if mdb.cLin % 2 == 0:
            if mode == "integrated" and mdb.cLin in block:
                mdb.add_flag("PATREFSCAN")
                mdb.add_flag("PATREFANDIMASCAN")
            kept.append(mdb)
        elif mode == "integrated" and mdb.cLin in block:
            mdb.add_flag("PATREFSCAN")
            kept.append(mdb)
    derived = tmp_path / "phantom_grappa.dat"
    with contextlib.redirect_stdout(io.StringIO()):  # write_twix prints that it adds the ACQEND readout
        twixtools.write_twix({**measurement, "mdb": kept}, str(derived))

    for name, path in (("full", source), ("grappa", derived)):
        code, _, err = run_main(["convert", path, tmp_path / f"{name}.h5", "--remove-oversampling"], monkeypatch, capsys)
        assert code == 0, err
    with h5py.File(tmp_path / "full.h5") as f:
        full, truth = f["kspace"][()], f["reconstruction_rss"][()]
    sampled = np.zeros(full.shape[-1], bool)
    sampled[::2] = sampled[list(block)] = True
    with h5py.File(tmp_path / "grappa.h5") as f:
        np.testing.assert_array_equal(f["mask"][()] != 0, sampled)
        assert f.attrs["num_low_frequency"] == len(block) + 1  # the block and the image line after it
        np.testing.assert_array_equal(f["kspace"][()], full * sampled)  # every line from its own readout
    zero_filled = rss(ifft2c(torch.from_numpy(full * sampled)), dim=1).numpy()
    maxval = float(truth.max())
    for method in ("grappa", "tv"):
        code, _, err = run_main(["reconstruct", "-i", tmp_path / "grappa.h5", "-o", tmp_path / method, "--method", method,
                                 "--device", "cpu"], monkeypatch, capsys)
        assert code == 0, err
        with h5py.File(tmp_path / method / "grappa.h5") as f:
            image = f["reconstruction"][()]
        assert image.shape == truth.shape and np.isfinite(image).all()
    # Two body-coil channels are too few for GRAPPA (or SENSE) at R=2: about 17 dB against the
    # zero-filled 25 dB, the same with a retrospective mask; tv shows the file's samples suffice.
    assert psnr(truth, image, maxval) > psnr(truth, zero_filled, maxval) + 2


def test_ismrmrd_calibration_lines_are_placed_the_same_way(source, tmp_path):
    """ISMRMRD's ACQ_IS_PARALLEL_CALIBRATION acquisitions are the twix PATREFSCAN readouts: they fill
    the calibration block where no image line was measured (repeated image lines keep the image data)."""
    import ismrmrd

    from kspacekit.data.header import make_ismrmrd_header
    from kspacekit.data.raw import read_raw

    full, reference = source
    with ismrmrd.Dataset(str(tmp_path / "scan.h5"), "dataset", create_if_needed=True) as dataset:
        dataset.write_xml_header(make_ismrmrd_header((SAMPLES, LINES, 1), (SAMPLES, LINES, 1)))
        for slice_ in range(SLICES):
            lines = [(line, reference, True) for line in REFERENCE] + [(line, full, False) for line in IMAGE]
            for line, data, calibration in lines:
                acq = ismrmrd.Acquisition.from_array(data[slice_, :, :, line], center_sample=CENTRE_SAMPLE)
                acq.idx.kspace_encode_step_1, acq.idx.slice = line, slice_
                if calibration:
                    acq.set_flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
                dataset.append_acquisition(acq)
    sampled = np.isin(np.arange(LINES), IMAGE) | np.isin(np.arange(LINES), REFERENCE)
    expected = np.where(np.isin(np.arange(LINES), IMAGE), full, reference) * sampled
    np.testing.assert_array_equal(read_raw(tmp_path / "scan.h5"), expected)
