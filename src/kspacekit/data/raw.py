"""Readers for raw k-space files, all returning one array layout: ``(slices, coils, H, W)``.

``H`` is the readout (frequency-encode) axis and ``W`` the phase-encode axis, the fastMRI layout
in which 1-D masks select columns. Supported inputs:

- BART ``.cfl``/``.hdr``: column-major complex64, dims on the ``.hdr``'s second line. Default
  axes: coils on dim 3, slices on dim 13 (BART's COIL_DIM and SLICE_DIM), the other two
  non-singleton dims in order (``READ``/``PHS1`` become ``H``/``W``).
- NumPy ``.npy`` / ``.npz``: C-order arrays; default ``(H, W)``, ``(coils, H, W)`` or
  ``(slices, coils, H, W)`` by rank.
- MATLAB ``.mat``: v5 (scipy.io) or v7.3 (HDF5, complex as a ``real``/``imag`` compound, read
  with h5py and transposed back to MATLAB's order). Default ``(H, W)``, ``(H, W, coils)`` or
  ``(H, W, coils, slices)``, the usual MATLAB convention.
- Siemens twix ``.dat`` (via ``twixtools``) and ISMRMRD ``.h5`` (via ``ismrmrd``): the file
  names its axes; lines are sorted into place by their phase-encode counters, repeated lines
  (averages) are averaged, lines flagged reversed are flipped, and noise, navigator and phase
  correction readouts are skipped. Parallel-imaging reference lines (twix ``PATREFSCAN``,
  ISMRMRD ``ACQ_IS_PARALLEL_CALIBRATION``: GRAPPA's calibration lines, integrated or acquired
  separately) go to their own line positions too, filling only lines that no image readout
  holds, so an accelerated scan becomes its sampled lines plus a fully sampled centre.

For array formats, ``coil_axis``, ``slice_axis`` and ``pe_axis`` (indices into the stored array,
negative allowed) override the defaults; ``pe_axis`` becomes ``W``. Singleton axes that are
neither coils nor slices are dropped; exactly two in-plane axes must remain.

3-D Cartesian k-space (kx, ky, kz and coils, in any order): ``readout_axis`` names the fully
sampled readout (frequency-encode) axis, ``coil_axis`` the coils (default: BART's COIL_DIM,
NumPy's first axis, MATLAB's last); a BART file whose READ, PHS1 and PHS2 dims are all
larger than one is 3-D with READ as the readout. The readout is inverse-FFT'd (centred,
orthonormal), so each readout position becomes one slice, a ky-kz plane that shares the scan's
2-D sampling pattern: ``(readout positions, coils, ky, kz)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kspacekit.data.layout import target_key
from kspacekit.errors import (
    HDF5_READ_ERRORS,
    KspaceKitError,
    describe_read_error,
    error_summary,
)
from kspacekit.physics.masks import count_center_lines

BART_READ_DIM = 0
BART_COIL_DIM = 3
BART_SLICE_DIM = 13
CFL_SUFFIXES = (".cfl", ".hdr")
ISMRMRD_SUFFIXES = (".h5", ".hdf5", ".mrd")
# ISMRMRD acquisition flags of readouts that are not image data (ismrmrd.constants numbering).
ISMRMRD_SKIPPED_FLAGS = (19, 23, 24, 26, 27, 28, 29, 30, 31)
ISMRMRD_REVERSE_FLAG = 22
ISMRMRD_CALIBRATION_FLAG = 20  # a reference line only (21, reference and image, is an image line)
# twix MDH flags of readouts that are not k-space lines of the image (twixtools' is_image_scan test).
TWIX_SKIPPED_FLAGS = (
    "ACQEND", "RTFEEDBACK", "HPFEEDBACK", "SYNCDATA", "REFPHASESTABSCAN", "PHASESTABSCAN", "PHASCOR",
    "NOISEADJSCAN", "noname60",
)


@dataclass(frozen=True)
class Axes:
    """Where coils, slices and the phase-encode direction sit in a stored array (None: absent/unknown)."""

    coil: int | None = None
    slice: int | None = None
    pe: int | None = None


@dataclass(frozen=True)
class Readouts:
    """Readouts of a line-by-line acquisition: ``data`` (n, coils, samples) plus counters per readout.

    ``reference`` marks parallel-imaging reference readouts (None: none): they fill only the
    (slice, line) positions that no image readout holds.
    """

    data: np.ndarray
    slice_index: np.ndarray
    line_index: np.ndarray
    center_line: int
    center_sample: int
    num_lines: int | None = None
    reference: np.ndarray | None = None


def read_raw(
    path: str | Path,
    *,
    coil_axis: int | None = None,
    slice_axis: int | None = None,
    pe_axis: int | None = None,
    key: str | None = None,
    remove_oversampling: bool = False,
    readout_axis: int | None = None,
) -> np.ndarray:
    """Read raw k-space as complex64 ``(slices, coils, H, W)``, ``W`` the phase-encode axis
    (for 3-D k-space, see the module docstring: slices are ky-kz planes).

    ``key`` names the variable of a ``.mat``/``.npz`` file (default: its only complex array).
    ``remove_oversampling`` halves the readout (twix and ISMRMRD, whose readouts are usually
    2x oversampled) by cropping the central half of the image along the readout.
    Raises :class:`KspaceKitError` naming the file for anything unreadable or ambiguous.
    """
    path = Path(path)
    user_axes = Axes(coil_axis, slice_axis, pe_axis)
    if not path.exists() and not (path.suffix in CFL_SUFFIXES and path.with_suffix(".cfl").exists()):
        raise KspaceKitError("no such file", path)
    suffix = path.suffix.lower()
    if suffix in (".dat", *ISMRMRD_SUFFIXES):
        if user_axes != Axes() or readout_axis is not None:
            raise KspaceKitError(f"{suffix} files name their own axes; drop --coil/--slice/--pe/--readout-axis", path)
        _reject_key(key, path)
        readouts = _read_twix(path) if suffix == ".dat" else _read_ismrmrd(path)
        kspace = assemble_lines(readouts, path)
        if remove_oversampling:
            kspace = remove_readout_oversampling(kspace, axis=-2)
        return kspace.astype(np.complex64)
    if remove_oversampling:
        raise KspaceKitError("--remove-oversampling applies to twix .dat and ISMRMRD files only", path)
    loaders: dict[str, Callable[[Path, str | None], tuple[np.ndarray, Axes]]] = {
        ".cfl": _read_cfl,
        ".hdr": _read_cfl,
        ".npy": _read_npy,
        ".npz": _read_npz,
        ".mat": _read_mat,
    }
    if suffix not in loaders:
        known = ", ".join([".cfl/.hdr", ".npy", ".npz", ".mat", ".dat", *ISMRMRD_SUFFIXES])
        raise KspaceKitError(f"unknown k-space format {suffix or '(no suffix)'!r}; expected one of {known}", path)
    array, default_axes = loaders[suffix](path, key)
    if not np.iscomplexobj(array):
        raise KspaceKitError(f"k-space must be complex, got {array.dtype}", path)
    if array.size == 0:
        raise KspaceKitError(f"k-space is empty, shape {array.shape}", path)
    axes = Axes(
        coil=default_axes.coil if coil_axis is None else coil_axis,
        slice=default_axes.slice if slice_axis is None else slice_axis,
        pe=default_axes.pe if pe_axis is None else pe_axis,
    )
    if readout_axis is None and suffix in CFL_SUFFIXES and user_axes == Axes() and is_3d_shape(array.shape):
        readout_axis = BART_READ_DIM
    if readout_axis is not None:  # 3-D: slices are readout positions; coils default to BART's dim, NumPy's first, MATLAB's last
        coil = coil_axis
        if coil is None and (suffix in CFL_SUFFIXES or array.ndim > 3):
            coil = {".cfl": BART_COIL_DIM, ".hdr": BART_COIL_DIM, ".mat": -1}.get(suffix, 0)
        return planes_of_3d(array, readout_axis, Axes(coil=coil, slice=slice_axis, pe=pe_axis), path)
    return np.ascontiguousarray(arrange_axes(array, axes, path), dtype=np.complex64)


def is_3d_shape(dims: Sequence[int]) -> bool:
    """BART dims whose READ, PHS1 and PHS2 are all larger than one: 3-D k-space."""
    return len(dims) > 2 and min(dims[:3]) > 1


def planes_of_3d(array: np.ndarray, readout_axis: int, axes: Axes, path: Path) -> np.ndarray:
    """3-D k-space -> complex64 ``(readout positions, coils, ky, kz)`` hybrid space (centred
    orthonormal inverse FFT along the readout), after checking that the readout is fully sampled
    wherever a ky-kz location was measured (readout samples missing at every location, e.g. a
    zero-filled asymmetric echo, are allowed)."""
    if axes.slice is not None:
        raise KspaceKitError("a 3-D volume has no slice axis: its slices are the readout positions", path)
    if not -array.ndim <= readout_axis < array.ndim:
        raise KspaceKitError(f"readout axis {readout_axis} is out of range for shape {array.shape}", path)
    kspace = arrange_axes(array, Axes(coil=axes.coil, slice=readout_axis, pe=axes.pe), path)
    sampled = (kspace != 0).any(axis=1)  # (readout, ky, kz)
    measured = sampled.any(axis=0)
    echo = sampled.any(axis=(1, 2))
    if not sampled[echo][:, measured].all():
        raise KspaceKitError(
            f"the readout axis ({readout_axis}) is itself undersampled: 3-D k-space must be fully sampled "
            "along the readout at every measured ky-kz location",
            path,
        )
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=0), axis=0, norm="ortho"), axes=0)
    return np.ascontiguousarray(hybrid * measured, dtype=np.complex64)


def arrange_axes(array: np.ndarray, axes: Axes, path: Path) -> np.ndarray:
    """Move ``array``'s axes to ``(slices, coils, H, W)`` with the phase-encode axis last."""
    ndim = array.ndim

    def normalised(axis: int | None, name: str) -> int | None:
        if axis is None:
            return None
        if not -ndim <= axis < ndim:
            raise KspaceKitError(f"{name} axis {axis} is out of range for shape {array.shape}", path)
        return axis % ndim

    coil = normalised(axes.coil, "coil")
    slice_ = normalised(axes.slice, "slice")
    pe = normalised(axes.pe, "phase-encode")
    if coil is not None and coil == slice_:
        raise KspaceKitError(f"coil and slice axes are both {coil}", path)
    in_plane = [a for a in range(ndim) if a not in (coil, slice_) and array.shape[a] > 1]
    if len(in_plane) != 2:
        raise KspaceKitError(
            f"cannot tell the two in-plane axes of shape {array.shape} (coil axis {coil}, slice axis "
            f"{slice_}); name them with --coil-axis/--slice-axis",
            path,
        )
    if pe is not None:
        if pe not in in_plane:
            raise KspaceKitError(f"phase-encode axis {pe} is not an in-plane axis of shape {array.shape}", path)
        in_plane = [a for a in in_plane if a != pe] + [pe]
    leading = [a for a in (slice_, coil) if a is not None]
    dropped = [a for a in range(ndim) if a not in leading and a not in in_plane]
    moved = np.transpose(array, dropped + leading + in_plane)
    slices = array.shape[slice_] if slice_ is not None else 1
    coils = array.shape[coil] if coil is not None else 1
    return moved.reshape(slices, coils, *moved.shape[-2:])


