"""`openkms ram …`: RAM users, their AccessKeys, groups, roles and policies of an account (the
first, or ``--account UID``), offline (for bootstrap and recovery). The same service functions
as the RAM API, so the same rules and the same RAM codes (printed on refusal, exit 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openkms.cli_offline import Opener
from openkms.domain.clock import iso
from openkms.domain.errors import DomainError
from openkms.domain.ram import (
    ACCESS_KEY_STATUSES,
    GROUP,
    POLICY_TYPES,
    ROLE,
    USER,
    MalformedPolicyDocument,
    RamError,
    role_arn,
)

if TYPE_CHECKING:
    from openkms.service.deployment import Deployment


def _document(value: str) -> str:
    """A policy document given inline, or as @FILE."""
    return Path(value[1:]).read_text() if value.startswith("@") else value


def _principal(args: argparse.Namespace) -> tuple[str, str]:
    for kind, name in ((USER, args.user), (GROUP, args.group), (ROLE, args.role)):
        if name:
            return kind, name
    raise SystemExit("openkms: name the principal with --user, --group or --role")


def run(args: argparse.Namespace, dep: Deployment) -> None:
    """Carry out one `openkms ram` command over an account of ``dep`` (``--account``, else the
    first), printing its result."""
    from openkms.service import accounts
    from openkms.service.ram import RamService
    from openkms.service.ram_policies import PolicyService

    account = args.account or dep.account_id
    if args.account and all(a.uid != account for a in accounts.list_all(dep)):
        raise SystemExit(f"openkms: no account {account} (see `openkms account list`)")
    ram, policies = RamService(dep), PolicyService(dep)
    what, verb = args.ram_what, args.ram_verb
    if what == "user":
        if verb == "create":
            u = ram.create_user(account, args.name, args.display_name or "", args.comments or "")
            print(f"{u.user_name}\t{u.user_id}")
        elif verb == "list":
            marker: str | None = None
            while True:
                page = ram.list_users(account, marker, 1000)
                for u in page.items:
                    print(f"{u.user_name}\t{u.user_id}\t{u.display_name}\t{iso(u.created)}")
                if not page.truncated:
                    break
                marker = page.marker
        elif verb == "delete":
            ram.delete_user(account, args.name)
    elif what == "access-key":
        if verb == "create":
            made = ram.create_access_key(account, args.user)
            assert made.secret is not None
            print(f"AccessKeyId:     {made.access_key_id}\nAccessKeySecret: {made.secret.reveal()}")
        elif verb == "list":
            for p in ram.list_access_keys(account, args.user):
                print(f"{p.access_key_id}\t{p.status}\t{iso(p.created)}")
        elif verb == "update":
            ram.update_access_key(account, args.user, args.access_key_id, args.status)
        elif verb == "delete":
            ram.delete_access_key(account, args.user, args.access_key_id)
    elif what == "group":
        if verb == "create":
            g = ram.create_group(account, args.name, args.comments or "")
            print(f"{g.group_name}\t{g.group_id}")
        elif verb == "list":
            for g in ram.list_groups(account, None, 1000).items:
                print(f"{g.group_name}\t{g.group_id}\t{g.comments}")
        elif verb == "delete":
            ram.delete_group(account, args.name)
        elif verb == "add-user":
            ram.add_user_to_group(account, args.name, args.user)
        elif verb == "remove-user":
            ram.remove_user_from_group(account, args.name, args.user)
    elif what == "role":
        if verb == "create":
            r = ram.create_role(
                account,
                args.name,
                _document(args.trust_policy),
                args.description or "",
                args.max_session_duration,
            )
            print(f"{r.role_name}\t{r.role_id}\t{role_arn(account, r.role_name)}")
        elif verb == "list":
            for r in ram.list_roles(account, None, 1000).items:
                print(f"{r.role_name}\t{r.role_id}\t{role_arn(account, r.role_name)}")
        elif verb == "delete":
            ram.delete_role(account, args.name)
    elif what == "policy":
        if verb == "create":
            created = policies.create_policy(
                account, args.name, _document(args.document), args.description or ""
            )
            print(f"{created.policy_name}\t{created.default_version}")
        elif verb == "list":
            found, _, _ = policies.list_policies(account, args.type, None, 1000)
            for info in found:
                print(
                    f"{info.policy_type}\t{info.policy_name}\t{info.default_version}\t{info.attachment_count}"
                )
        elif verb == "delete":
            policies.delete_policy(account, args.name, args.cascade)
        elif verb in ("attach", "detach"):
            kind, name = _principal(args)
            action = policies.attach if verb == "attach" else policies.detach
            action(account, args.type, args.name, kind, name)
        elif verb == "list-for":
            kind, name = _principal(args)
            for a in policies.policies_for(account, kind, name):
                print(f"{a.policy_type}\t{a.policy_name}\t{iso(a.attached)}")


def command(open_deployment: Opener) -> Callable[[argparse.Namespace], int]:
    def cmd_ram(args: argparse.Namespace) -> int:
        dep = open_deployment(args)
        try:
            run(args, dep)
        except RamError as exc:
            print(f"openkms: {exc.code}: {exc.detail or exc.code}", file=sys.stderr)
            return 1
        except MalformedPolicyDocument as exc:
            print(f"openkms: MalformedPolicyDocument: {exc.detail}", file=sys.stderr)
            return 1
        except DomainError as exc:
            print(f"openkms: {exc.detail or type(exc).__name__}", file=sys.stderr)
            return 1
        finally:
            dep.close()
        return 0

    return cmd_ram


# Help of the positional arguments the commands take.
_POSITIONAL_HELP = {
    "name": "the name",
    "user": "the RAM user's name",
    "access_key_id": "the AccessKeyId",
}


def add_parser(
    sub: Any, store_args: Callable[[argparse.ArgumentParser], None], open_deployment: Opener
) -> None:
    """Add `openkms ram` and its commands to the ``openkms`` parser's subcommands ``sub``."""
    ram = sub.add_parser(
        "ram", help="RAM users, AccessKeys, groups, roles and policies of an account (offline)"
    )
    what = ram.add_subparsers(dest="ram_what", required=True)
    commands: list[argparse.ArgumentParser] = []

    def verb(group: Any, name: str, text: str, *positional: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, help=text)
        for arg in positional:
            p.add_argument(arg, help=_POSITIONAL_HELP[arg])
        commands.append(p)
        return p

    user = what.add_parser("user", help="RAM users").add_subparsers(dest="ram_verb", required=True)
    p = verb(user, "create", "create a user", "name")
    p.add_argument("--display-name", help="the user's display name (default: its name)")
    p.add_argument("--comments", help="a note kept with the user")
    verb(user, "list", "list the users")
    verb(user, "delete", "delete a user (no AccessKeys, groups or policies left)", "name")

    ak = what.add_parser("access-key", help="AccessKey pairs of a user (or of the root)").add_subparsers(
        dest="ram_verb", required=True
    )
    for name, text, extra in (
        ("create", "a new pair (a user holds at most two)", ()),
        ("list", "the pairs", ()),
        ("update", "set a pair's status", ("access_key_id",)),
        ("delete", "delete a pair", ("access_key_id",)),
    ):
        p = verb(ak, name, text, *extra)
        p.add_argument("--user", help="the RAM user (default: the account's root)")
        if name == "update":
            p.add_argument("--status", required=True, choices=ACCESS_KEY_STATUSES, help="the new status")

    group = what.add_parser("group", help="groups").add_subparsers(dest="ram_verb", required=True)
    verb(group, "create", "create a group", "name").add_argument(
        "--comments", help="a note kept with the group"
    )
    verb(group, "list", "list the groups")
    verb(group, "delete", "delete a group (no members or policies left)", "name")
    verb(group, "add-user", "add a user to a group", "name", "user")
    verb(group, "remove-user", "remove a user from a group", "name", "user")

    role = what.add_parser("role", help="roles").add_subparsers(dest="ram_verb", required=True)
    p = verb(role, "create", "create a role", "name")
    p.add_argument("--trust-policy", required=True, help="the trust policy: JSON, or @FILE")
    p.add_argument("--description", help="a note kept with the role")
    p.add_argument(
        "--max-session-duration", type=int, help="seconds an assumed session of the role may last at most"
    )
    verb(role, "list", "list the roles")
    verb(role, "delete", "delete a role (no policies left)", "name")

    policy = what.add_parser("policy", help="custom and system policies").add_subparsers(
        dest="ram_verb", required=True
    )
    p = verb(policy, "create", "create a custom policy", "name")
    p.add_argument("--document", required=True, help="the policy document: JSON, or @FILE")
    p.add_argument("--description", help="a note kept with the policy")
    verb(policy, "list", "list the policies").add_argument(
        "--type", choices=POLICY_TYPES, help="only the policies of this type"
    )
    verb(policy, "delete", "delete a custom policy", "name").add_argument(
        "--cascade", action="store_true", help="detach it and delete its versions too"
    )
    for name, text in (
        ("attach", "attach a policy"),
        ("detach", "detach a policy"),
        ("list-for", "the policies of a user, group or role"),
    ):
        p = verb(policy, name, text, *(("name",) if name != "list-for" else ()))
        if name != "list-for":
            p.add_argument("--type", required=True, choices=POLICY_TYPES, help="the policy's type")
        p.add_argument("--user", help="the RAM user")
        p.add_argument("--group", help="the group")
        p.add_argument("--role", help="the role")

    for p in commands:
        store_args(p)
        p.add_argument("--account", help="the account's uid (default: the first account, init's)")
    ram.set_defaults(func=command(open_deployment))
