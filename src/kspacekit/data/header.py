"""The ISMRMRD XML header of fastMRI files: write a minimal valid one, read what fastMRI reads.

fastMRI stores the scanner's ISMRMRD header as the dataset ``ismrmrd_header``. Its
``SliceDataset`` reads four things from it: the encoded matrix size, the recon matrix size
(whose ``(x, y)`` is the crop size of the evaluated image), and the phase-encode limits
(``kspace_encoding_step_1`` centre and maximum), from which it derives the zero-padded
k-space columns: ``padding_left = encoded_y // 2 - center`` and
``padding_right = padding_left + maximum + 1``. Columns outside ``[padding_left,
padding_right)`` were never acquired, so masks must leave them at zero.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as etree
from dataclasses import dataclass

from kspacekit.errors import KspaceKitError

ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"
GYROMAGNETIC_RATIO_HZ_PER_T = 42.577478518e6
DEFAULT_FIELD_STRENGTH_T = 3.0  # only for the schema-required resonance frequency


@dataclass(frozen=True)
class HeaderInfo:
    """What kspacekit and fastMRI use from an ISMRMRD header.

    ``encoded_size`` and ``recon_size`` are ``(x, y, z)``: x runs along k-space rows (readout,
    the H axis of fastMRI arrays), y along columns (phase encodes, the W axis).
    """

    encoded_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    padding_left: int
    padding_right: int
    center_line: int
    max_line: int
    num_coils: int | None = None
    field_strength_t: float | None = None
    vendor: str | None = None


def _sub(parent: etree.Element, tag: str, text: object | None = None) -> etree.Element:
    child = etree.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def _encoding_space(
    parent: etree.Element, tag: str, size: tuple[int, int, int], spacing_mm: tuple[float, float, float] | None
) -> None:
    """A matrix size and its field of view: ``spacing_mm`` per sample, or 1 mm when the voxel size is unknown."""
    space = _sub(parent, tag)
    matrix = _sub(space, "matrixSize")
    fov = _sub(space, "fieldOfView_mm")
    for axis, n, step in zip("xyz", size, spacing_mm or (1.0, 1.0, 1.0), strict=True):
        _sub(matrix, axis, int(n))
        _sub(fov, axis, float(n) * float(step))


def make_ismrmrd_header(
    encoded_size: tuple[int, int, int],
    recon_size: tuple[int, int, int],
    *,
    center_line: int | None = None,
    max_line: int | None = None,
    num_coils: int | None = None,
    field_strength_t: float | None = None,
    vendor: str = "kspacekit",
    spacing_mm: tuple[float, float, float] | None = None,
) -> str:
    """A minimal schema-valid ISMRMRD header for k-space of encoded size ``(H, W, 1)`` (``(H, W,
    slices)`` for the ky-kz planes of a 3-D scan); ``spacing_mm``: the (row, column, slice) voxel
    size, 1 mm each when None.

    ``center_line`` and ``max_line`` are the k-space centre column and last acquired column
    (``kspace_encoding_step_1`` limits); the defaults ``W // 2`` and ``W - 1`` mean "all
    columns acquired, no padding", which is what fastMRI then derives.
    """
    width = int(encoded_size[1])
    center_line = width // 2 if center_line is None else int(center_line)
    max_line = width - 1 if max_line is None else int(max_line)
    padding_left = width // 2 - center_line
    if not 0 <= center_line <= max_line or padding_left < 0 or padding_left + max_line + 1 > width:
        raise KspaceKitError(
            f"phase-encode limits center={center_line}, maximum={max_line} do not fit {width} columns"
        )

    root = etree.Element("ismrmrdHeader", xmlns=ISMRMRD_NAMESPACE)  # children inherit it
    system = _sub(root, "acquisitionSystemInformation")
    _sub(system, "systemVendor", vendor)
    if field_strength_t is not None:
        _sub(system, "systemFieldStrength_T", float(field_strength_t))
    if num_coils is not None:
        _sub(system, "receiverChannels", int(num_coils))
    conditions = _sub(root, "experimentalConditions")
    field = DEFAULT_FIELD_STRENGTH_T if field_strength_t is None else float(field_strength_t)
    _sub(conditions, "H1resonanceFrequency_Hz", round(GYROMAGNETIC_RATIO_HZ_PER_T * field))

    encoding = _sub(root, "encoding")
    _encoding_space(encoding, "encodedSpace", encoded_size, spacing_mm)
    _encoding_space(encoding, "reconSpace", recon_size, spacing_mm)
    limits = _sub(encoding, "encodingLimits")
    step1 = _sub(limits, "kspace_encoding_step_1")
    _sub(step1, "minimum", 0)
    _sub(step1, "maximum", max_line)
    _sub(step1, "center", center_line)
    _sub(encoding, "trajectory", "cartesian")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="unicode")


def _find(root: etree.Element, path: str) -> etree.Element | None:
    """First ``a//b//c`` below the root (fastMRI's et_query search), tags in the ISMRMRD namespace
    or in none: the one walk of the header XML that parsing and export both use."""
    return root.find("." + "".join(f"//{{*}}{tag}" for tag in path.split("/")))


def _int(root: etree.Element, path: str) -> int:
    element = _find(root, path)
    if element is None or element.text is None:
        raise KspaceKitError(f"ISMRMRD header has no {path}")
    try:
        return int(element.text.strip())
    except ValueError:
        raise KspaceKitError(f"ISMRMRD header {path} is not an integer: {element.text!r}") from None


def _optional_text(root: etree.Element, path: str) -> str | None:
    element = _find(root, path)
    return None if element is None or element.text is None else element.text.strip()


def _size(root: etree.Element, space: str) -> tuple[int, int, int]:
    x, y, z = (_int(root, f"encoding/{space}/matrixSize/{axis}") for axis in "xyz")
    return x, y, z


def header_spacing(xml: bytes | str) -> tuple[float, float, float] | None:
    """(row, col, slice) spacing in mm from the recon space of an ISMRMRD header (field of view /
    matrix size along x, y, z), None when the header is unreadable or lacks a positive one."""
    try:
        root = etree.fromstring(xml)
    except etree.ParseError:
        return None
    spacing = []
    for axis in "xyz":
        fov, matrix = (_optional_text(root, f"reconSpace/{field}/{axis}") for field in ("fieldOfView_mm", "matrixSize"))
        try:
            value = float(fov) / float(matrix)  # type: ignore[arg-type]
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if not math.isfinite(value) or value <= 0:
            return None
        spacing.append(value)
    return spacing[0], spacing[1], spacing[2]


def parse_ismrmrd_header(xml: bytes | str) -> HeaderInfo:
    """Read sizes and padding from an ISMRMRD header exactly as fastMRI's SliceDataset does.

    Raises KspaceKitError (without a path; callers add it) when the XML is malformed or
    lacks a field fastMRI needs.
    """
    try:
        root = etree.fromstring(xml)
    except etree.ParseError as err:
        raise KspaceKitError(f"ISMRMRD header is not valid XML ({err})") from None
    encoded_size = _size(root, "encodedSpace")
    center_line = _int(root, "encoding/encodingLimits/kspace_encoding_step_1/center")
    max_line = _int(root, "encoding/encodingLimits/kspace_encoding_step_1/maximum")
    padding_left = encoded_size[1] // 2 - center_line
    coils = _optional_text(root, "acquisitionSystemInformation/receiverChannels")
    field = _optional_text(root, "acquisitionSystemInformation/systemFieldStrength_T")
    return HeaderInfo(
        encoded_size=encoded_size,
        recon_size=_size(root, "reconSpace"),
        padding_left=padding_left,
        padding_right=padding_left + max_line + 1,
        center_line=center_line,
        max_line=max_line,
        num_coils=int(coils) if coils is not None else None,
        field_strength_t=float(field) if field is not None else None,
        vendor=_optional_text(root, "acquisitionSystemInformation/systemVendor"),
    )