def cfl_dims(path: Path) -> list[int]:
    """The dims of a BART .hdr/.cfl pair, from the header's second line."""
    header, data_file = path.with_suffix(".hdr"), path.with_suffix(".cfl")
    for needed in (header, data_file):
        if not needed.exists():
            raise KspaceKitError(f"BART data needs both .hdr and .cfl; {needed.name} is missing", path)
    lines = header.read_text(errors="replace").splitlines()
    try:
        dims = [int(d) for d in lines[1].split()]
    except (IndexError, ValueError):
        raise KspaceKitError("BART .hdr must list integer dims on its second line", header) from None
    if not dims or min(dims) < 1:
        raise KspaceKitError(f"BART .hdr dims must be positive, got {dims}", header)
    return dims


def _read_cfl(path: Path, key: str | None) -> tuple[np.ndarray, Axes]:
    """BART pair: dims from the header's second line; the .cfl must hold exactly that many values."""
    _reject_key(key, path)
    data_file = path.with_suffix(".cfl")
    dims = cfl_dims(path)
    expected_bytes = int(np.prod(dims)) * np.dtype(np.complex64).itemsize
    actual_bytes = data_file.stat().st_size
    if actual_bytes != expected_bytes:
        raise KspaceKitError(
            f"size {actual_bytes} bytes does not match the .hdr dims {dims} ({expected_bytes} bytes)", data_file
        )
    array = np.fromfile(data_file, dtype=np.complex64).reshape(dims, order="F")
    coil = BART_COIL_DIM if len(dims) > BART_COIL_DIM else None
    slice_ = BART_SLICE_DIM if len(dims) > BART_SLICE_DIM and dims[BART_SLICE_DIM] > 1 else None
    return array, Axes(coil=coil, slice=slice_)


