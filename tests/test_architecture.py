"""The rooms of docs/architecture.md, enforced: each room imports only from the rooms before it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kspacekit"

ROOMS = ("physics", "optim", "data", "simulation", "models", "methods", "pipeline", "evaluation", "training", "cli")
"""The layers in import order: a room may import from the rooms before it, never after."""

CROSS_CUTTING = ("errors", "outputs", "runtime")
"""Top-level modules every room may use (they import no room)."""

ALIASES = ("masks", "metrics")
"""Top-level aliases kept for users' old import paths; nothing inside the package uses them."""


def _module_room(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "kspacekit" else [])
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        rooms |= {name.split(".")[1] for name in names if name.startswith("kspacekit.")}
    return rooms


def test_every_module_lives_in_a_room() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")} - {f"{m}.py" for m in CROSS_CUTTING + ALIASES}
    assert loose <= {"__init__.py", "__main__.py"}, f"modules outside the rooms: {sorted(loose)}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(ROOMS), f"rooms on disk {sorted(folders)} differ from {sorted(ROOMS)}"


@pytest.mark.parametrize("room", ROOMS + CROSS_CUTTING)
def test_room_imports_only_earlier_rooms(room: str) -> None:
    allowed = set(CROSS_CUTTING) | set(ROOMS[: ROOMS.index(room)] if room in ROOMS else ())
    allowed.add(room)
    if room in CROSS_CUTTING:
        allowed = {"errors", room}
    files = sorted((PACKAGE / room).rglob("*.py")) if room in ROOMS else [PACKAGE / f"{room}.py"]
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(_imported_rooms(path) - allowed)
        for path in files
        if _imported_rooms(path) - allowed
    }
    assert not wrong, f"imports against the layer order {ROOMS}: {wrong}"


def test_test_files_have_distinct_names() -> None:
    """tests/ has no __init__.py files, so pytest imports each test file by its base name: two files
    with one name in different folders make the whole collection fail."""
    tests = Path(__file__).resolve().parent
    names = [path.name for path in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_architecture_doc_names_every_module() -> None:
    """docs/architecture.md is the map of the package: every module is named in it."""
    doc = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text()
    modules = [p for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__")]
    assert sorted(str(p.relative_to(PACKAGE)) for p in modules if f"`{p.stem}`" not in doc) == []
