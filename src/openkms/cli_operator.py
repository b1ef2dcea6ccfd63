"""`openkms operator seal|unseal|status`: talk to the running node's processes through their
admin sockets (admin.py) in the data directory. Every worker process holds its own keyring, so
each command visits every socket; a socket nothing listens on (a killed process left it) is
reported and skipped.

`openkms operator rekey|rotate-root|migrate-root` work on the deployment itself, in this process
(service/rekey.py): rekey and rotate-root while the servers serve, migrate-root with them stopped.

Unseal reads the passphrase, or one share, from ``--passphrase-file`` / ``--share-file`` or a
prompt that does not echo; it is never a flag's value (argv is visible to every user).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openkms import admin
from openkms.config import Settings

__all__ = ["add_parser", "on_step"]


def on_step(step: str) -> None:
    """Told each step of rekey, rotate-root and migrate-root once it committed (a test replaces
    it to stop the process there)."""


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


def _ask(args: argparse.Namespace) -> Callable[[str], str]:
    """Where the current root's passphrase or shares come from: the files given, else prompts."""
    files: list[Path] = [*([args.passphrase_file] if args.passphrase_file else []), *(args.share_file or [])]

    def ask(prompt: str) -> str:
        if files:
            return files.pop(0).read_text(encoding="utf-8").rstrip("\r\n")
        return getpass.getpass(prompt)

    return ask


def _bar(done: int, total: int) -> None:
    width = 40
    filled = width if total == 0 else width * done // total
    bar = "#" * filled + " " * (width - filled)
    print(f"\rre-wrapping [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)


def _show_shares(shares: list[str]) -> None:
    if shares:
        print("the new unseal shares (shown once; the old ones stop working once this says done):")
        for n, share in enumerate(shares, 1):
            print(f"share {n}: {share}")
        sys.stdout.flush()


def _serving(data_dir: Path) -> bool:
    """Whether an openkms process serves this data directory: an admin socket answers, or
    (Linux) another process holds the embedded database open. Other nodes of a PostgreSQL
    deployment cannot be seen from here (docs/root-of-trust.md)."""
    for path in admin.sockets(data_dir):
        try:
            admin.request(path, "status", timeout=5.0)
        except OSError:
            continue
        return True
    database = (data_dir / "openkms.db").resolve()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        if fd_dir.parent.name == str(os.getpid()):
            continue
        try:
            if any(os.readlink(fd) == str(database) for fd in fd_dir.iterdir()):
                return True
        except OSError:
            continue
    return False


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """rekey, rotate-root, migrate-root."""
    from dataclasses import replace

    from openkms.service import rekey
    from openkms.service.deployment import StartupError, open_deployment
    from openkms.service.roots import InitRequest

    if args.op == "migrate-root" and _serving(settings.data_dir):
        print("openkms: migrate-root is offline: stop every openkms process first", file=sys.stderr)
        return 1
    nxt = settings.root_key_path.with_name(settings.root_key_path.name + rekey.NEXT_SUFFIX)
    try:
        dep = open_deployment(settings)
    except StartupError as exc:
        if args.op == "rotate-root" and nxt.exists():
            # A file rotation that switched the database but not yet the file: finish it.
            try:
                dep = open_deployment(replace(settings, root_key_file=nxt))
            except StartupError:
                print(f"openkms: {exc}", file=sys.stderr)
                return 1
            dep.close()
            os.replace(nxt, settings.root_key_path)
            print(f"the rotation that stopped was finished: {settings.root_key_path} is the new root key")
            return 0
        print(f"openkms: {exc}", file=sys.stderr)
        return 1
    try:
        root = rekey.unlock(dep, _ask(args))
        if args.op == "rekey":
            return _rekey(args, dep, root)
        request = InitRequest(
            passphrase=(
                args.new_passphrase_file.read_bytes().rstrip(b"\r\n") if args.new_passphrase_file else None
            ),
            shares=args.shares,
            threshold=args.threshold,
        )
        if args.op == "rotate-root":
            rekey.rotate_root(dep, root, request, show=_show_shares, hook=on_step)
            print("done: the KEKs are wrapped under the new root")
        elif rekey.migrate_root(dep, root, args.to, request, show=_show_shares, hook=on_step):
            print(f"done: the deployment's root of trust is the {args.to} provider")
        else:
            print(f"openkms: the root is already the {args.to} provider: use rotate-root", file=sys.stderr)
            return 1
        return 0
    except rekey.RekeyRefused as exc:
        print(f"\nopenkms: {exc}", file=sys.stderr)
        return 1
    except (OSError, EOFError) as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 2
    finally:
        dep.close()


def _rekey(args: argparse.Namespace, dep: Any, root: Any) -> int:
    from openkms.service import rekey
    from openkms.service.context import build_services

    services = build_services(dep)
    try:
        if not args.retire_only:
            services.audit.system("RekeyStarted", "", {})
            done = rekey.rekey(
                dep,
                root,
                batch=args.batch,
                settle=args.settle,
                hook=on_step,
                progress=_bar if sys.stderr.isatty() and not args.quiet else None,
            )
            if sys.stderr.isatty() and not args.quiet:
                print(file=sys.stderr)
            services.audit.system(
                "RekeyFinished",
                "",
                {},
                KekVersion=done.target,
                Rewrapped=done.rewrapped,
                Unreadable=len(done.unreadable),
            )
            print(f"done: KEK version {done.target} is current; {done.rewrapped} rows re-wrapped")
            if done.unreadable:
                left = ", ".join(done.unreadable)
                print(f"openkms: rows that do not unwrap were left: {left}", file=sys.stderr)
                return 1
        if args.retire or args.retire_only:
            gone = rekey.retire(dep, hook=on_step)
            services.audit.system("KekRetired", "", {}, KekVersions=gone)
            print(f"retired KEK versions: {', '.join(map(str, gone)) or 'none'}")
        return 0
    finally:
        services.audit.close()


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
    for name, text in (
        ("rekey", "a new key-encryption key; re-wrap every wrapped row under it, online"),
        ("rotate-root", "re-wrap the key-encryption keys under a new root of the same provider"),
        ("migrate-root", "move the deployment to another root-of-trust provider (servers stopped)"),
    ):
        p = op_sub.add_parser(name, help=text)
        store_args(p)
        p.add_argument("--passphrase-file", type=Path, help="the current root's passphrase (else a prompt)")
        p.add_argument(
            "--share-file", type=Path, action="append", help="a current share (once each; else prompts)"
        )
        if name == "rekey":
            p.add_argument("--batch", type=int, default=200, help="rows re-wrapped per transaction (200)")
            p.add_argument(
                "--settle",
                type=float,
                default=15.0,
                help="seconds after the switch before an empty pass ends it (15)",
            )
            p.add_argument("--retire", action="store_true", help="then delete the old KEKs")
            p.add_argument("--retire-only", action="store_true", help="only delete the old KEKs")
            p.add_argument("--quiet", action="store_true", help="no progress bar")
        else:
            p.add_argument("--new-passphrase-file", type=Path, help="the new root's passphrase (passphrase)")
            p.add_argument("--shares", type=int, default=5, help="shamir: how many new shares (5)")
            p.add_argument("--threshold", type=int, default=3, help="shamir: how many unseal (3)")
        if name == "migrate-root":
            p.add_argument("--to", required=True, help="file, passphrase, shamir or pkcs11")
        p.set_defaults(func=lambda a: cmd_keys(a, settings(a)))
