"""`openkms instance …`: an account's KMS instances, offline.

Buying an instance is outside Alibaba's API, so making one is a command of the deployment's
operator. An instance is usable (keys and secrets can be made in it) once connected: on Alibaba
after ConnectKmsInstance, here at creation unless ``--no-connect`` leaves it ``Uninitialized``
for a ConnectKmsInstance call to finish.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openkms.cli_offline import Opener, command
from openkms.domain.clock import iso
from openkms.domain.instance import DEFAULT_KEY_NUM, DEFAULT_SECRET_NUM, DEFAULT_SPEC, DEFAULT_VPC_NUM, SPECS

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment


def run(args: argparse.Namespace, dep: Deployment) -> None:
    """Carry out one `openkms instance` command over an account of ``dep``."""
    from openkms.service import accounts
    from openkms.service.caches import CacheBounds, Caches
    from openkms.service.instances import InstanceService

    account = args.account or dep.account_id
    if args.account and all(a.uid != account for a in accounts.list_all(dep)):
        raise SystemExit(f"openkms: no account {account} (see `openkms account list`)")
    instances = InstanceService(dep, Caches(None, CacheBounds()))
    if args.instance_verb == "create":
        made = instances.create_instance(
            account,
            args.name,
            spec=args.spec,
            key_num=args.key_num,
            secret_num=args.secret_num,
            vpc_num=args.vpc_num,
            connect=args.connect,
        )
        print(f"{made.instance_id}\t{made.instance_name}\t{made.status}")
    elif args.instance_verb == "list":
        for i in instances.all_instances(account):
            print(
                f"{i.instance_id}\t{i.instance_name}\t{i.status}\tspec {i.spec}\t"
                f"keys {i.key_num}\tsecrets {i.secret_num}\t{iso(i.create_time)}"
            )


def add_parser(
    sub: Any, store_args: Callable[[argparse.ArgumentParser], None], open_deployment: Opener
) -> None:
    """Add `openkms instance` and its commands to the ``openkms`` parser's subcommands."""
    instance = sub.add_parser("instance", help="KMS instances of an account (offline)")
    verbs = instance.add_subparsers(dest="instance_verb", required=True)
    create = verbs.add_parser("create", help="make a KMS instance (connected unless --no-connect)")
    create.add_argument("--name", required=True, help="the instance's name (1-128 characters)")
    create.add_argument(
        "--spec", type=int, default=DEFAULT_SPEC, choices=SPECS, help="computing performance (QPS tier)"
    )
    create.add_argument("--key-num", type=int, default=DEFAULT_KEY_NUM, help="key quota (1-100000)")
    create.add_argument("--secret-num", type=int, default=DEFAULT_SECRET_NUM, help="secret quota (0-100000)")
    create.add_argument(
        "--vpc-num", type=int, default=DEFAULT_VPC_NUM, help="quota of VPCs bound to it (1-100)"
    )
    create.add_argument(
        "--connect",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="usable at once (default); --no-connect leaves it Uninitialized until ConnectKmsInstance",
    )
    listing = verbs.add_parser("list", help="the account's instances")
    for p in (create, listing):
        store_args(p)
        p.add_argument("--account", help="the account's uid (default: the first account, init's)")
    instance.set_defaults(func=command(run, open_deployment))