def _numpy_order_axes(ndim: int) -> Axes:
    """(H, W), (coils, H, W) or (slices, coils, H, W): the fastMRI / SigPy convention."""
    return {3: Axes(coil=0), 4: Axes(slice=0, coil=1)}.get(ndim, Axes())


def _matlab_order_axes(ndim: int) -> Axes:
    """(H, W), (H, W, coils) or (H, W, coils, slices): the usual MATLAB convention."""
    return {3: Axes(coil=2), 4: Axes(coil=2, slice=3)}.get(ndim, Axes())


def _read_npy(path: Path, key: str | None) -> tuple[np.ndarray, Axes]:
    _reject_key(key, path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise KspaceKitError(f"not a readable .npy file ({err})", path) from None
    return array, _numpy_order_axes(array.ndim)


def _read_npz(path: Path, key: str | None) -> tuple[np.ndarray, Axes]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError) as err:
        raise KspaceKitError(f"not a readable .npz file ({err})", path) from None
    array = _pick_variable(arrays, key, path)
    return array, _numpy_order_axes(array.ndim)


def _read_mat(path: Path, key: str | None) -> tuple[np.ndarray, Axes]:
    """MATLAB v5 through scipy.io; v7.3 (an HDF5 file) through h5py."""
    import h5py

    if h5py.is_hdf5(path):
        arrays = _read_mat_v73(path)
    else:
        import struct
        import zlib

        import scipy.io

        # scipy's v5 parser fails in many ways on a corrupt file (tests/test_fuzz_hdf5.py feeds it random bytes)
        corrupt = (ValueError, OSError, NotImplementedError, IndexError, KeyError, TypeError, OverflowError,
                   struct.error, zlib.error, scipy.io.matlab.MatReadError)
        try:
            contents = scipy.io.loadmat(path)
        except corrupt as err:
            raise KspaceKitError(f"not a readable MATLAB file ({error_summary(err)})", path) from None
        arrays = {name: value for name, value in contents.items() if not name.startswith("__")}
    array = _pick_variable(arrays, key, path)
    return array, _matlab_order_axes(array.ndim)


