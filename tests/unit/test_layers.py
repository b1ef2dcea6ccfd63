"""Imports follow the layer table of docs/architecture.md, read from that page: the table is
written once, and this test holds the code to it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "openkms"
TABLE = ROOT / "docs" / "architecture.md"


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([\w.]+)`", cell))


def _table() -> dict[str, tuple[set[str], set[str]]]:
    """unit (``server``, ``service``, ...) -> (openkms units it may import, what it never imports)."""
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        unit = cells[0].strip("`").removesuffix("/").removesuffix(".py")
        rows[unit] = (_names(cells[2]), _names(cells[3]))
    return rows


def _units() -> list[str]:
    return sorted(
        p.name.removesuffix(".py")
        for p in SRC.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")
    )


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, openkms ones without the ``openkms.`` prefix."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            found.add(name.removeprefix("openkms.") if name.startswith("openkms.") else name)
    return found - {"openkms"}


def _modules(unit: str) -> list[Path]:
    package = SRC / unit
    return sorted(package.rglob("*.py")) if package.is_dir() else [SRC / f"{unit}.py"]


def test_every_unit_is_in_the_table() -> None:
    assert _units() == sorted(_table())


@pytest.mark.parametrize("unit", _units())
def test_imports_follow_the_table(unit: str) -> None:
    allowed, never = _table()[unit]
    units = set(_units())
    for module in _modules(unit):
        imported = _imports(module)
        used = {name.split(".")[0] for name in imported if name.split(".")[0] in units} - {unit}
        assert used <= allowed, f"{module.relative_to(SRC)} imports {sorted(used - allowed)}"
        banned = sorted(n for n in imported for rule in never if n == rule or n.startswith(rule + "."))
        assert not banned, f"{module.relative_to(SRC)} imports {banned}"


def test_the_table_can_fail() -> None:
    """The rules are read as written: a row that forbids sqlalchemy catches an import of it."""
    _, never = _table()["service"]
    assert {"sqlalchemy", "store.schema"} <= never
    assert "crypto" not in _table()["domain"][0]


@pytest.mark.parametrize("package", [u for u in _units() if (SRC / u).is_dir()])
def test_every_package_states_its_exports(package: str) -> None:
    """Each package's ``__init__`` says what it exports (``__all__``), and every name is there."""
    tree = ast.parse((SRC / package / "__init__.py").read_text())
    exported = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
    ]
    assert exported, f"{package}/__init__.py has no __all__"
    names = ast.literal_eval(exported[0])
    for name in names:
        defined = (SRC / package / f"{name}.py").exists() or (SRC / package / name).is_dir()
        defined = defined or name in (SRC / package / "__init__.py").read_text()
        assert defined, f"{package}.__all__ names {name}, which is not there"
