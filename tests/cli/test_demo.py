"""kspacekit demo: simulated brain data in, a report that says it is simulated out (tiny configuration)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli


def test_demo_writes_a_labelled_report_naming_every_method(tmp_path: Path):
    out = tmp_path / "demo"
    tiny = ["--methods", "zero-filled,unet", "--volumes", "2", "--slices", "1", "--matrix", "64", "64",
            "--coils", "4", "--device", "cpu"]
    result = run_cli("demo", "--output", str(out), *tiny, "--accelerations", "4", check_rc=0)
    assert "SIMULATED DATA" in result.stdout  # the terminal says it too
    assert "zero-filled" in result.stdout

    page = (out / "report.html").read_text()
    for text in ("zero-filled", "unet", "4x acceleration", "SIMULATED DATA", "ICBM152"):
        assert text in page
    assert page.count("SIMULATED DATA") >= 2  # at the top and at the bottom

    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["simulated"] is True
    assert results["dataset"]["volumes"] == 2 and results["dataset"]["coils"] == [4]
    assert {s["method"] for s in results["summary"]} >= {"zero-filled", "target"}
    assert sorted(p.name for p in (out / "data" / "multicoil_val").glob("*.h5")) == [
        "mni_icbm152_t1_tal_nlin_sym_09a_converted_axial.h5",
        "mni_icbm152_t1_tal_nlin_sym_09a_converted_coronal.h5",
    ]

    again = run_cli("demo", "--output", str(out), *tiny)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    run_cli("demo", "--output", str(out), "--overwrite", *tiny, "--accelerations", "8", check_rc=0)
    page = (out / "report.html").read_text()
    assert "8x acceleration" in page and "4x acceleration" not in page  # replaced, not merged
    assert not list(tmp_path.glob(".demo.*"))  # no temporary folders left behind


def test_demo_help_shows_only_the_everyday_options():
    result = run_cli("demo", "--help", check_rc=0)
    assert "--output" in result.stdout and "--overwrite" in result.stdout
    assert "--matrix" not in result.stdout  # sizing options are hidden
