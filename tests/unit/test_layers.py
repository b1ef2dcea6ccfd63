"""Imports point down the layer table of DESIGN.md: no layer reaches back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "openkms"

# package -> openkms packages it must never import
FORBIDDEN = {
    "wire": {"api", "service", "store", "rootkey", "crypto", "domain", "jobs", "server", "cli", "auth"},
    "domain": {"wire", "api", "service", "store", "rootkey", "crypto", "jobs", "server", "cli", "auth"},
    "crypto": {"wire", "api", "service", "store", "rootkey", "jobs", "server", "cli", "auth"},
    "rootkey": {"wire", "api", "service", "store", "jobs", "server", "cli", "auth"},
    "store": {"wire", "api", "service", "rootkey", "jobs", "server", "cli", "auth"},
    "service": {"wire", "api", "server", "cli"},
    "api": {"server", "cli", "store"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("openkms."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("openkms."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer: str) -> None:
    """Modules of each layer import nothing from the layers above them."""
    for module in (SRC / layer).rglob("*.py"):
        bad = _imports(module) & FORBIDDEN[layer]
        assert set() == bad, f"{module.relative_to(SRC)} imports {sorted(bad)}"