def _read_mat_v73(path: Path) -> dict[str, np.ndarray]:
    """Top-level numeric variables of a v7.3 file, complex compounds joined, in MATLAB's axis order."""
    import h5py

    arrays = {}
    try:
        with h5py.File(path, "r") as f:
            for name, item in f.items():
                if not isinstance(item, h5py.Dataset) or name.startswith("#"):
                    continue
                value = np.asarray(item[()])
                if value.dtype.names and {"real", "imag"} <= set(value.dtype.names):
                    value = value["real"] + 1j * value["imag"]
                if np.issubdtype(value.dtype, np.number):
                    arrays[name] = value.T  # HDF5 stores MATLAB's column-major dims reversed
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), path) from None
    return arrays


def _pick_variable(arrays: dict[str, np.ndarray], key: str | None, path: Path) -> np.ndarray:
    """The variable named ``key``, else the file's only complex array."""
    if key is not None:
        if key not in arrays:
            raise KspaceKitError(f"no variable {key!r}; the file holds {sorted(arrays)}", path)
        return np.asarray(arrays[key])
    complex_names = [name for name, value in arrays.items() if np.iscomplexobj(value)]
    if len(complex_names) != 1:
        raise KspaceKitError(
            f"found {len(complex_names)} complex variables among {sorted(arrays)}; name one with --key", path
        )
    return np.asarray(arrays[complex_names[0]])


