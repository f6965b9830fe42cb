"""Benchmark reports: one self-contained HTML page, results.json, results.csv and a terminal table;
and the drivers of ``kspacekit benchmark`` and ``demo`` (:func:`benchmark_report`, :func:`demo_report`).

The HTML page embeds its figures as base64 PNGs and has no external resources, so it can be
mailed or archived as one file. Figures are drawn with matplotlib's object API on the Agg
canvas (no pyplot state, no display needed). A few lines of inline script mark any image that
fails to decode and record ``data-images-loaded="N/M"`` on the page (the tests read it).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kspacekit.errors import KspaceKitError
from kspacekit.evaluation.benchmark import (
    NOISE_FLOOR,
    REFERENCE,
    BenchmarkConfig,
    BenchmarkResult,
    Example,
    Summary,
    describe_dataset,
    example_ssim,
    plan_benchmark,
    run_benchmark,
)
from kspacekit.outputs import atomic_directory, atomic_path
from kspacekit.runtime import progress_bar

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure
    from rich.console import Console

ERROR_GAIN = 5
"""Error maps show |reconstruction - target| times this, on the images' grey scale."""
CSV_COLUMNS = (
    "method", "acceleration", "draw", "file", "slices", "ssim", "psnr", "nmse", "dc_residual",
    "seconds", "seconds_per_slice", "steps", "reconstruction",
)
# (key, heading, format, higher is better) of the table columns
TABLE_METRICS = (
    ("ssim", "SSIM ↑", ".4f", True),
    ("psnr", "PSNR (dB) ↑", ".2f", True),
    ("nmse", "NMSE ↓", ".4f", False),
    ("dc_residual", "DC residual", ".4f", None),
)
FLOORS = (REFERENCE, NOISE_FLOOR)
FLOOR_LABELS = {REFERENCE: "target (reference)", NOISE_FLOOR: "noise floor (no reference)"}
NO_REFERENCE_NOTE = (
    "NO REFERENCE EXISTS for these data: they were acquired undersampled and no fully sampled "
    "target is available, so no SSIM, PSNR or NMSE can be computed. Judge the methods by their "
    "images (one grey scale), their data-consistency residual against the noise floor estimated "
    "from the data, and their time."
)
SIMULATED_BANNER = (
    "SIMULATED DATA. The k-space in this report was simulated from magnitude images (coil "
    "sensitivities, smooth phase and noise were synthesised). These numbers are not results "
    "on real MRI k-space and must not be reported as such."
)


# ---------------------------------------------------------------------------------------------
# Numbers as text.


def mean_std(summary: Summary, key: str, fmt: str, separator: str = " ± ") -> str:
    """``mean ± std`` (the std only when there were at least two values)."""
    mean, std = summary.mean.get(key), summary.std.get(key)
    if mean is None:
        return "n/a"
    return f"{mean:{fmt}}" if std is None else f"{mean:{fmt}}{separator}{std:{fmt}}"


def _best(summaries: Sequence[Summary], key: str, higher: bool | None) -> float | None:
    values = [s.mean[key] for s in summaries if s.method not in FLOORS and s.mean.get(key) is not None]
    if higher is None or len(values) < 2:
        return None
    return max(values) if higher else min(values)  # type: ignore[type-var]


def _seconds(summary: Summary) -> str:
    return "" if summary.seconds_per_slice is None else f"{summary.seconds_per_slice:.3g}"


def _steps(summary: Summary) -> str:
    return "" if summary.steps is None else f"{summary.steps:.3g}"


def _has_steps(summaries: Sequence[Summary]) -> bool:
    """Whether any method reported fitting steps (the steps column is shown only then)."""
    return any(s.steps is not None for s in summaries)


def _unavailable_reasons(result: BenchmarkResult, acceleration: float) -> dict[str, str]:
    return {m: reason for (m, a), reason in result.unavailable.items() if a == acceleration}


