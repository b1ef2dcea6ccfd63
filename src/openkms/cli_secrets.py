"""`openkms secret-target …`: the servers an account's managed secrets rotate on, offline.

A target is a database or Redis server reached at a DSN that names no account; its admin
account is held in a Generic secret of the same account, named by ``--admin-secret`` (a
credential never travels as a flag, where shell history and process lists would keep it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openkms.cli_offline import Opener, command
from openkms.domain.clock import iso
from openkms.domain.rotation import TARGET_TYPES

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment


def run(args: argparse.Namespace, dep: Deployment) -> None:
    """Carry out one `openkms secret-target` command over an account of ``dep``."""
    from openkms.service.context import build_services

    services = build_services(dep)
    try:
        rotation = services.rotation
        account = args.account or dep.account_id
        if args.target_verb == "create":
            made = rotation.create_target(account, args.name, args.type, args.dsn, args.admin_secret)
            print(f"{made.name}\t{made.target_type}\t{made.dsn}\tadmin secret {made.admin_secret}")
        elif args.target_verb == "list":
            for t in rotation.list_targets(account):
                print(f"{t.name}\t{t.target_type}\t{t.dsn}\t{t.admin_secret}\t{iso(t.create_time)}")
        elif args.target_verb == "delete":
            rotation.delete_target(account, args.name)
    finally:
        services.audit.close()


def add_parser(
    sub: Any, store_args: Callable[[argparse.ArgumentParser], None], open_deployment: Opener
) -> None:
    """Add `openkms secret-target` and its commands to the ``openkms`` parser's subcommands."""
    target = sub.add_parser("secret-target", help="servers managed secrets rotate on (offline)")
    verbs = target.add_subparsers(dest="target_verb", required=True)
    create = verbs.add_parser("create", help="register a target")
    create.add_argument("name", help="the target's name (a managed secret's DBInstanceId or InstanceId)")
    create.add_argument("--type", required=True, choices=TARGET_TYPES, help="the kind of server")
    create.add_argument(
        "--dsn",
        required=True,
        help="where it is: postgresql://host:port/dbname or redis://host:port (no account)",
    )
    create.add_argument(
        "--admin-secret",
        required=True,
        help='a Generic secret of the account holding {"AccountName":…,"AccountPassword":…} of the admin',
    )
    listing = verbs.add_parser("list", help="the account's targets")
    delete = verbs.add_parser("delete", help="remove a target no managed secret names")
    delete.add_argument("name", help="the target's name")
    for p in (create, listing, delete):
        store_args(p)
        p.add_argument("--account", help="the account's uid (default: the first account, init's)")
    target.set_defaults(func=command(run, open_deployment))
