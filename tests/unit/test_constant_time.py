"""Static check: MACs, signatures, digests and checksums are compared with
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
    # A slot of the nonce table against the claim's keyed digest of (AccessKeyId, nonce): a
    # nonce is no secret (it travels in clear), and the digest's key never meets the caller.
    ("store/nonce_table.py", "found == digest"),
}
# Whole modules that never see attacker input: the start-up known-answer tests.
ALLOWED_MODULES = {"crypto/selftest.py"}


def _public(node: ast.expr) -> bool:
    """An operand that cannot hold a secret: a literal, an ALL_CAPS constant, a len() call, or a
    SQLAlchemy column (``table.c.name == value`` builds SQL; it compares nothing in Python)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "c":
        return True
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = node.id if isinstance(node, ast.Name) else node.attr
        return name.isupper()
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


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
        is_equality = (
            isinstance(node, ast.Compare)
            and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
            and not any(_public(operand) for operand in [node.left, *node.comparators])
        )
        if is_equality and (_words(_names(node)) | context) & SECRETISH:
            out.append(ast.unparse(node))
        for child in ast.iter_child_nodes(node):
            visit(child, context)

    visit(ast.parse(source), set())
    return out


def test_the_check_sees_an_equality_on_a_signature() -> None:
    """The scanner flags `given == expected_signature`, `mac != tag` and `a == b` inside
    `signatures_equal`, and not a constant-time compare nor a length or constant check."""
    assert equality_on_secrets(
        "if given == expected_signature:\n    pass\nok = mac != tag\nhmac.compare_digest(a, b)\n"
        "def signatures_equal(a, b):\n    return a == b\n"
        "ok = len(digest) != DIGEST_LEN or signature == 1 or mac == TAG_MAC or t.c.mac == mac\n"
    ) == ["given == expected_signature", "mac != tag", "a == b"]


def test_no_equality_on_macs_or_signatures_in_src() -> None:
    """No module of openkms compares a signature, MAC, digest or checksum with == or !=."""
    found = {
        (str(path.relative_to(SRC)), text)
        for path in SRC.rglob("*.py")
        if str(path.relative_to(SRC)) not in ALLOWED_MODULES
        for text in equality_on_secrets(path.read_text())
    }
    assert set() == found - ALLOWED
