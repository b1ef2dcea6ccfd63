"""Static check (security.md S9): MACs, signatures, digests and checksums are compared with
``hmac.compare_digest`` (via ``signing.signatures_equal``), never with ``==`` or ``!=``, whose
early exit leaks how many leading characters matched."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).parents[1].parent / "src" / "openkms"
SECRETISH = {"signature", "sig", "mac", "hmac", "digest", "checksum", "fingerprint"}
# (file, comparison) pairs that are allowed, each with the reason.
ALLOWED = {
    # The root fingerprint is stored in clear in the database; comparing it at start-up leaks nothing.
    ("service/deployment.py", "stored != root.fingerprint"),
}


def _names(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
    return found


def _words(names: set[str]) -> set[str]:
    return {w.lower().rstrip("s") for name in names for w in re.split(r"_|(?<=[a-z])(?=[A-Z])", name)}


def equality_on_secrets(source: str) -> list[str]:
    """The ``==``/``!=`` comparisons in ``source`` with an operand named like a MAC or signature,
    or inside a function so named (``def signatures_equal(a, b): return a == b``)."""
    out = []

    def visit(node: ast.AST, context: set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            context = context | _words({node.name})
        is_equality = isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
        if is_equality and (_words(_names(node)) | context) & SECRETISH:
            out.append(ast.unparse(node))
        for child in ast.iter_child_nodes(node):
            visit(child, context)

    visit(ast.parse(source), set())
    return out


def test_the_check_sees_an_equality_on_a_signature() -> None:
    """The scanner flags `given == expected_signature`, `mac != tag` and `a == b` inside
    `signatures_equal`, and not a constant-time compare."""
    assert equality_on_secrets(
        "if given == expected_signature:\n    pass\nok = mac != tag\nhmac.compare_digest(a, b)\n"
        "def signatures_equal(a, b):\n    return a == b\n"
    ) == ["given == expected_signature", "mac != tag", "a == b"]


def test_no_equality_on_macs_or_signatures_in_src() -> None:
    """No module of openkms compares a signature, MAC, digest or checksum with == or !=."""
    found = {
        (str(path.relative_to(SRC)), text)
        for path in SRC.rglob("*.py")
        for text in equality_on_secrets(path.read_text())
    }
    assert set() == found - ALLOWED
