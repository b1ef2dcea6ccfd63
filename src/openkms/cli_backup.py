"""`openkms backup` and `openkms restore`: an online snapshot of the embedded deployment into
one file, and that file back into a new data directory (service.backup). The passphrase that
seals the root key (``--include-root``) comes from ``OPENKMS_BACKUP_PASSPHRASE``, else a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from openkms.config import Settings

__all__ = ["add_parser"]

PASSPHRASE_ENV = "OPENKMS_BACKUP_PASSPHRASE"  # noqa: S105 (a variable's name)
# A passphrase shorter than this is refused when sealing (scrypt slows guessing, it cannot make
# a short passphrase strong).
MIN_PASSPHRASE = 12


def _passphrase(confirm: bool) -> str:
    """The passphrase from the environment, else asked on the terminal (twice when sealing)."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    if not sys.stdin.isatty():
        raise SystemExit(f"openkms: set {PASSPHRASE_ENV} or run on a terminal to give the passphrase")
    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise SystemExit("openkms: the passphrases differ")
    return first


def _progress(copied: int, total: int) -> None:
    width = 30
    done = width * copied // total if total else width
    bar = "#" * done + "." * (width - done)
    print(f"\r[{bar}] {copied}/{total} pages", end="", file=sys.stderr, flush=True)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from openkms.service.backup import BackupError, backup

    passphrase = None
    if args.include_root:
        passphrase = _passphrase(confirm=True)
        if len(passphrase) < MIN_PASSPHRASE:
            print(
                f"openkms: the passphrase must have at least {MIN_PASSPHRASE} characters",
                file=sys.stderr,
            )
            return 2
    try:
        manifest = backup(settings, args.out, passphrase=passphrase, progress=_progress)
    except BackupError as exc:
        print(f"\nopenkms: backup failed: {exc}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    for name, value in asdict(manifest).items():
        print(f"{name}: {value}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from openkms.service.backup import BackupError, restore

    try:
        manifest = restore(
            args.file,
            args.data_dir,
            root_key_file=args.root_key_file,
            passphrase=lambda: _passphrase(confirm=False),
        )
    except BackupError as exc:
        print(f"openkms: restore refused: {exc}", file=sys.stderr)
        return 1
    root = args.root_key_file or args.data_dir / "root.key"
    print(
        f"openkms: restored {manifest.keys} keys of {manifest.accounts} accounts "
        f"(backup of {manifest.created}) into {args.data_dir}; root key {root}"
    )
    return 0


def add_parser(
    sub: Any,
    store_args: Callable[[argparse.ArgumentParser], None],
    settings: Callable[[argparse.Namespace], Settings],
) -> None:
    """Add `openkms backup` and `openkms restore` to the ``openkms`` parser's subcommands."""
    b = sub.add_parser(
        "backup",
        help="write a consistent snapshot of the embedded database (while it serves) and a "
        "manifest into one file; PostgreSQL: pg_dump (docs/deployment.md)",
    )
    b.add_argument("--out", type=Path, required=True, help="the backup file to create (never overwritten)")
    b.add_argument(
        "--include-root",
        action="store_true",
        help=f"put the root key in, sealed under a passphrase ({PASSPHRASE_ENV}, else prompted)",
    )
    store_args(b)
    b.set_defaults(func=lambda a: cmd_backup(a, settings(a)))

    r = sub.add_parser(
        "restore",
        help="restore a backup into a new, empty data directory; the root key is --root-key-file "
        f"or the one sealed in the backup ({PASSPHRASE_ENV}, else prompted)",
    )
    r.add_argument("file", type=Path, help="the backup file")
    r.add_argument(
        "--data-dir", type=Path, required=True, help="the data directory to create (absent or empty)"
    )
    r.add_argument(
        "--root-key-file",
        type=Path,
        help="the root key the backup was made under (it stays where it is: serve with the same flag)",
    )
    r.set_defaults(func=cmd_restore)