def _reject_key(key: str | None, path: Path) -> None:
    if key is not None:
        raise KspaceKitError("--key applies to .mat and .npz files only", path)


def _read_twix(path: Path) -> Readouts:
    """Readouts of the last measurement of a Siemens twix file (earlier ones are adjustments)."""
    import twixtools

    try:
        measurement = twixtools.read_twix(str(path), verbose=False, parse_pmu=False, parse_geometry=False)[-1]
    except Exception as err:  # noqa: BLE001 - twixtools raises bare exceptions of many kinds on foreign files
        raise KspaceKitError(f"not a readable Siemens twix file ({type(err).__name__}: {err})", path) from None
    return twix_readouts(measurement["mdb"], path)


def twix_readouts(mdbs: Sequence[Any], path: Path) -> Readouts:
    """Image and reference readouts of one twix measurement's MDBs (twixtools ``Mdb`` records).

    Image readouts are those twixtools calls image scans (``PATREFANDIMASCAN`` lines are image
    lines that also calibrate); reference readouts carry ``PATREFSCAN`` alone, whether integrated
    between the image lines or acquired separately (then they may repeat image lines, which keep
    the image readout). Every readout keeps its line counter, so :func:`assemble_lines` puts it
    at its k-space position. Counters that cannot describe one k-space are one-line errors.
    """
    mdbs = [mdb for mdb in mdbs if not any(mdb.is_flag_set(flag) for flag in TWIX_SKIPPED_FLAGS)]
    reference = np.array([mdb.is_flag_set("PATREFSCAN") and not mdb.is_flag_set("PATREFANDIMASCAN") for mdb in mdbs])
    if reference.all():
        raise KspaceKitError("twix file holds no image readouts", path)
    _require_single(path, "partitions (3-D)", [mdb.cPar for mdb in mdbs])
    for name in ("cEco", "cRep", "cSet", "cPhs"):
        _require_single(path, name[1:].lower(), [getattr(mdb, name) for mdb in mdbs])
    centres = sorted({(int(mdb.mdh.CenterLin), int(mdb.mdh.CenterCol)) for mdb in mdbs})
    if len(centres) > 1:
        raise KspaceKitError(f"readouts disagree on the k-space centre (line, sample): {centres}; not supported", path)
    slices = np.array([mdb.cSlc for mdb in mdbs])
    orphans = sorted(set(slices[reference].tolist()) - set(slices[~reference].tolist()))
    if orphans:
        raise KspaceKitError(f"reference lines for slices {orphans} that have no image lines", path)
    data = _stack_readouts([mdb.data[..., ::-1] if mdb.is_flag_set("REFLECT") else mdb.data for mdb in mdbs], path)
    return Readouts(
        data=data,
        slice_index=slices,
        line_index=np.array([mdb.cLin for mdb in mdbs]),
        center_line=centres[0][0],
        center_sample=centres[0][1],
        reference=reference,
    )


