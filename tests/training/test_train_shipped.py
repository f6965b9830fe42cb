"""benchmarks/train_shipped.py --card-only: the model card's table is rebuilt from the shipped
weight files alone (no training), and matches the committed MODEL_CARD.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import write_train_file

from kspacekit.methods.learned import WEIGHTS_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_shipped.py"


def table_rows(card: str) -> list[str]:
    """The rows of the card's file table, one per shipped weight file."""
    return [line for line in card.splitlines() if line.startswith("| `")]


def test_card_only_rebuilds_the_committed_table_without_training(tmp_path: Path):
    data = tmp_path / "data"
    for split in ("multicoil_train", "multicoil_val"):
        write_train_file(data / split / "volume.h5", slices=2)
    out = tmp_path / "weights"
    out.mkdir()
    for weights in WEIGHTS_DIR.glob("*.pt"):
        (out / weights.name).symlink_to(weights)
    result = subprocess.run([sys.executable, str(SCRIPT), str(data), "--card-only", "--out", str(out),
                             "--runs", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "runs").exists()
    card = (out / "MODEL_CARD.md").read_text()
    assert "Validation data: 1 volumes, 2 slices." in card
    committed = table_rows((WEIGHTS_DIR / "MODEL_CARD.md").read_text())
    assert len(committed) == len(list(WEIGHTS_DIR.glob("*.pt"))) and table_rows(card) == committed