def _metrics_with_values(summaries: Sequence[Summary]) -> list[tuple[str, str, str, bool | None]]:
    """The columns of :data:`TABLE_METRICS` that any summary has a value for (without a reference:
    only the data-consistency residual)."""
    return [m for m in TABLE_METRICS if any(s.mean.get(m[0]) is not None for s in summaries)]


# ---------------------------------------------------------------------------------------------
# Figures.


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _show(axes, image: np.ndarray, title: str, vmax: float | None = None) -> None:
    axes.imshow(image, cmap="gray", vmin=0 if vmax is not None else None, vmax=vmax, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()


def example_figure(result: BenchmarkResult, acceleration: float) -> bytes:
    """Target, mask and log k-space on top; each method's reconstruction and x5 error map below.

    Images and error maps share one grey scale, 0 to the target volume's max. Without a target:
    mask and log k-space on top, the reconstructions below on one grey scale (0 to the largest
    of their maxima), no error maps.
    """
    from matplotlib.figure import Figure

    example: Example = result.examples[acceleration]
    methods = result.methods
    columns = max(3, len(methods))
    reference = example.target is not None
    height, width = next(iter(example.images.values()), example.mask).shape if not reference else example.target.shape
    rows = 3 if reference else 2
    panel = 2.0
    figure = Figure(figsize=(panel * columns * width / height + 0.2, panel * rows + 0.6), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat:
        axes.set_axis_off()
    if reference:
        vmax = example.data_range
        _show(grid[0, 0], example.target, "target", vmax)
    else:
        vmax = max((float(image.max()) for image in example.images.values()), default=1.0)
        grid[0, 0].text(0.5, 0.5, "no reference\nexists", ha="center", va="center", fontsize=10)
    _show(grid[0, 1], example.mask, f"mask ({acceleration:g}x)", 1.0)
    _show(grid[0, 2], example.log_kspace, "measured k-space (log)")
    reasons = _unavailable_reasons(result, acceleration)
    for column, method in enumerate(methods):
        image = example.images.get(method)
        if image is None:
            why = "unavailable" if method in reasons else "not run"
            grid[1, column].text(0.5, 0.5, f"{method}\n{why}", ha="center", va="center", fontsize=9, wrap=True)
            continue
        if not reference:
            _show(grid[1, column], image, method, vmax)
            continue
        _show(grid[1, column], image, f"{method}\nSSIM {example_ssim(example, image):.3f}", vmax)
        _show(grid[2, column], np.abs(image - example.target) * ERROR_GAIN, f"error x{ERROR_GAIN}", vmax)
    figure.suptitle(f"{acceleration:g}x: {example.file}, slice {example.slice_index}", fontsize=10)
    return _png(figure)


def metrics_figure(result: BenchmarkResult) -> bytes:
    """SSIM, PSNR, NMSE and data-consistency residual against acceleration, one line per method."""
    from matplotlib.figure import Figure

    summaries = result.summaries()
    metrics = _metrics_with_values(summaries)
    figure = Figure(figsize=(3.25 * len(metrics) + 1.0, 3.4), layout="constrained")
    panels = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axes, (key, heading, _, _) in zip(panels, metrics, strict=True):
        for method in [*result.methods, *FLOORS]:
            rows = [s for s in summaries if s.method == method and s.mean.get(key) is not None]
            if not rows:
                continue
            x = [s.acceleration for s in rows]
            y = [s.mean[key] for s in rows]
            err = [s.std[key] or 0.0 for s in rows]
            style = {"linestyle": "--", "color": "black"} if method in FLOORS else {"marker": "o"}
            axes.errorbar(x, y, yerr=err, label=method, capsize=3, **style)
        axes.set_title(heading, fontsize=10)
        axes.set_xlabel("acceleration")
        axes.set_xticks(result.accelerations, [f"{a:g}x" for a in result.accelerations])
        axes.grid(alpha=0.3)
    handles, labels = panels[0].get_legend_handles_labels()
    handles_dc, labels_dc = panels[-1].get_legend_handles_labels()
    extra = [(h, l) for h, l in zip(handles_dc, labels_dc, strict=True) if l not in labels]
    figure.legend(handles + [h for h, _ in extra], labels + [l for _, l in extra], loc="outside right center", fontsize=9)
    return _png(figure)


# ---------------------------------------------------------------------------------------------
# HTML.

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.unavailable { color: #a00; text-align: left; }
tr.reference td { color: #555; font-style: italic; }
.banner { background: #fff3cd; border: 2px solid #d39e00; padding: 0.8em 1em; font-weight: bold; }
.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0 1.5em; }
img.broken { outline: 3px solid red; min-height: 2em; }
dt { font-weight: bold; margin-top: 0.5em; }
"""

_IMAGE_CHECK = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  images.forEach(function (i) { if (loaded.indexOf(i) < 0) { i.className += " broken"; } });
  document.documentElement.setAttribute("data-images-loaded", loaded.length + "/" + images.length);
});
"""

_DEFINITIONS = f"""
<dl>
<dt>SSIM, PSNR, NMSE</dt>
<dd>fastMRI's definitions (<code>fastmri.evaluate</code>), per volume, on the centred square crop
fastMRI scores: NMSE = ||target − x||² / ||target||²; PSNR = 10 log10(R² / MSE) and SSIM
(7×7 window, K1 = 0.01, K2 = 0.03) with data range R = the target volume's maximum. The tables
give the mean ± sample standard deviation over volumes and mask draws.</dd>
<dt>DC residual (data consistency)</dt>
<dd>How well a reconstruction agrees with the k-space samples that were actually measured:
||M F (S e<sup>iφ</sup> x) − y|| / ||y|| over the volume, with y the measured samples, M the
mask and F the centred FFT. A magnitude image x has no phase, so every reconstruction is
projected with one model estimated from the measured data alone: ESPIRiT coil maps S from the
calibration (fully sampled centre) region and φ, the phase of the low-resolution calibration
image (with one coil, S = 1). The <i>target (reference)</i> row is the target's own residual:
the floor set by noise (the root-sum-of-squares target carries a noise bias) and by the model
(phase finer than the calibration region, map errors, signal outside the cropped target).
Without a target, the <i>noise floor</i> row is the residual the measurement noise alone would
leave, sqrt(n σ²) / ||y|| over the n measured samples, with σ estimated from the outermost
measured k-space (the median modulus there over sqrt(ln 2)).
A residual well above that floor means the reconstruction disagrees with the measurements,
e.g. it added, removed or moved structure. It is not a quality score: smoothing costs little
(the measured energy sits at the k-space centre), and structure placed only where k-space was
not measured cannot be seen by any such check; the error maps and the metrics show those.</dd>
<dt>Seconds per slice</dt>
<dd>Wall time of the method's reconstruction calls (batches of slices, model loading on first
use included) divided by the number of slices, on the device listed below.</dd>
<dt>Steps</dt>
<dd>For methods that fit each slice (e.g. scan-learned): the mean number of fitting steps per
slice; shown only when such a method ran.</dd>
<dt>Images</dt>
<dd>One slice (the middle slice of the first volume, first mask draw). Target, reconstructions
and error maps (|x − target| × {ERROR_GAIN}) share one grey scale from 0 to the target volume's
maximum; the k-space panel shows log10 of the coil-combined magnitude of the measured samples.</dd>
</dl>
"""


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table(result: BenchmarkResult, acceleration: float) -> str:
    summaries = [s for s in result.summaries() if s.acceleration == acceleration]
    metrics = _metrics_with_values(summaries)
    best = {key: _best(summaries, key, higher) for key, _, _, higher in metrics}
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _, _ in metrics)
    steps = _has_steps(summaries)
    rows = [f"<tr><th>Method</th>{head}<th>s / slice</th>{'<th>steps</th>' if steps else ''}<th>n</th></tr>"]
    reasons = _unavailable_reasons(result, acceleration)
    by_method = {s.method: s for s in summaries}
    for method in [*result.methods, *FLOORS]:
        if method in reasons:
            rows.append(
                f'<tr><td>{html.escape(method)}</td><td class="unavailable" colspan="{len(metrics) + 2 + steps}">'
                f"unavailable: {html.escape(reasons[method])}</td></tr>"
            )
            continue
        summary = by_method.get(method)
        if summary is None:
            continue
        cells = []
        for key, _, fmt, _ in metrics:
            text = "" if method in FLOORS and key != "dc_residual" else html.escape(mean_std(summary, key, fmt))
            is_best = best[key] is not None and summary.mean.get(key) == best[key] and method not in FLOORS
            cells.append(f"<td><b>{text}</b></td>" if is_best else f"<td>{text}</td>")
        label = FLOOR_LABELS.get(method, method)
        css = ' class="reference"' if method in FLOORS else ""
        steps_cell = f"<td>{_steps(summary)}</td>" if steps else ""
        rows.append(
            f"<tr{css}><td>{html.escape(label)}</td>{''.join(cells)}<td>{_seconds(summary)}</td>{steps_cell}"
            f"<td>{summary.count}</td></tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _dataset_section(result: BenchmarkResult, description: str | None) -> str:
    data = result.dataset
    items = [
        ("data", data.get("path", "")),
        ("volumes", f"{data.get('volumes')} ({data.get('slices')} slices)"),
        ("coils", ", ".join(map(str, data.get("coils", [])))),
        ("k-space size", ", ".join(data.get("kspace_sizes", []))),
        ("image size", ", ".join(data.get("target_sizes", []))),
        ("acquisition", ", ".join(data.get("acquisitions", []))),
        ("simulated", "yes" if data.get("simulated") else ("some files" if data.get("simulated_files") else "no")),
        ("reference", data.get("reference", "target")),
    ]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    text = f"<p>{html.escape(description)}</p>" if description else ""
    return f"{text}<table>{rows}</table>"


def render_html(result: BenchmarkResult, title: str, description: str | None = None) -> str:
    """The whole report as one HTML string with embedded figures."""
    simulated = bool(result.dataset.get("simulated") or result.dataset.get("simulated_files"))
    banner = f'<p class="banner">{html.escape(SIMULATED_BANNER)}</p>' if simulated else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        banner,
        "" if result.has_reference else f'<p class="banner">{html.escape(NO_REFERENCE_NOTE)}</p>',
        "<h2>Data</h2>",
        _dataset_section(result, description),
        "<h2>Results</h2>",
    ]
    for acceleration in result.accelerations:
        parts.append(f"<h3>{acceleration:g}x acceleration</h3>")
        parts.append(f'<p class="note">{html.escape(result.sampling.get(acceleration, ""))}</p>')
        parts.append(_table(result, acceleration))
    if result.scores:
        parts.append("<h2>Metrics against acceleration</h2>")
        parts.append(_image(metrics_figure(result), "SSIM, PSNR, NMSE and DC residual against acceleration"))
    parts.append("<h2>Images</h2>")
    for acceleration in result.accelerations:
        if acceleration in result.examples:
            parts.append(f"<h3>{acceleration:g}x</h3>")
            parts.append(_image(example_figure(result, acceleration), f"reconstructions at {acceleration:g}x"))
    parts.append("<h2>Definitions</h2>")
    parts.append(_DEFINITIONS)
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    environment = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in result.environment.items()
    )
    parts.append(f"<h2>Environment</h2><table>{environment}</table>")
    parts.append('<p class="note">Per-volume numbers: results.csv and results.json beside this file; '
                 "reconstructions: reconstructions/&lt;method&gt;/&lt;acceleration&gt;/mask&lt;draw&gt;/.</p>")
    parts.append(f"{banner}<script>{_IMAGE_CHECK}</script></body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Files and terminal.


def results_csv(result: BenchmarkResult) -> str:
    """One row per method, acceleration, mask draw and volume."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for score in result.scores:
        values = {
            **{c: getattr(score, c, None) for c in CSV_COLUMNS},
            "seconds_per_slice": score.seconds_per_slice,
        }
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def write_report(result: BenchmarkResult, folder: Path, title: str, description: str | None = None) -> Path:
    """Write ``report.html``, ``results.json`` and ``results.csv`` into ``folder`` (each atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    outputs = {
        "results.json": json.dumps(result.to_json(), indent=2),
        "results.csv": results_csv(result),
        "report.html": render_html(result, title, description),
    }
    for name, text in outputs.items():
        with atomic_path(folder / name, overwrite=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return folder / "report.html"


def print_summary(result: BenchmarkResult, console: Console) -> None:
    """The results tables in the terminal (rich), one per acceleration, with the simulated-data warning.

    Numbers are shorter than in the HTML tables; reasons for unavailable methods follow as notes.
    """
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    formats = {"ssim": ".3f", "psnr": ".2f", "nmse": ".4f", "dc_residual": ".3f"}
    headings = {"ssim": "SSIM↑", "psnr": "PSNR dB↑", "nmse": "NMSE↓", "dc_residual": "DC resid."}
    notes: dict[str, int] = {}
    summaries = result.summaries()
    for acceleration in result.accelerations:
        title = f"{acceleration:g}x: {result.sampling.get(acceleration, '')}"
        table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        by_method = {s.method: s for s in summaries if s.acceleration == acceleration}
        metrics = _metrics_with_values(list(by_method.values()))
        table.add_column("method", no_wrap=True)
        for key, _, _, _ in metrics:
            table.add_column(headings[key], justify="right", no_wrap=True)
        table.add_column("s/slice", justify="right", no_wrap=True)
        steps = _has_steps(list(by_method.values()))
        if steps:
            table.add_column("steps", justify="right", no_wrap=True)
        reasons = _unavailable_reasons(result, acceleration)
        for method in [*result.methods, *FLOORS]:
            if method in reasons:
                note = notes.setdefault(reasons[method], len(notes) + 1)
                table.add_row(method, f"[red]n/a, note {note}[/red]")
            elif method in FLOORS and method in by_method:
                floor = mean_std(by_method[method], "dc_residual", formats["dc_residual"], "±")
                table.add_row(FLOOR_LABELS[method], *[""] * (len(metrics) - 1), floor)
            elif method in by_method:
                summary = by_method[method]
                cells = [mean_std(summary, key, formats[key], "±") for key, _, _, _ in metrics]
                table.add_row(method, *cells, _seconds(summary), *([_steps(summary)] if steps else []))
        console.print(table)
    for reason, number in notes.items():
        console.print(f"note {number}: {escape(reason)}", highlight=False)
    if not result.has_reference:
        console.print(f"[bold]{NO_REFERENCE_NOTE}[/bold]")
    if result.dataset.get("simulated") or result.dataset.get("simulated_files"):
        console.print(f"[bold yellow]{SIMULATED_BANNER}[/bold yellow]")


# ---------------------------------------------------------------------------------------------
# The drivers behind `kspacekit benchmark` and `kspacekit demo`: plan, run, write the report.

DEMO_ORIENTATIONS = ("axial", "coronal", "sagittal")


def is_benchmark_output(folder: Path) -> bool:
    """A folder an earlier benchmark or demo wrote (so --overwrite may replace it)."""
    return (folder / "results.json").is_file()


def benchmark_report(
    data: Path,
    output: Path,
    config: BenchmarkConfig,
    *,
    targets: Path | None = None,
    device: torch.device,
    title: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
    console: Console | None = None,
) -> BenchmarkResult:
    """Benchmark the volumes in ``data`` and write report.html, results.json, results.csv and the
    reconstructions into ``output`` (put in place only when everything succeeded; an existing
    folder is replaced only with ``overwrite`` and only if an earlier benchmark wrote it)."""
    if output.resolve() in (data.resolve(), *data.resolve().parents):
        raise KspaceKitError("the data lie inside the output folder; choose another output", output)
    with atomic_directory(output, overwrite, is_benchmark_output) as folder:
        return _benchmark_into(
            folder, data, config, data_label=data, targets=targets, device=device,
            title=title or f"kspacekit benchmark: {data.name}", description=None, command=command, console=console,
        )


def demo_report(
    output: Path,
    config: BenchmarkConfig,
    *,
    volumes: int = 3,
    slices: int = 3,
    matrix: tuple[int, int] = (192, 160),
    coils: int = 8,
    snr: float = 30.0,
    device: torch.device,
    overwrite: bool = False,
    command: str | None = None,
    console: Console | None = None,
) -> BenchmarkResult:
    """Simulate a small multi-coil brain dataset from the built-in template into ``output/data``
    and benchmark it into ``output``; the report says at its top and bottom that the data are simulated."""
    from kspacekit.simulation.datasets import simulate_dataset
    from kspacekit.simulation.template import builtin_brain_volume

    if not 1 <= volumes <= len(DEMO_ORIENTATIONS):
        raise KspaceKitError(f"--volumes must be 1 to {len(DEMO_ORIENTATIONS)}, got {volumes}")
    source = builtin_brain_volume()
    orientations = DEMO_ORIENTATIONS[:volumes]
    description = (
        f"k-space SIMULATED with kspacekit.simulation.datasets from the ICBM152 2009a T1 template (an average of many "
        f"real T1 scans, shipped in the nilearn package): {volumes} volume(s) ({', '.join(orientations)} "
        f"slices) of {slices} slice(s), {coils} simulated loop coils, smooth random phase, complex Gaussian "
        f"noise at SNR {snr:g}, matrix {matrix[0]}x{matrix[1]}. The simulated data are in data/ beside this report."
    )
    with atomic_directory(output, overwrite, is_benchmark_output) as folder:
        if console is not None:
            console.print(f"simulating {volumes * slices} slices from {source.name}")
        simulate_dataset(
            [source], folder / "data", coils=coils, shape=matrix, snr=snr, slices_per_volume=slices,
            orientations=orientations, split=(0.0, 1.0, 0.0), seed=0, device=device,
        )
        return _benchmark_into(
            folder, folder / "data" / "multicoil_val", config, data_label=output / "data" / "multicoil_val",
            targets=None, device=device, title="kspacekit demo (simulated data)", description=description,
            command=command, console=console,
        )


def _benchmark_into(
    folder: Path,
    data: Path,
    config: BenchmarkConfig,
    *,
    data_label: Path,
    targets: Path | None,
    device: torch.device,
    title: str,
    description: str | None,
    command: str | None,
    console: Console | None,
) -> BenchmarkResult:
    """Plan, run (with a progress bar per method) and write the report into ``folder``."""
    volumes = plan_benchmark(data, config, targets)
    dataset = describe_dataset(volumes, data_label)
    slices = sum(v.info.num_slices * len(v.samplings) for v in volumes)
    if console is not None:
        counts = f"{len(volumes)} volume{'s' * (len(volumes) != 1)}, {dataset['slices']} slice{'s' * (dataset['slices'] != 1)}"
        console.print(f"benchmarking {len(config.methods)} methods on {counts}, on {device}")
    with progress_bar() as progress:
        tasks = {method: progress.add_task(method, total=slices) for method in config.methods}
        result = run_benchmark(
            volumes, config, folder, dataset=dataset, device=device,
            on_slices=lambda method, n: progress.advance(tasks[method], n),
        )
    if command is not None:
        result.environment["command"] = command
    write_report(result, folder, title, description)
    return result