def _read_ismrmrd(path: Path) -> Readouts:
    """Image acquisitions of an ISMRMRD dataset, positioned with the header's encoding limits."""
    import h5py
    import ismrmrd

    from kspacekit.data.header import parse_ismrmrd_header

    if not h5py.is_hdf5(path):
        raise KspaceKitError("not an HDF5 file", path)
    try:
        with h5py.File(path, "r") as f:
            if "dataset" not in f or "data" not in f["dataset"]:
                raise KspaceKitError("not an ISMRMRD file (no dataset/data inside)", path)
        with ismrmrd.Dataset(str(path), "dataset", create_if_needed=False, mode="r") as dataset:
            try:
                info = parse_ismrmrd_header(dataset.read_xml_header())
            except (LookupError, KspaceKitError):
                info = None
            acquisitions = [dataset.read_acquisition(i) for i in range(dataset.number_of_acquisitions())]
    except HDF5_READ_ERRORS as err:
        raise KspaceKitError(describe_read_error(err), path) from None
    acquisitions = [a for a in acquisitions if not any(a.is_flag_set(flag) for flag in ISMRMRD_SKIPPED_FLAGS)]
    reference = np.array([a.is_flag_set(ISMRMRD_CALIBRATION_FLAG) for a in acquisitions], bool)
    if reference.all():
        raise KspaceKitError("ISMRMRD file holds no image acquisitions", path)
    _require_single(path, "kspace_encode_step_2 values (3-D)", [a.idx.kspace_encode_step_2 for a in acquisitions])
    for name in ("contrast", "repetition", "set", "phase"):
        _require_single(path, name, [getattr(a.idx, name) for a in acquisitions])
    data = [a.data[..., ::-1] if a.is_flag_set(ISMRMRD_REVERSE_FLAG) else a.data for a in acquisitions]
    lines = np.array([a.idx.kspace_encode_step_1 for a in acquisitions])
    return Readouts(
        data=_stack_readouts(data, path),
        slice_index=np.array([a.idx.slice for a in acquisitions]),
        line_index=lines,
        center_line=info.center_line if info else int(lines.max() + 1) // 2,
        center_sample=int(acquisitions[0].center_sample),
        num_lines=info.encoded_size[1] if info else None,
        reference=reference,
    )


def _require_single(path: Path, what: str, counters: list[int]) -> None:
    if len(set(counters)) > 1:
        raise KspaceKitError(f"more than one {what} ({len(set(counters))}); not supported", path)


def _stack_readouts(readouts: list[np.ndarray], path: Path) -> np.ndarray:
    shapes = {r.shape for r in readouts}
    if len(shapes) != 1:
        raise KspaceKitError(f"readouts differ in shape {sorted(shapes)}; not supported", path)
    return np.stack(readouts)


