"""`openkms audit …`: check the trail's chains, export events as JSON lines for a SIEM, follow
new events, find the events that carry a value, and prune what was exported (docs/audit.md).
Offline over the deployment's database, with its root of trust (the chains' keys)."""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openkms.cli_offline import Opener

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment

POLL_SECONDS = 1.0


def _when(text: str) -> float:
    """A time given as epoch seconds or UTC ``YYYY-MM-DDThh:mm:ssZ`` (or a date)."""
    try:
        return float(text)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a time (epoch seconds or YYYY-MM-DDThh:mm:ssZ)")


def _verify(args: argparse.Namespace, dep: Deployment) -> int:
    from openkms.service.audit import verify

    def progress(n: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{n} events checked", end="", file=sys.stderr, flush=True)

    chains, checked, findings = verify(dep, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for finding in findings:
        print(f"BROKEN {finding}")
    verdict = "intact" if not findings else f"{len(findings)} problem(s)"
    print(f"openkms: {chains} chain(s), {checked} event(s) checked: {verdict}")
    return 0 if not findings else 2


def _export(args: argparse.Namespace, dep: Deployment) -> int:
    from openkms.service.audit import export

    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    count = 0
    try:
        for record in export(
            dep, since=args.since, until=args.until, account_uid=args.account, key_id=args.key
        ):
            out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"openkms: {count} event(s) exported", file=sys.stderr)
    return 0


def _tail(args: argparse.Namespace, dep: Deployment) -> int:
    """The last ``-n`` events, then (with ``-f``) every new one as it is written."""
    from openkms.service.audit import follow

    try:
        for record in follow(dep, last=args.n, forever=args.follow, poll=POLL_SECONDS):
            print(json.dumps(record, separators=(",", ":"), ensure_ascii=False), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def _hash(args: argparse.Namespace, dep: Deployment) -> int:
    from openkms.service.audit import value_hashes

    for digest in value_hashes(dep, args.value):
        print(digest)
    return 0


def _prune(args: argparse.Namespace, dep: Deployment) -> int:
    from openkms.service.audit import prune

    removed = prune(dep, before=args.before, archive=args.archive)
    print(f"openkms: {removed} event(s) archived in {args.archive} and pruned")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Deployment], int]] = {
    "verify": _verify,
    "export": _export,
    "tail": _tail,
    "hash": _hash,
    "prune": _prune,
}


def add_parser(
    sub: Any, store_args: Callable[[argparse.ArgumentParser], None], open_deployment: Opener
) -> None:
    """Add `openkms audit` and its commands to the ``openkms`` parser's subcommands ``sub``."""
    audit = sub.add_parser("audit", help="the audit trail: verify, export, tail, hash, prune (offline)")
    verbs = audit.add_subparsers(dest="audit_command", required=True)
    p = verbs.add_parser(
        "verify", help="check every chain; name the first broken, missing or reordered event"
    )
    store_args(p)
    p = verbs.add_parser("export", help="events as JSON lines (one object per event), oldest first")
    p.add_argument("--since", type=_when, help="from this time (epoch seconds or YYYY-MM-DDThh:mm:ssZ)")
    p.add_argument("--until", type=_when, help="before this time")
    p.add_argument("--account", help="only events of this account uid")
    p.add_argument("--key", help="only events that reference this key id")
    p.add_argument("--out", help="write to this file instead of standard output")
    store_args(p)
    p = verbs.add_parser("tail", help="the last events; -f follows new ones")
    p.add_argument("-n", type=int, default=10, help="how many of the last events to print first")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing events as they are written")
    store_args(p)
    p = verbs.add_parser(
        "hash", help="what a sensitive value is recorded as (hmac-sha256:…), to search for it"
    )
    p.add_argument("value", help="the value (an EncryptionContext value, a ciphertext, …)")
    store_args(p)
    p = verbs.add_parser(
        "prune", help="delete events older than a time, after `openkms audit export` has archived them"
    )
    p.add_argument("--before", type=_when, required=True, help="events before this time go")
    p.add_argument(
        "--archive", type=Path, required=True, help="a new file that receives the pruned events first"
    )
    store_args(p)

    def run(args: argparse.Namespace) -> int:
        dep = open_deployment(args)
        try:
            return COMMANDS[args.audit_command](args, dep)
        finally:
            dep.close()

    audit.set_defaults(func=run)
