"""`openkms operator seal|unseal|status`: talk to the running node's processes through their
admin sockets (admin.py) in the data directory. Every worker process holds its own keyring, so
each command visits every socket; a socket nothing listens on (a killed process left it) is
reported and skipped.

Unseal reads the passphrase, or one share, from ``--passphrase-file`` / ``--share-file`` or a
prompt that does not echo; it is never a flag's value (argv is visible to every user).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openkms import admin
from openkms.config import Settings

__all__ = ["add_parser"]


def _visit(data_dir: Path, op: str, material: str | None = None) -> list[dict[str, Any]]:
    answers = []
    for path in admin.sockets(data_dir):
        try:
            answers.append(admin.request(path, op, material))
        except OSError as exc:
            print(
                f"openkms: {path.name}: no process answers ({exc.strerror or exc}); skipped", file=sys.stderr
            )
    return answers


def _show(answers: list[dict[str, Any]]) -> bool:
    for a in answers:
        state = "sealed" if a.get("Sealed") else "unsealed"
        extra = (
            f", shares {a['Progress']} of {a['Threshold']}"
            if a.get("Sealed") and a.get("Threshold", 0) > 1
            else ""
        )
        print(f"process {a.get('Pid')}: {state} ({a.get('Provider')}{extra}): {a.get('Message')}")
    return all(a.get("Ok") for a in answers)


def _material(args: argparse.Namespace, provider: str) -> str:
    source: Path | None = args.passphrase_file if provider == "passphrase" else args.share_file
    if source is not None:
        return source.read_text(encoding="utf-8").rstrip("\r\n")
    prompt = "passphrase: " if provider == "passphrase" else "share (okshare1-...): "
    return getpass.getpass(prompt)


def cmd_operator(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = settings.data_dir
    if not admin.sockets(data_dir):
        print(f"openkms: no running openkms process has an admin socket in {data_dir}", file=sys.stderr)
        return 1
    if args.op in ("status", "seal"):
        answers = _visit(data_dir, args.op)
        return 0 if answers and _show(answers) else 1
    status = _visit(data_dir, "status")
    if not status:
        return 1
    provider = str(status[0].get("Provider"))
    if provider not in ("passphrase", "shamir", "kms"):
        print(f"openkms: the {provider} root of trust has nothing to unseal", file=sys.stderr)
        return 1
    if all(not a.get("Sealed") for a in status):
        return 0 if _show(status) else 1
    try:
        # kms: no input; each process asks the upstream KMS at once.
        material = "" if provider == "kms" else _material(args, provider)
    except OSError as exc:
        print(f"openkms: cannot read it: {exc.strerror}", file=sys.stderr)
        return 2
    answers = _visit(data_dir, "unseal", material)
    return 0 if answers and _show(answers) else 1


def add_parser(
    sub: Any,
    store_args: Callable[[argparse.ArgumentParser], None],
    settings: Callable[[argparse.Namespace], Settings],
) -> None:
    """Add `openkms operator` to the ``openkms`` parser's subcommands."""
    op = sub.add_parser("operator", help="seal, unseal or inspect the running node (its admin sockets)")
    op_sub = op.add_subparsers(dest="op", required=True)
    for name, text in (
        ("status", "each process: sealed or not, shares given so far"),
        ("seal", "seal every process: drop the keyring and every unwrapped key"),
        ("unseal", "give the passphrase, or one share, to every process"),
    ):
        p = op_sub.add_parser(name, help=text)
        store_args(p)
        if name == "unseal":
            p.add_argument(
                "--passphrase-file", type=Path, help="read the passphrase from this file (else a prompt)"
            )
            p.add_argument("--share-file", type=Path, help="read one share from this file (else a prompt)")
        p.set_defaults(func=lambda a: cmd_operator(a, settings(a)))