def assemble_lines(readouts: Readouts, path: Path) -> np.ndarray:
    """Place readouts into ``(slices, coils, samples, lines)`` with the k-space centre at ``n // 2``.

    Lines missing on one side of the centre (partial Fourier, asymmetric echo) are zero-filled
    so that the echo centre and the centre line land at the array centre; repeated
    (slice, line) readouts are averaged; reference readouts are used only at (slice, line)
    positions that no image readout holds.
    """
    _, coils, samples = readouts.data.shape
    line_half = max(readouts.center_line, int(readouts.line_index.max()) + 1 - readouts.center_line)
    if readouts.num_lines is not None:
        line_half = max(line_half, readouts.num_lines // 2)
    sample_half = max(readouts.center_sample, samples - readouts.center_sample)
    line_offset = line_half - readouts.center_line
    sample_offset = sample_half - readouts.center_sample
    slice_ids, slice_index = np.unique(readouts.slice_index, return_inverse=True)
    lines = readouts.line_index + line_offset
    if lines.min() < 0:
        raise KspaceKitError("phase-encode counters lie outside the encoded matrix", path)
    reference = np.zeros(len(lines), bool) if readouts.reference is None else readouts.reference
    imaged = np.zeros((len(slice_ids), 2 * line_half), bool)
    imaged[slice_index[~reference], lines[~reference]] = True
    used = ~reference | ~imaged[slice_index, lines]
    slice_index, lines = slice_index[used], lines[used]
    counts = np.zeros((len(slice_ids), 2 * line_half))
    np.add.at(counts, (slice_index, lines), 1)
    by_line = np.zeros((len(slice_ids), 2 * line_half, coils, samples), np.complex128)
    np.add.at(by_line, (slice_index, lines), readouts.data[used])
    by_line /= np.maximum(counts, 1)[..., None, None]
    kspace = np.zeros((len(slice_ids), coils, 2 * sample_half, 2 * line_half), np.complex128)
    kspace[:, :, sample_offset : sample_offset + samples, :] = by_line.transpose(0, 2, 3, 1)
    return kspace


def remove_readout_oversampling(kspace: np.ndarray, axis: int) -> np.ndarray:
    """Halve the field of view along the readout: inverse FFT, keep the central half, FFT back.

    Unnormalised transforms both ways (as the scanner and twixtools do), so sample amplitudes
    within the kept band are unchanged.
    """
    n = kspace.shape[axis]
    if n % 2:
        raise KspaceKitError(f"cannot remove 2x oversampling from an odd readout of {n} samples")
    image = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=axis), axis=axis), axes=axis)
    kept = np.take(image, np.arange(n // 4, n // 4 + n // 2), axis=axis)
    return np.fft.fftshift(np.fft.fft(np.fft.ifftshift(kept, axes=axis), axis=axis), axes=axis)


@dataclass(frozen=True)
class DetectedSampling:
    """What the zeros of a k-space array say: the sampled (H, W) pattern and whether it is line-wise."""

    pattern: np.ndarray
    line_wise: bool

    @property
    def fully_sampled(self) -> bool:
        return self.line_wise and bool(self.columns.all())

    @property
    def columns(self) -> np.ndarray:
        """Columns (phase-encode lines) with any sample."""
        return self.pattern.any(axis=0)

    @property
    def acceleration(self) -> float:
        sampled = self.columns.sum() if self.line_wise else self.pattern.sum()
        total = self.pattern.shape[1] if self.line_wise else self.pattern.size
        return float(total / max(int(sampled), 1))

    @property
    def num_low_frequencies(self) -> int:
        """Length of the run of sampled columns around the centre column ``W // 2`` (line-wise masks)."""
        return count_center_lines(self.columns)


def detect_sampling(kspace: np.ndarray) -> DetectedSampling:
    """Sampled locations of ``(slices, coils, H, W)`` k-space (nonzero in any slice or coil).

    The sampling is line-wise when the pattern is "these columns, at these rows": the outer
    product of its sampled rows and sampled columns (rows may be missing everywhere, e.g. a
    zero-filled asymmetric echo). It is fully sampled when line-wise with every column present.
    """
    pattern = (kspace != 0).any(axis=(0, 1))
    line_wise = bool(np.array_equal(pattern, np.outer(pattern.any(axis=1), pattern.any(axis=0))))
    return DetectedSampling(pattern=pattern, line_wise=line_wise)


def convert_to_fastmri(
    source: str | Path,
    output: str | Path,
    *,
    coil_axis: int | None = None,
    slice_axis: int | None = None,
    pe_axis: int | None = None,
    key: str | None = None,
    remove_oversampling: bool = False,
    readout_axis: int | None = None,
    voxel_size: tuple[float, float, float] | None = None,
    overwrite: bool = False,
) -> tuple[Path, DetectedSampling]:
    """Convert raw k-space to one fastMRI volume file; return its path and the detected sampling.

    Multi-coil data are stored as ``kspace`` (slices, coils, H, W), single-coil data as
    (slices, H, W). Fully sampled data get the target (``reconstruction_rss``, or
    ``reconstruction_esc`` for single-coil: the magnitude of the inverse centred FFT, RSS over
    coils, uncropped) with attrs ``max``/``norm``. Undersampled data are stored as they are,
    without a target: line-wise sampling as fastMRI's 1-D ``mask`` (W,), any other pattern as
    ``mask_2d`` (H, W); attrs ``acceleration`` and ``num_low_frequency`` describe it.

    3-D k-space (``readout_axis`` given, or a BART file with READ, PHS1 and PHS2 dims) becomes one
    file whose slices are the ky-kz planes at each readout position (:func:`planes_of_3d`);
    ``voxel_size`` (readout, ky, kz in mm, 1 mm each when None) goes into its header, so that
    the reconstruction exports as one 3-D NIfTI with that geometry.
    """
    import torch

    from kspacekit.data.header import make_ismrmrd_header
    from kspacekit.data.write import write_volume
    from kspacekit.outputs import check_writable
    from kspacekit.physics.fft import ifft2c, rss

    source, output = Path(source), Path(output)
    check_writable(output, overwrite)  # fail before the (possibly slow) read
    kspace = read_raw(
        source,
        coil_axis=coil_axis,
        slice_axis=slice_axis,
        pe_axis=pe_axis,
        key=key,
        remove_oversampling=remove_oversampling,
        readout_axis=readout_axis,
    )
    volume_3d = readout_axis is not None or (
        source.suffix.lower() in CFL_SUFFIXES and coil_axis is None and pe_axis is None and slice_axis is None
        and is_3d_shape(cfl_dims(source))
    )
    if voxel_size is not None and not volume_3d:
        raise KspaceKitError("--voxel-size applies to 3-D volumes (--readout-axis) only", source)
    if not np.isfinite(kspace).all():
        raise KspaceKitError("k-space contains NaN or Inf values", source)
    if not kspace.any():
        raise KspaceKitError("k-space is all zero (no signal to convert)", source)
    sampling = detect_sampling(kspace)
    single_coil = kspace.shape[1] == 1
    stored = kspace[:, 0] if single_coil else kspace
    attrs: dict[str, object] = {"source_file": source.name, "acquisition": "converted"}
    target = None
    if sampling.fully_sampled:
        target = rss(ifft2c(torch.from_numpy(kspace)), dim=1).numpy()
    else:
        attrs["acceleration"] = sampling.acceleration
        if sampling.line_wise:
            attrs["num_low_frequency"] = sampling.num_low_frequencies  # fastMRI test files spell it so
        from kspacekit.physics.coils import check_calibration_region

        check_calibration_region(sampling.columns if sampling.line_wise else sampling.pattern, kspace.shape[-2:], source)
    mask = None if target is not None else sampling.columns if sampling.line_wise else sampling.pattern
    header = None
    if volume_3d:
        slices, coils, height, width = kspace.shape
        readout_mm, ky_mm, kz_mm = voxel_size or (1.0, 1.0, 1.0)
        attrs["volume"] = "3-D: slices are ky-kz planes at each readout position"
        header = make_ismrmrd_header(
            (height, width, slices), (height, width, slices), num_coils=coils, spacing_mm=(ky_mm, kz_mm, readout_mm)
        )
    write_volume(
        output,
        stored,
        target=target,
        target_key=target_key(multicoil=not single_coil),
        mask=mask,
        attrs=attrs,
        header=header,
        overwrite=overwrite,
    )
    return output, sampling


def parse_voxel_size(text: str) -> tuple[float, float, float]:
    """``"1,0.5,0.5"`` -> (1.0, 0.5, 0.5): three positive voxel sizes in mm (readout, ky, kz)."""
    try:
        values = tuple(float(item) for item in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise KspaceKitError(f"--voxel-size must be three positive numbers in mm (readout,ky,kz), got {text!r}")
    return values  # type: ignore[return-value]
